"""Read `app.arc` (Architect's manifest format) into a typed inventory of the app.

The sandbox and deploy learn the app's shape only from `load()`. The grammar is Architect's, for the
pragmas this kit honours: `#` comments, `@pragma` headers, one entry per line, and a 2-space indented
block under an entry for its keys. Anything it cannot honour raises `ManifestError` naming the file,
the line and what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from devkit.contract import table_variable
from devkit.errors import ManifestError

__all__ = ["ManifestError", "Manifest", "Function", "Table", "Key", "AwsSettings", "load", "parse"]

KNOWN_PRAGMAS = ("app", "http", "ws", "tables", "aws")
HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "any")
WS_BUILTIN_ROUTES = ("connect", "default", "disconnect")
HANDLER_FILES = ("lambda.py", "handler.py", "index.py")  # Architect's order of preference
KEY_TYPES = {"String": "S", "Number": "N", "Binary": "B"}

DEFAULT_AWS = {
    "runtime": "python3.13",
    "architecture": "arm64",
    "region": "us-east-1",
    "memory": 256,
    "timeout": 10,
}
SUPPORTED_RUNTIMES = ("python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
ARCHITECTURES = ("arm64", "x86_64")

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,49}$")
_ROUTE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}$")


@dataclass(frozen=True)
class Entry:
    """One top-level line of a pragma, its words, and the indented lines under it."""

    words: tuple[str, ...]
    line: int
    children: tuple[Entry, ...] = ()


@dataclass(frozen=True)
class AwsSettings:
    runtime: str
    architecture: str
    region: str
    memory: int
    timeout: int


@dataclass(frozen=True)
class Key:
    name: str
    type: str  # DynamoDB attribute type: S, N or B


@dataclass(frozen=True)
class Table:
    name: str
    partition_key: Key
    sort_key: Key | None = None
    ttl_attribute: str | None = None

    @property
    def env_var(self) -> str:
        """The runtime contract's variable holding this table's physical name."""
        return table_variable(self.name)

    @property
    def keys(self) -> tuple[tuple[Key, str], ...]:
        """The primary key as DynamoDB roles it: the partition key (HASH), then any sort key (RANGE)."""
        return ((self.partition_key, "HASH"),) + (((self.sort_key, "RANGE"),) if self.sort_key else ())

    def key_schema(self) -> list[dict]:
        """`KeySchema` for CreateTable and CloudFormation."""
        return [{"AttributeName": key.name, "KeyType": role} for key, role in self.keys]

    def attribute_definitions(self) -> list[dict]:
        """`AttributeDefinitions` for CreateTable and CloudFormation: the key attributes only."""
        return [{"AttributeName": key.name, "AttributeType": key.type} for key, _ in self.keys]


@dataclass(frozen=True)
class Function:
    """A Lambda function: where its code lives and what invokes it."""

    name: str  # folder name, unique per kind: get-index, connect, broadcast
    kind: str  # "http" or "ws"
    route_key: str  # API Gateway route key: "GET /", "$connect", "broadcast"
    source_dir: Path
    handler_file: str  # index.py, handler.py or lambda.py
    runtime: str
    architecture: str
    memory: int
    timeout: int

    @property
    def handler(self) -> str:
        """Lambda's `Handler` setting: module.function."""
        return Path(self.handler_file).stem + ".handler"

    @property
    def id(self) -> str:
        """A name unique across kinds, e.g. `http-get-index`, `ws-default`."""
        return f"{self.kind}-{self.name}"

    @property
    def requirements(self) -> Path | None:
        path = self.source_dir / "requirements.txt"
        return path if path.is_file() else None


@dataclass(frozen=True)
class Manifest:
    path: Path
    root: Path
    app: str
    aws: AwsSettings
    functions: tuple[Function, ...]
    tables: tuple[Table, ...]
    warnings: tuple[str, ...] = ()  # `file:line: message` for what the kit accepts but does not honour

    @property
    def http_functions(self) -> tuple[Function, ...]:
        return tuple(f for f in self.functions if f.kind == "http")

    @property
    def ws_functions(self) -> tuple[Function, ...]:
        return tuple(f for f in self.functions if f.kind == "ws")

    @property
    def shared_dir(self) -> Path:
        return self.root / "src" / "shared"

    @property
    def public_dir(self) -> Path:
        return self.root / "public"

    def function(self, route_key: str) -> Function | None:
        return next((f for f in self.functions if f.route_key == route_key), None)


