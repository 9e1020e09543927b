"""Progress for long commands (deploy, bench): lines that stay, and on a terminal one line redrawn in
place (a sample count, a spinner) until the next line. Off a terminal (CI logs) nothing is redrawn: a
step's count is printed once per quarter, so a log stays short but still shows where a slow step is.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

CLEAR_LINE = "\r\x1b[2K"


class Progress:
    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self._drawn: str | None = None  # what ends the redrawn line: "keep" it (a step), "erase" it (a spinner)
        self._name = ""
        self._started = 0.0
        self._quarter = -1

    def line(self, text: str) -> None:
        """A line that stays."""
        self._settle()
        self._write(text + "\n")

    def note(self, text: str) -> None:
        """A line that stays, indented under the steps: a skip, a warning, a finished figure."""
        self.line(f"  {text}")

    def redraw(self, text: str, keep: bool = False) -> None:
        """On a terminal, replace the redrawn line with `text` (kept or erased by the next line); elsewhere nothing."""
        if self.live:
            self._write(CLEAR_LINE + text)
            self._drawn = "keep" if keep else "erase"

    def step(self, name: str):
        """Start a step; the returned callable `(done, total)` reports its samples."""
        self._settle()
        self._name, self._started, self._quarter = name, time.monotonic(), -1
        if self.live:
            self.redraw(f"  {name} ...", keep=True)
        else:
            self.line(f"  {name} ...")
        return self.update

    def update(self, done: int, total: int) -> None:
        text = f"  {self._name}: {done}/{total} ({time.monotonic() - self._started:.1f} s)"
        if self.live:
            self.redraw(text, keep=True)
            return
        quarter = (4 * done) // max(total, 1)
        if quarter > self._quarter:
            self._quarter = quarter
            self.line(text)

    def _settle(self) -> None:
        if self._drawn == "keep":
            self._write("\n")
        elif self._drawn == "erase":
            self._write(CLEAR_LINE)
        self._drawn = None

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def quiet(done: int, total: int) -> None:
    """A progress callback that reports nothing (tests, nested steps)."""
