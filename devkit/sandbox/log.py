"""The sandbox's terminal output: one line per request or WebSocket event, function output prefixed."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Log:
    def __init__(self, quiet: bool = False, stream: TextIO | None = None):
        self.quiet = quiet
        self.stream = stream or sys.stdout

    def info(self, text: str) -> None:
        """Always shown: start-up, reloads, warnings, errors."""
        self._write(text)

    def event(self, text: str) -> None:
        """One request or WebSocket event; hidden with --quiet."""
        if not self.quiet:
            self._write(f"{time.strftime('%H:%M:%S')} {text}")

    def function(self, function_id: str, line: str) -> None:
        """A line a function printed, prefixed with its name."""
        self._write(f"  {function_id} | {line}")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):  # nobody is reading any more; keep serving
            pass
