"""What `public/` serves at `/_static/*`: one rule for the sandbox and for deploy's static function.

- A path with any part starting with `.` (dotfiles, `.well-known/`, `.git/`) is not served.
- Anything that resolves outside `public/` (a symbolic link out of it) is not served; deploy refuses
  to package it, naming the link, rather than publish what it points at.
- A file is answered through Lambda, base64-encoded in a JSON response, and a synchronous Lambda
  response is at most 6 MB (Lambda quotas: "Invocation payload (request and response): 6 MB each
  for request and response (synchronous)"). A file whose response would exceed that fails once
  deployed: both commands warn, and the sandbox answers it as API Gateway then does (500).

devkit/deploy/static_handler.py applies the same first two rules on AWS (it cannot import the kit).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

LAMBDA_RESPONSE_BYTES = 6 * 1024 * 1024
RESPONSE_ENVELOPE_BYTES = 512  # the JSON around the body: status, headers (ETag, type), flags; generous


class PublicError(Exception):
    """Something in public/ cannot be published as the sandbox serves it; the message names the path."""


def visible(parts: list[str] | tuple[str, ...]) -> bool:
    """True when no part of the relative path is hidden (starts with `.`)."""
    return bool(parts) and not any(part.startswith(".") for part in parts)


def response_bytes(size: int) -> int:
    """The deployed static function's response size for a file of `size` bytes (base64 plus envelope)."""
    return 4 * math.ceil(size / 3) + RESPONSE_ENVELOPE_BYTES


def too_large(size: int) -> bool:
    return response_bytes(size) > LAMBDA_RESPONSE_BYTES


def files(public_dir: Path, strict: bool = True) -> Iterator[tuple[str, Path]]:
    """Every file public/ serves, as (posix name relative to it, path); a link out of it raises
    PublicError (`strict`, for packaging) or is skipped (the sandbox does not serve it)."""
    root = public_dir.resolve()
    seen: set[Path] = set()
    for folder, dirs, names in os.walk(public_dir, followlinks=True):
        real = Path(folder).resolve()
        if real in seen:  # a link back to a folder already walked: no loop, no duplicate
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            path = Path(folder, name)
            if name.startswith(".") or not path.is_file():
                continue
            if not path.resolve().is_relative_to(root):
                if not strict:
                    continue
                raise PublicError(f"{path}: a symbolic link to {path.resolve()}, outside public/; copy the file into public/ or remove the link")
            yield path.relative_to(public_dir).as_posix(), path
        for name in list(dirs):
            path = Path(folder, name)
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                if not strict:
                    dirs.remove(name)
                    continue
                raise PublicError(f"{path}: a symbolic link to {path.resolve()}, outside public/; copy the folder into public/ or remove the link")


def size_warnings(public_dir: Path) -> list[str]:
    """One warning per file too large to serve once deployed."""
    if not public_dir.is_dir():
        return []
    found = []
    for name, path in files(public_dir, strict=False):
        size = path.stat().st_size
        if too_large(size):
            found.append(
                f"public/{name} ({size:,} bytes) is too large to serve once deployed: base64-encoded it "
                f"exceeds Lambda's 6 MB response limit (largest: {max_file_bytes():,} bytes); "
                "the sandbox answers it with 500 as API Gateway will"
            )
    return found


def max_file_bytes() -> int:
    """The largest file the deployed static function can answer."""
    return (LAMBDA_RESPONSE_BYTES - RESPONSE_ENVELOPE_BYTES) // 4 * 3