def parse(text: str, path: Path | str = "app.arc") -> dict[str, list[Entry]]:
    """Split manifest text into pragmas of entries; only syntax is checked here."""
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
            if name not in KNOWN_PRAGMAS:
                expected = ", ".join("@" + p for p in KNOWN_PRAGMAS)
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


def load(path: Path | str = "app.arc") -> Manifest:
    """Read and validate `path`; functions are found under `src/` next to it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(path, None, "no such file; run from the app's folder or pass --app") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(path, None, f"cannot read it ({error})") from None
    root = path.resolve().parent
    pragmas = parse(text, path)
    app = _app_name(pragmas, path)
    aws = _aws_settings(pragmas.get("aws", []), path, DEFAULT_AWS)
    functions = [_http_function(e, root, aws, path) for e in pragmas.get("http", [])]
    if "ws" in pragmas:
        routes = [(r, 0) for r in WS_BUILTIN_ROUTES]
        routes += [_ws_route(e, path) for e in pragmas["ws"]]
        functions += [_ws_function(r, line, root, aws, path) for r, line in routes]
    _unique([f.route_key for f in functions], path, "route")
    tables = [_table(e, path) for e in pragmas.get("tables", [])]
    _unique([t.name for t in tables], path, "table")
    return Manifest(path, root, app, aws, tuple(functions), tuple(tables))


def _app_name(pragmas: dict[str, list[Entry]], path: Path) -> str:
    entries = pragmas.get("app")
    if not entries:
        raise ManifestError(path, None, "missing @app with the app's name on the line below it")
    entry = entries[0]
    if len(entries) > 1 or len(entry.words) > 1 or entry.children:
        raise ManifestError(path, entry.line, "@app takes exactly one name")
    if not _NAME.match(entry.words[0]):
        raise ManifestError(
            path, entry.line,
            f"app name {entry.words[0]!r}: use lowercase letters, digits and dashes, starting with a letter",
        )
    return entry.words[0]


def _aws_settings(entries: list[Entry], path: Path, defaults: dict) -> AwsSettings:
    values = dict(defaults)
    for entry in entries:
        key, *rest = entry.words
        if key not in DEFAULT_AWS:
            raise ManifestError(path, entry.line, f"unknown @aws setting {key!r}; expected one of {', '.join(DEFAULT_AWS)}")
        if len(rest) != 1 or entry.children:
            raise ManifestError(path, entry.line, f"@aws {key} takes one value")
        values[key] = _aws_value(key, rest[0], path, entry.line)
    return AwsSettings(**values)


def _aws_value(key: str, value: str, path: Path, line: int) -> str | int:
    if key == "runtime" and value not in SUPPORTED_RUNTIMES:
        raise ManifestError(path, line, f"runtime {value!r}: expected one of {', '.join(SUPPORTED_RUNTIMES)}")
    if key == "architecture" and value not in ARCHITECTURES:
        raise ManifestError(path, line, f"architecture {value!r}: expected arm64 or x86_64")
    if key == "region" and not re.match(r"^[a-z]{2}(-[a-z]+)+-\d$", value):
        raise ManifestError(path, line, f"region {value!r}: expected an AWS region such as us-east-1")
    if key == "memory":
        return _int_in_range(value, 128, 10240, "memory (MB)", path, line)
    if key == "timeout":
        return _int_in_range(value, 1, 900, "timeout (seconds)", path, line)
    return value


def _int_in_range(value: str, low: int, high: int, what: str, path: Path, line: int) -> int:
    if not (value.isascii() and value.isdigit() and len(value) <= 6) or not low <= int(value) <= high:
        raise ManifestError(path, line, f"{what} {value!r}: expected a whole number from {low} to {high}")
    return int(value)


def _http_function(entry: Entry, root: Path, aws: AwsSettings, path: Path) -> Function:
    if len(entry.words) != 2 or entry.children:
        raise ManifestError(path, entry.line, f"@http expects '<method> <path>', e.g. 'get /', got {' '.join(entry.words)!r}")
    method, route = entry.words[0].lower(), entry.words[1]
    if method not in HTTP_METHODS:
        raise ManifestError(path, entry.line, f"HTTP method {entry.words[0]!r}: expected one of {', '.join(HTTP_METHODS)}")
    if not re.match(r"^/([A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*)?(/([A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*))*(/\*)?$", route):
        raise ManifestError(path, entry.line, f"HTTP path {route!r}: expected /, /words, /:param segments, optionally ending in /*")
    folder = method + "-" + _folder_for_path(route)
    api_path = "/".join("{" + s[1:] + "}" if s.startswith(":") else "{proxy+}" if s == "*" else s for s in route.split("/"))
    key = ("ANY" if method == "any" else method.upper()) + " " + (api_path or "/")
    return _function(folder, "http", key, root / "src" / "http" / folder, aws, path, entry.line)


def _folder_for_path(route: str) -> str:
    """Architect's folder naming: `/` -> index, `/a/:id` -> a-000id, `/a/*` -> a-catchall."""
    if route == "/":
        return "index"
    parts = []
    for segment in route.strip("/").split("/"):
        parts.append("000" + segment[1:] if segment.startswith(":") else "catchall" if segment == "*" else segment.replace(".", "_"))
    return "-".join(parts)


