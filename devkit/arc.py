"""Architect's manifest syntax (arc.codes): lines, pragmas and the entries under them; nothing else.

`#` comments, `@pragma` headers at column 1, one entry per line, and a 2-space indented block under an
entry for its keys. `parse()` checks only the syntax and which pragmas are known; what the entries mean
is devkit/manifest.py's job (and devkit/grants.py's for `@permissions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devkit.errors import ManifestError

# Architect's (arc.codes, inventory 6) that this kit does not implement: each is a warning, not an error
ARCHITECT_PRAGMAS = (
    "static",
    "plugins",
    "shared",
    "views",
    "sandbox",
    "sandbox-startup",
    "cdn",
    "events",
    "queues",
    "scheduled",
    "proxy",
    "tables-indexes",
    "tables-streams",
)


@dataclass(frozen=True)
class Entry:
    """One top-level line of a pragma, its words, and the indented lines under it."""

    words: tuple[str, ...]
    line: int
    children: tuple[Entry, ...] = ()


def warn(warnings: list[str] | None, path: Path | str, line: int, message: str) -> None:
    """Append `file:line: message` to `warnings` (when the caller collects them)."""
    if warnings is not None:
        warnings.append(f"{path}:{line}: {message}")


def parse(text: str, path: Path | str, known: tuple[str, ...], warnings: list[str] | None = None) -> dict[str, list[Entry]]:
    """Split manifest text into pragmas of entries (`known` ones only); only syntax is checked here.

    Architect's pragmas this kit does not implement are left out, with a warning appended to `warnings`.
    """
    pragmas: dict[str, list[Entry]] = {}
    current: list[Entry] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise ManifestError(path, number, "indent with 2 spaces, not tabs")
        indent = len(line) - len(line.lstrip(" "))
        words = tuple(line.split())
        if words[0].startswith("@"):
            if indent:
                raise ManifestError(path, number, f"a pragma such as {words[0]} starts at column 1")
            name = words[0][1:]
            if name in ARCHITECT_PRAGMAS and name not in known and len(words) == 1:
                warn(warnings, path, number, f"@{name} is Architect's; this kit does not implement it and ignores it")
                current = []
                continue
            if name not in known:
                if name == "permissions":
                    raise ManifestError(path, number, "@permissions goes in each function's own config.arc (e.g. src/ws/default/config.arc)")
                expected = ", ".join("@" + p for p in known)
                raise ManifestError(path, number, f"unknown pragma @{name}; expected one of {expected}")
            if name in pragmas:
                raise ManifestError(path, number, f"@{name} appears twice; merge its entries")
            if len(words) > 1:
                raise ManifestError(path, number, f"put @{name}'s entries on the lines below it")
            current = pragmas[name] = []
        elif current is None:
            raise ManifestError(path, number, "expected a pragma such as @app before any entry")
        elif indent == 0:
            current.append(Entry(words, number))
        elif indent == 2:
            if not current:
                raise ManifestError(path, number, "an indented line must follow an entry")
            parent = current[-1]
            current[-1] = Entry(parent.words, parent.line, parent.children + (Entry(words, number),))
        else:
            raise ManifestError(path, number, f"indent by exactly 2 spaces under an entry, found {indent}")
    return pragmas


def read(path: Path, known: tuple[str, ...], warnings: list[str] | None = None) -> dict[str, list[Entry]]:
    """`parse()` the file at `path`; an unreadable file is a `ManifestError` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(path, None, "no such file; run from the app's folder or pass --app") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(path, None, f"cannot read it ({error})") from None
    return parse(text, path, known, warnings)
