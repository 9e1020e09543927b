"""The sandbox's terminal output: one line per request or WebSocket event, function output prefixed.

Three promises:
- Request text never drives the terminal: every line is passed through `escape()`, so an ESC from
  `%1b` in a URL, any other C0/C1 control or a bidi override is printed as `\\x1b`, `\\u202e`, ...
- A reader that stops reading never stops the sandbox: lines go to a bounded queue that a writer
  thread empties into the output's file descriptor; when it holds `QUEUE_BYTES`, lines are dropped and,
  once the reader catches up, one line says how many.
- A handler's Powertools JSON line reads as one line on a terminal (time, function, level, message,
  correlation id, other keys; an exception's traceback below it), and stays raw JSON when the output
  is not a terminal or with `--json-logs`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections import deque
from typing import TextIO

QUEUE_BYTES = 1024 * 1024  # text waiting for a slow reader before new lines are dropped

# C0 controls except none (a tab or newline in request text is data, not layout), DEL, C1 controls,
# and the Unicode bidi controls that reorder what the terminal shows (Trojan Source, CVE-2021-42574).
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# Keys every Powertools line carries; the readable form shows them in fixed places or leaves them out.
POWERTOOLS_KEYS = {
    "level",
    "location",
    "message",
    "timestamp",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "correlation_id",
    "xray_trace_id",
    "sampling_rate",
    "exception",
    "exception_name",
    "stack_trace",
}


def escape(text: str) -> str:
    """`text` with every control and bidi character written out as a Python escape (`\\x1b`, `\\u202e`)."""
    return UNSAFE.sub(lambda found: found[0].encode("unicode_escape").decode("ascii"), text)


def readable(function_id: str, line: str) -> list[str] | None:
    """A Powertools JSON line as display lines (the exception's traceback after the first); None if not one."""
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or "level" not in record or "message" not in record:
        return None
    stamp = str(record.get("timestamp", ""))
    clock = stamp.split(" ", 1)[-1].split("T", 1)[-1].split("+", 1)[0].rstrip("Z")  # 2026-11-27 14:38:01,123+0000
    message = record["message"] if isinstance(record["message"], str) else json.dumps(record["message"])
    parts = [clock, function_id, str(record["level"]), message]
    if record.get("correlation_id"):
        parts.append(f"correlation_id={record['correlation_id']}")
    parts += [f"{key}={json.dumps(value) if not isinstance(value, str) else value}" for key, value in record.items() if key not in POWERTOOLS_KEYS]
    lines = [" ".join(p for p in parts if p)]
    if isinstance(record.get("exception"), str):
        lines += record["exception"].splitlines()
    return lines


class Log:
    """Where the sandbox writes; safe to call from the event loop, never blocks on the reader."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None, json_logs: bool | None = None):
        self.quiet = quiet
        self.stream = stream or sys.stdout
        self.json_logs = not _is_terminal(self.stream) if json_logs is None else json_logs
        self.dropped = 0
        self._fd = _fileno(self.stream)
        self._lines: deque[str] = deque()
        self._queued = 0  # characters in _lines
        self._closing = False
        self._ready = threading.Condition()
        self._writer: threading.Thread | None = None
        if self._fd is not None:
            self._writer = threading.Thread(target=self._write_forever, name="sandbox-log", daemon=True)
            self._writer.start()

    def info(self, text: str) -> None:
        """Always shown: start-up, reloads, warnings, errors (may span lines: the banner)."""
        for line in text.split("\n"):
            self._write(escape(line))

    def event(self, text: str) -> None:
        """One request or WebSocket event; hidden with --quiet."""
        if not self.quiet:
            self._write(f"{time.strftime('%H:%M:%S')} {escape(text)}")

    def function(self, function_id: str, line: str) -> None:
        """A line a function printed, prefixed with its name (readable on a terminal if Powertools JSON)."""
        shown = None if self.json_logs else readable(function_id, line)
        if shown is None:
            self._write(f"  {function_id} | {escape(line)}")
            return
        first, *traceback = shown
        self._write(f"  {escape(first)}")
        for trace_line in traceback:
            self._write(f"  {function_id} | {escape(trace_line)}")

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued, waiting at most `timeout` for a slow reader."""
        if self._writer is None:
            return
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._writer.join(timeout)

    def _write(self, text: str) -> None:
        if self._fd is None:  # a stream without a descriptor (tests): write directly
            try:
                self.stream.write(text + "\n")
                self.stream.flush()
            except (BrokenPipeError, ValueError):  # nobody is reading any more; keep serving
                pass
            return
        with self._ready:
            if self._queued + len(text) > QUEUE_BYTES:
                self.dropped += 1
                return
            self._lines.append(text)
            self._queued += len(text)
            self._ready.notify()

    def _write_forever(self) -> None:
        """The writer thread: blocks on the reader so the event loop never does."""
        assert self._fd is not None, "started only for a stream with a descriptor"
        reported = 0
        while True:
            with self._ready:
                while not self._lines and not self._closing:
                    self._ready.wait()
                if not self._lines:
                    return
                batch = list(self._lines)
                self._lines.clear()
                self._queued = 0
                dropped = self.dropped
            if dropped != reported:
                batch.append(f"  [log: {dropped - reported} line(s) dropped: the output was not being read]")
                reported = dropped
            try:
                _write_all(self._fd, ("\n".join(batch) + "\n").encode("utf-8", "replace"))
            except OSError:  # closed or broken: the lines are lost, the sandbox keeps serving
                pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fileno(stream) -> int | None:
    try:
        stream.flush()
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
