"""`@ws-authorizer` in app.arc: the WebSocket API's `$connect` Lambda REQUEST authorizer.

    @ws-authorizer
    authorize                                        # its code: src/ws/authorize/
      identity route.request.header.Sec-WebSocket-Protocol

One entry: the folder under `src/ws/` holding the authorizer (its config.arc may set `@aws` and
`@permissions`, as any function's), and one or more identity sources on `identity` lines. API Gateway
allows an authorizer on `$connect` only, of type REQUEST; it answers 401 without calling the function
when an identity source is missing or empty (botocore apigatewayv2 `CreateAuthorizerRequest.IdentitySource`).
Architect's inventory ignores a pragma it does not know, and `src/ws/authorize/` is no route of its.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from devkit.arc import Entry
from devkit.errors import ManifestError

F = TypeVar("F")  # the function type the manifest makes (devkit.manifest.Function): this module needs none of it

PRAGMA = "ws-authorizer"
KIND = "authorizer"  # Function.kind of the authorizer: no route of either API
ROUTE_KEY = "$connect authorizer"
# The request parameters a WebSocket identity source may name (AWS also allows stage variables and
# context variables; the sandbox has no stage variables, so this kit takes these two).
_SOURCE = re.compile(r"^route\.request\.(header|querystring)\.([A-Za-z0-9._-]{1,128})$")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class IdentitySource:
    where: str  # "header" or "querystring"
    name: str  # header names match case-insensitively, query parameters exactly

    @property
    def expression(self) -> str:
        """As API Gateway writes it: `route.request.header.Auth`."""
        return f"route.request.{self.where}.{self.name}"


@dataclass(frozen=True)
class Authorizer(Generic[F]):
    function: F
    identity_sources: tuple[IdentitySource, ...]


def parse(entries: list[Entry], path: Path, routes: tuple[str, ...], make_function: Callable[[str, int], F]) -> Authorizer[F]:
    """Validate `@ws-authorizer`; `routes` are the WebSocket route names (the folder may not be one of
    them), `make_function(name, line)` reads `src/ws/<name>/` as any function's folder."""
    if not entries:
        raise ManifestError(path, None, f"@{PRAGMA} is empty: name the authorizer's folder under src/ws/ on the line below it")
    if len(entries) > 1:
        raise ManifestError(path, entries[1].line, f"@{PRAGMA} takes one authorizer: API Gateway runs one, on $connect only")
    entry = entries[0]
    if len(entry.words) != 1 or not _NAME.match(entry.words[0]):
        raise ManifestError(path, entry.line, f"@{PRAGMA} expects one folder name under src/ws/ (letters, digits, '-', '_'), got {' '.join(entry.words)!r}")
    name = entry.words[0]
    if name in routes:
        raise ManifestError(path, entry.line, f"{name!r} is a @ws route; the authorizer needs a folder of its own under src/ws/")
    sources: list[IdentitySource] = []
    for child in entry.children:
        if child.words[0] != "identity" or len(child.words) < 2:
            raise ManifestError(path, child.line, "expected 'identity route.request.header.<Name>' or 'identity route.request.querystring.<name>'")
        for expression in child.words[1:]:
            found = _SOURCE.match(expression)
            if not found:
                raise ManifestError(
                    path, child.line, f"identity source {expression!r}: expected route.request.header.<Name> or route.request.querystring.<name>"
                )
            source = IdentitySource(found[1], found[2])
            if any(_same(source, s) for s in sources):
                raise ManifestError(path, child.line, f"identity source {expression} is listed twice")
            sources.append(source)
    if not sources:
        raise ManifestError(
            path, entry.line, f"authorizer {name}: list its identity sources on an indented line, e.g. '  identity route.request.header.Authorization'"
        )
    return Authorizer(make_function(name, entry.line), tuple(sources))


def _same(a: IdentitySource, b: IdentitySource) -> bool:
    if a.where != b.where:
        return False
    return a.name.lower() == b.name.lower() if a.where == "header" else a.name == b.name