def _ws_route(entry: Entry, path: Path) -> tuple[str, int]:
    if len(entry.words) != 1 or entry.children:
        raise ManifestError(path, entry.line, f"@ws expects one route name per line, got {' '.join(entry.words)!r}")
    name = entry.words[0]
    if name.startswith("$") or name in WS_BUILTIN_ROUTES:
        raise ManifestError(path, entry.line, f"{name!r}: $connect, $default and $disconnect are always present; list only custom routes")
    if not _ROUTE_NAME.match(name):
        raise ManifestError(path, entry.line, f"route {name!r}: use letters, digits, '-' and '_'")
    return name, entry.line


def _ws_function(route: str, line: int, root: Path, aws: AwsSettings, path: Path) -> Function:
    key = "$" + route if route in WS_BUILTIN_ROUTES else route
    return _function(route, "ws", key, root / "src" / "ws" / route, aws, path, line or None)


def _function(name: str, kind: str, key: str, folder: Path, aws: AwsSettings, path: Path, line: int | None) -> Function:
    handler_file = next((f for f in HANDLER_FILES if (folder / f).is_file()), None)
    relative = folder.relative_to(path.resolve().parent)
    if handler_file is None:
        raise ManifestError(path, line, f"{key}: no handler in {relative}/ (expected {', '.join(HANDLER_FILES)} defining handler(event, context))")
    settings = aws
    config = folder / "config.arc"
    if config.is_file():
        local = parse(config.read_text(encoding="utf-8"), config)
        unknown = set(local) - {"aws"}
        if unknown:
            raise ManifestError(config, None, f"config.arc takes only @aws, found @{sorted(unknown)[0]}")
        merged = _aws_settings(local.get("aws", []), config, aws.__dict__)
        if merged.region != aws.region:
            raise ManifestError(config, None, "region is set for the whole app in app.arc, not per function")
        settings = merged
    return Function(
        name=name, kind=kind, route_key=key, source_dir=folder, handler_file=handler_file,
        runtime=settings.runtime, architecture=settings.architecture,
        memory=settings.memory, timeout=settings.timeout,
    )


def _table(entry: Entry, path: Path) -> Table:
    if len(entry.words) != 1:
        raise ManifestError(path, entry.line, f"@tables expects a table name alone on its line, got {' '.join(entry.words)!r}")
    name = entry.words[0]
    if not _NAME.match(name):
        raise ManifestError(path, entry.line, f"table name {name!r}: use lowercase letters, digits and dashes")
    partition = sort = ttl = None
    for child in entry.children:
        if len(child.words) != 2 or not _ATTRIBUTE.match(child.words[0]):
            raise ManifestError(path, child.line, "expected '<attribute> *String', '<attribute> **String' or '<attribute> TTL'")
        attribute, spec = child.words
        if spec == "TTL":
            if ttl:
                raise ManifestError(path, child.line, f"table {name} has a TTL attribute already ({ttl})")
            ttl = attribute
            continue
        stars = len(spec) - len(spec.lstrip("*"))
        kind = KEY_TYPES.get(spec.lstrip("*"))
        if stars not in (1, 2) or kind is None:
            raise ManifestError(path, child.line, f"{spec!r}: expected *String, *Number or *Binary (partition key), ** for the sort key, or TTL")
        if (partition if stars == 1 else sort) is not None:
            which = "partition" if stars == 1 else "sort"
            raise ManifestError(path, child.line, f"table {name} has a {which} key already")
        if stars == 1:
            partition = Key(attribute, kind)
        else:
            sort = Key(attribute, kind)
    if partition is None:
        raise ManifestError(path, entry.line, f"table {name} needs a partition key, e.g. 'id *String' indented under it")
    return Table(name, partition, sort, ttl)


def _unique(items: list[str], path: Path, what: str) -> None:
    seen = set()
    for item in items:
        if item in seen:
            raise ManifestError(path, None, f"{what} {item!r} is declared twice")
        seen.add(item)
