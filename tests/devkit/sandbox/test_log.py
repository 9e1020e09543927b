"""The sandbox's log: request text cannot drive the terminal, an unread output cannot stop the server,
and handlers' Powertools JSON reads as one line on a terminal.

No AWS source: this is the local tool's own output (API Gateway logs to CloudWatch, not a terminal).
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
import websocket

from devkit.sandbox import log as sandbox_log
from devkit.sandbox.log import Log, escape
from tests.support.repo import ROOT
from tests.support.sandbox import free_port, wait_until


def test_escape_writes_out_every_control_and_bidi_character():
    assert escape("a\x1b]0;title\x07b") == "a\\x1b]0;title\\x07b"
    assert escape("\x9b2J \x7f \r\n \t") == "\\x9b2J \\x7f \\r\\n \\t"
    assert escape("abc\u202edcba\u2066x\u2069") == "abc\\u202edcba\\u2066x\\u2069"
    assert escape("héllo – 世界 😀") == "héllo – 世界 😀"  # printable text is left alone


def test_function_output_is_escaped_in_both_forms():
    raw = Log(stream=io.StringIO(), json_logs=True)
    raw.function("ws-default", "evil \x1b[2J")
    assert raw.stream.getvalue() == "  ws-default | evil \\x1b[2J\n"
    readable = Log(stream=io.StringIO(), json_logs=False)
    readable.function("ws-default", json.dumps({"level": "INFO", "message": "evil \x1b[2J", "timestamp": "x"}))
    assert "\x1b" not in readable.stream.getvalue() and "evil \\x1b[2J" in readable.stream.getvalue()


def test_a_powertools_line_reads_as_time_function_level_message_correlation_id_then_extra_keys():
    record = {
        "level": "ERROR",
        "location": "handler:12",
        "message": "send failed",
        "timestamp": "2026-11-27 14:38:01,123+0000",
        "service": "mywsapp",
        "cold_start": False,
        "function_name": "ws-default",
        "correlation_id": "R1kmxc2VNjMCFIA=",
        "room": "lobby",
        "attempts": 2,
        "exception": 'Traceback (most recent call last):\n  File "index.py", line 12\nValueError: boom',
        "exception_name": "ValueError",
    }
    assert sandbox_log.readable("ws-default", json.dumps(record)) == [
        "14:38:01,123 ws-default ERROR send failed correlation_id=R1kmxc2VNjMCFIA= room=lobby attempts=2",
        "Traceback (most recent call last):",
        '  File "index.py", line 12',
        "ValueError: boom",
    ]
    assert sandbox_log.readable("ws-default", "plain text") is None
    assert sandbox_log.readable("ws-default", '{"not": "powertools"}') is None


def test_an_escape_sequence_in_a_url_never_reaches_the_output_raw(faults):
    for path in ("/_static/%1b]0;pwned%07", "/%1b[2J%e2%80%aeevil", "/things/%c2%9b31m"):
        faults.get(path)
    for escaped in ("/_static/\\x1b]0;pwned\\x07", "/\\x1b[2J\\u202eevil", "/things/\\x9b31m"):
        faults.wait_for_output(escaped)  # each request's own line, escaped (the banner names /things/ too)
    output = faults.log_path.read_bytes()
    assert b"\x1b" not in output and b"\x07" not in output and "\u202e".encode() not in output
    assert "\xc2\x9b".encode("latin-1") not in output  # C1 CSI, UTF-8 encoded


class Sandbox:
    """The repository's app in the real sandbox with a stdout of the test's choosing."""

    def __init__(self, stdout, *args: str):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devkit", "sandbox", "--no-reload", "--port", str(self.port), *args],
            cwd=ROOT,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def get(self, path: str, timeout: float = 5):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def wait_until_serving(self) -> None:
        def answers():
            try:
                return self.get("/_static/missing", timeout=1) == 404
            except OSError:
                return False

        wait_until(answers, 30, "the sandbox to answer")

    def echo(self, text: str = "hi") -> tuple[dict, float]:
        """One echo and how long it took. The socket's timeout only bounds a hang: the first echo may meet
        workers still starting (warming runs after "ready"), which on a loaded machine took over 5 s."""
        started = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=30) as page:  # the visitor's token, as a browser gets it
            token = re.search(r'data-token="([^"]+)"', page.read().decode())[1]
        client = websocket.create_connection(f"ws://127.0.0.1:{self.port}/", timeout=30, origin=f"http://localhost:{self.port}", subprotocols=["chat", token])
        try:
            client.send(json.dumps({"text": text}))
            return json.loads(client.recv()), time.perf_counter() - started
        finally:
            client.close()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                return self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def test_an_output_nobody_reads_drops_lines_and_says_how_many_while_echoes_keep_working():
    """`make sandbox | less` left unscrolled: the pipe fills, the sandbox keeps serving."""
    reader, writer = os.pipe()
    sandbox = Sandbox(writer)
    os.close(writer)
    try:
        sandbox.wait_until_serving()
        long_path = "/_static/" + "x" * 4000  # each request logs a 4 KB line
        lines = sandbox_log.QUEUE_BYTES // 4000 + 64 * 1024 // 4000 + 50  # the queue, the pipe, then more
        for _ in range(lines):
            assert sandbox.get(long_path) == 404
        reply, seconds = sandbox.echo()
        assert reply["text"].endswith("Echoing hi") and seconds < 2
        captured = bytearray()
        drain = threading.Thread(target=lambda: _read_all(reader, captured), daemon=True)
        drain.start()
        sandbox.echo("after")  # one more line, so the writer reports the drops once the reader is back
        wait_until(lambda: b"line(s) dropped" in captured, 10, "the dropped-lines notice")
        assert sandbox.stop() == 0
    finally:
        sandbox.stop()
        os.close(reader)


def _read_all(fd: int, into: bytearray) -> None:
    while chunk := os.read(fd, 65536):
        into += chunk


@pytest.mark.parametrize("args, readable", [((), True), (("--json-logs",), False)])
def test_on_a_terminal_powertools_lines_are_readable_unless_json_logs(args, readable):
    primary, secondary = pty.openpty()
    sandbox = Sandbox(secondary, *args)
    os.close(secondary)
    captured = bytearray()
    threading.Thread(target=lambda: _read_pty(primary, captured), daemon=True).start()
    try:
        sandbox.wait_until_serving()
        reply, _ = sandbox.echo("   ")  # blank: the handler logs "rejected a message" with Powertools
        assert "error" in reply
        wait_until(lambda: b"rejected a message" in captured, 10, "the handler's log line")
        [line] = [raw for raw in captured.decode(errors="replace").splitlines() if "rejected a message" in raw]
        if readable:
            assert line.split()[1:4] == ["ws-default", "INFO", "rejected"]
            assert "correlation_id=" in line and "{" not in line
        else:
            assert json.loads(line.split("| ", 1)[1])["level"] == "INFO"
    finally:
        sandbox.stop()
        os.close(primary)


def _read_pty(fd: int, into: bytearray) -> None:
    try:
        while chunk := os.read(fd, 65536):
            into += chunk
    except OSError:  # the terminal's other side closed
        pass


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
]


def test_each_malformed_http_request_is_one_log_line_without_a_traceback(faults):
    """No AWS source: API Gateway answers such a request 400 before any route; the sandbox (aiohttp) does too."""
    before = faults.output()
    for raw in MALFORMED:
        with socket.create_connection(("127.0.0.1", faults.port), timeout=5) as client:
            client.sendall(raw)
            assert client.recv(64).startswith(b"HTTP/1.0 400")
    wait_until(
        lambda: faults.output().count("HTTP malformed request from 127.0.0.1: 400 ") - before.count("HTTP malformed request") == len(MALFORMED),
        5,
        "one line per malformed request",
    )
    added = faults.output()[len(before) :]
    assert "Traceback" not in added and "Error handling request" not in added
    assert "Invalid header token: b'Bad Header'" in added
    assert faults.get("/")[0] == 200
