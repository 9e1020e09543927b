"""The kit's expected failures: each message tells the user what to do, and the CLI prints it as one
line without a traceback. Every part of the kit raises these; none imports them from the CLI.
"""

from __future__ import annotations

from pathlib import Path


class UsageError(Exception):
    """An expected failure whose message tells the user what to do; printed without a traceback."""


class ServiceError(Exception):
    """AWS or the network failed while a command was talking to it (not the user's input): the message
    names what was being done; printed as one line, exit status 1."""


class ManifestError(UsageError):
    """A manifest the kit cannot honour: `str()` is `file:line: what was expected`."""

    def __init__(self, path: Path | str, line: int | None, message: str):
        self.path, self.line, self.message = Path(path), line, message
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")
