"""Progress lines on stderr while the bench runs: which step, how many samples so far.

On a terminal the count is redrawn in place; elsewhere (CI logs) one line is printed at each
quarter, so a log stays short but still shows where a slow step is.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """`step(name)` starts a step; the returned callable `(done, total)` reports its samples."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self._name = ""
        self._started = 0.0
        self._quarter = -1

    def step(self, name: str):
        self._finish_line()
        self._name = name
        self._started = time.monotonic()
        self._quarter = -1
        self._write(f"  {name} ...", end="\n" if not self.live else "")
        return self.update

    def update(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self._started
        line = f"  {self._name}: {done}/{total} ({elapsed:.1f} s)"
        if self.live:
            self._write("\r\x1b[2K" + line, end="")
            return
        quarter = (4 * done) // max(total, 1)
        if quarter > self._quarter:
            self._quarter = quarter
            self._write(line)

    def note(self, text: str) -> None:
        """A line that stays: a skip, a warning, a finished figure."""
        self._finish_line()
        self._write(f"  {text}")

    def _finish_line(self) -> None:
        if self.live and self._name:
            self._write("")
            self._name = ""

    def _write(self, text: str, end: str = "\n") -> None:
        self.stream.write(text + end)
        self.stream.flush()


def quiet(done: int, total: int) -> None:
    """A progress callback that reports nothing (tests, nested steps)."""
