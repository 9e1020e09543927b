"""Read `app.arc` and each function's `config.arc` into a typed inventory of the app.

The sandbox and deploy learn the app's shape only from `load()`. The syntax is Architect's
(devkit/arc.py), `@permissions` has its own grammar (devkit/grants.py). Anything this kit cannot
honour raises `ManifestError` naming the file, the line and what was expected; Architect's own pragmas
and settings that this kit does not implement are ignored with one warning each (`Manifest.warnings`),
so an Architect project loads as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devkit import arc, authorizers, grants
from devkit.arc import Entry, warn
from devkit.authorizers import Authorizer
from devkit.errors import ManifestError
from devkit.grants import Permissions, TableGrant
from devkit.queues import Queue, queue_entry

__all__ = ["ManifestError", "Manifest", "Function", "Table", "Key", "AwsSettings", "Permissions", "TableGrant", "Queue", "load"]

KNOWN_PRAGMAS = ("app", "http", "ws", "tables", "queues", "aws", "tags", authorizers.PRAGMA)
ARCHITECT_AWS_SETTINGS = ("profile", "apigateway", "bucket", "storage", "layers", "layer", "policies", "policy")
ARCHITECT_TABLE_OPTIONS = ("stream",)  # the rest of Architect's table options are TABLE_OPTIONS below
FUNCTION_PRAGMAS = ("aws", "permissions")  # what a function's config.arc may hold
HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head", "options", "any")
WS_BUILTIN_ROUTES = ("connect", "default", "disconnect")
HANDLER_FILES = ("lambda.py", "handler.py", "index.py")  # Architect's order of preference
KEY_TYPES = {"String": "S", "Number": "N", "Binary": "B"}
# Architect's per-table options (the spellings its inventory accepts) -> Table fields
TABLE_OPTIONS = {"PITR": "pitr", "pitr": "pitr", "PointInTimeRecovery": "pitr", "encrypt": "encrypt"}

DEFAULT_AWS: dict[str, Any] = {
    "runtime": "python3.13",
    "architecture": "arm64",
    "region": "us-east-1",
    "memory": 256,
    "timeout": 10,
    # Stage throttling of every route (requests or messages per second, and burst), shared by all clients;
    # a function's config.arc may set its own (docs/deploy.md says why and what a flood costs).
    "throttle_rate": 100,
    "throttle_burst": 200,
    # Architect's reserved concurrency (a function's most concurrent executions, held for it alone);
    # None: not declared (production then reserves deploy.concurrency's default), UNRESERVED: none at all.
    "concurrency": None,
    # Operations, app-wide (app.arc only): API access logs and alarms. None: on in production only;
    # True / False: on / off in every stage; for alarms, an email address: on, and mailed there.
    "access_logs": None,
    "alarms": None,
}
UNRESERVED = 0  # `@aws concurrency unthrottled` (Architect's word): no reservation (Lambda's own 0 would refuse every invocation)
# Lambda's quota of concurrent executions is 1,000 per account and region by default (adjustable).
MAX_CONCURRENCY = 10_000
# Tags: AWS's limits (50 per resource; keys up to 128 characters, values 256; `aws:` is AWS's own);
# `devkit:` ones are the kit's (devkit:app, devkit:stage: deploy/tags.py).
_TAG_TEXT = re.compile(r"^[\w.:/=+\-@ ]*$")
RESERVED_TAG_PREFIXES = ("aws:", "devkit:")
MAX_USER_TAGS = 40
APP_ONLY_SETTINGS = ("region", "access_logs", "alarms")  # not per function in config.arc
# API Gateway stops waiting for an integration after this many seconds, whatever the function's timeout.
INTEGRATION_TIMEOUT_SECONDS = {"ws": 29, "http": 30}
SUPPORTED_RUNTIMES = ("python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
ARCHITECTURES = ("arm64", "x86_64")

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,49}$")
_ROUTE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,254}$")


@dataclass(frozen=True)
class AwsSettings:
    runtime: str
    architecture: str
    region: str
    memory: int
    timeout: int
    throttle_rate: int
    throttle_burst: int
    access_logs: bool | None  # True / False: on / off; None: the stage's default
    alarms: bool | str | None  # an email address alarms go to, True / False: on / off; None: the stage's default
    concurrency: int | None = None  # reserved concurrency; None: not declared; UNRESERVED: none
    # where each setting was written, as (setting, "file:line"); settings not listed are defaults
    written: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def where(self, setting: str) -> str | None:
        """`file:line` of the line that set `setting` (a config.arc's wins over app.arc's), or None."""
        return dict(self.written).get(setting)


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
    pitr: bool = False  # Architect's `PITR true`: point-in-time recovery
    encrypt: bool | str = False  # `encrypt true` (AWS-managed KMS key) or a KMS key ARN

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
    kind: str  # "http", "ws", "queue" or "authorizer" (`@ws-authorizer`: no route, runs before $connect)
    route_key: str  # API Gateway route key: "GET /", "$connect", "broadcast"; a consumer's: "queue <name>"
    source_dir: Path
    handler_file: str  # index.py, handler.py or lambda.py
    runtime: str
    architecture: str
    memory: int
    timeout: int
    throttle_rate: int = DEFAULT_AWS["throttle_rate"]
    throttle_burst: int = DEFAULT_AWS["throttle_burst"]
    concurrency: int | None = None  # `@aws concurrency`: reserved concurrency; None: not declared; UNRESERVED: none
    permissions: Permissions | None = None  # None: not declared, so its kind's default applies

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
    warnings: tuple[str, ...] = ()  # each `file:line: message`; commands print them as `warning: ...`
    tags: tuple[tuple[str, str], ...] = ()  # `@tags`: (key, value) the user adds to the stack and its resources
    authorizer: Authorizer[Function] | None = None  # `@ws-authorizer` (devkit/authorizers.py); its function is in `functions`
    queues: tuple[Queue, ...] = ()  # @queues, each consumed by the function of the same name (kind "queue")

    @property
    def http_functions(self) -> tuple[Function, ...]:
        return tuple(f for f in self.functions if f.kind == "http")

    @property
    def ws_functions(self) -> tuple[Function, ...]:
        return tuple(f for f in self.functions if f.kind == "ws")

    @property
    def queue_functions(self) -> tuple[Function, ...]:
        return tuple(f for f in self.functions if f.kind == "queue")

    def consumer(self, queue: Queue) -> Function:
        """The function that consumes `queue` (src/queues/<name>/)."""
        return next(f for f in self.functions if f.kind == "queue" and f.name == queue.name)

    @property
    def shared_dir(self) -> Path:
        return self.root / "src" / "shared"

    @property
    def public_dir(self) -> Path:
        return self.root / "public"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret a function's `@permissions` reads (`secret <name>`): the stack and the sandbox make them."""
        return tuple(sorted({s for f in self.functions if f.permissions for s in f.permissions.secrets}))

    def function(self, route_key: str) -> Function | None:
        return next((f for f in self.functions if f.route_key == route_key), None)


def load(path: Path | str = "app.arc") -> Manifest:
    """Read and validate `path`; functions are found under `src/` next to it."""
    path = Path(path)
    root = path.resolve().parent
    warnings: list[str] = []
    pragmas = arc.read(path, KNOWN_PRAGMAS, warnings)
    app = _app_name(pragmas, path)
    aws = _aws_settings(pragmas.get("aws", []), path, DEFAULT_AWS, warnings)
    tables = [_table(e, path, warnings) for e in pragmas.get("tables", [])]
    _unique([t.name for t in tables], path, "table")
    declared = tuple(t.name for t in tables)
    queue_entries = [queue_entry(e, path, app) for e in pragmas.get("queues", [])]
    _unique([q.name for q, _ in queue_entries], path, "queue")
    queue_names = tuple(q.name for q, _ in queue_entries)
    declared_both = (declared, queue_names)
    functions = [_http_function(e, root, aws, path, declared_both, warnings) for e in pragmas.get("http", [])]
    if "ws" in pragmas:
        routes = [(r, 0) for r in WS_BUILTIN_ROUTES]
        routes += [_ws_route(e, path) for e in pragmas["ws"]]
        functions += [_ws_function(r, line, root, aws, path, declared_both, warnings) for r, line in routes]
    queues = []
    for queue, entry in queue_entries:
        consumer = _function(queue.name, "queue", f"queue {queue.name}", root / "src" / "queues" / queue.name, aws, path, entry.line, declared_both, warnings)
        functions.append(consumer)
        queues.append(queue.for_consumer(consumer.timeout, path, entry.line))
    authorizer = None
    if authorizers.PRAGMA in pragmas:
        if "ws" not in pragmas:
            raise ManifestError(path, None, f"@{authorizers.PRAGMA} guards the WebSocket API's $connect: add @ws")
        authorizer = authorizers.parse(
            pragmas[authorizers.PRAGMA],
            path,
            tuple(f.name for f in functions if f.kind == "ws"),
            lambda name, line: _function(name, authorizers.KIND, authorizers.ROUTE_KEY, root / "src" / "ws" / name, aws, path, line, declared_both, warnings),
        )
        functions.append(authorizer.function)
    _unique([f.route_key for f in functions], path, "route")
    tags = _tags(pragmas.get("tags", []), path)
    return Manifest(path, root, app, aws, tuple(functions), tuple(tables), tuple(warnings), tags, authorizer, tuple(queues))


def _tags(entries: list[Entry], path: Path) -> tuple[tuple[str, str], ...]:
    """`@tags`: one `key value` per line (the value may hold spaces), in AWS's tag alphabet and lengths."""
    tags: dict[str, str] = {}
    for entry in entries:
        key, value = entry.words[0], " ".join(entry.words[1:])
        if entry.children or not value:
            raise ManifestError(path, entry.line, f"@tags expects '<key> <value>' on one line, got {' '.join(entry.words)!r}")
        if len(key) > 128 or len(value) > 256 or not _TAG_TEXT.match(key) or not _TAG_TEXT.match(value):
            raise ManifestError(path, entry.line, "a tag key is 1-128 and its value up to 256 letters, digits, spaces and _ . : / = + - @")
        if key.lower().startswith(RESERVED_TAG_PREFIXES):
            raise ManifestError(path, entry.line, f"tag {key!r}: aws:* tags are AWS's and devkit:* the kit's")
        if key in tags:
            raise ManifestError(path, entry.line, f"tag {key!r} is declared twice")
        tags[key] = value
    if len(tags) > MAX_USER_TAGS:
        raise ManifestError(path, entries[MAX_USER_TAGS].line, f"at most {MAX_USER_TAGS} tags (AWS allows 50 a resource; the kit sets the rest)")
    return tuple(tags.items())


def _timeout_warning(route_key: str, kind: str, settings: AwsSettings, path: Path) -> str | None:
    """A function behind an API that may run longer than API Gateway waits for it."""
    limit = INTEGRATION_TIMEOUT_SECONDS.get("ws" if kind == "authorizer" else kind)  # an authorizer: the WebSocket API's
    if limit is None or settings.timeout <= limit or route_key == "$disconnect":  # no client waits on $disconnect
        return None
    api = "HTTP" if kind == "http" else "WebSocket"
    return (
        f"{settings.where('timeout') or path}: {route_key} has timeout {settings.timeout} s, but API Gateway's {api} API "
        f"answers the client with an error after {limit} s while the function runs on; keep it at {limit} s or less"
    )


def _app_name(pragmas: dict[str, list[Entry]], path: Path) -> str:
    entries = pragmas.get("app")
    if not entries:
        raise ManifestError(path, None, "missing @app with the app's name on the line below it")
    entry = entries[0]
    if len(entries) > 1 or len(entry.words) > 1 or entry.children:
        raise ManifestError(path, entry.line, "@app takes exactly one name")
    if not _NAME.match(entry.words[0]):
        raise ManifestError(
            path,
            entry.line,
            f"app name {entry.words[0]!r}: use lowercase letters, digits and dashes, starting with a letter",
        )
    return entry.words[0]


def _aws_settings(entries: list[Entry], path: Path, defaults: dict, warnings: list[str] | None = None) -> AwsSettings:
    values = dict(defaults)
    written = dict(values.pop("written", ()))
    for entry in entries:
        word, *rest = entry.words
        if word in ARCHITECT_AWS_SETTINGS:
            warn(warnings, path, entry.line, f"@aws {word} is Architect's; this kit does not implement it and ignores it")
            continue
        key = word.replace("-", "_")
        if key not in DEFAULT_AWS:
            known = ", ".join(k.replace("_", "-") for k in DEFAULT_AWS)
            raise ManifestError(path, entry.line, f"unknown @aws setting {word!r}; expected one of {known}")
        if len(rest) != 1 or entry.children:
            raise ManifestError(path, entry.line, f"@aws {word} takes one value")
        values[key] = _aws_value(key, rest[0], path, entry.line)
        written[key] = f"{path}:{entry.line}"
    return AwsSettings(**values, written=tuple(written.items()))


def _aws_value(key: str, value: str, path: Path, line: int) -> str | int | bool:
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
    # API Gateway's account quotas are 10,000 requests per second and a burst of 5,000.
    if key == "throttle_rate":
        return _int_in_range(value, 1, 10000, "throttle-rate (per second)", path, line)
    if key == "throttle_burst":
        return _int_in_range(value, 0, 5000, "throttle-burst", path, line)
    if key == "access_logs":
        if value not in ("true", "false"):
            raise ManifestError(path, line, f"access-logs {value!r}: expected true or false")
        return value == "true"
    if key == "alarms":
        if value in ("true", "false"):
            return value == "true"
        if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value):
            raise ManifestError(path, line, f"alarms {value!r}: expected true, false or the email address alarms are sent to")
        return value
    if key == "concurrency":
        if value == "unthrottled":
            return UNRESERVED
        return _int_in_range(value, 1, MAX_CONCURRENCY, "concurrency (reserved executions; or `unthrottled`)", path, line)
    return value


def _int_in_range(value: str, low: int, high: int, what: str, path: Path, line: int) -> int:
    if not (value.isascii() and value.isdigit() and len(value) <= 6) or not low <= int(value) <= high:
        raise ManifestError(path, line, f"{what} {value!r}: expected a whole number from {low} to {high}")
    return int(value)


def _http_function(
    entry: Entry, root: Path, aws: AwsSettings, path: Path, tables: tuple[tuple[str, ...], tuple[str, ...]], warnings: list[str] | None = None
) -> Function:
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
    return _function(folder, "http", key, root / "src" / "http" / folder, aws, path, entry.line, tables, warnings)


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


def _ws_function(
    route: str, line: int, root: Path, aws: AwsSettings, path: Path, tables: tuple[tuple[str, ...], tuple[str, ...]], warnings: list[str] | None = None
) -> Function:
    key = "$" + route if route in WS_BUILTIN_ROUTES else route
    return _function(route, "ws", key, root / "src" / "ws" / route, aws, path, line or None, tables, warnings)


def _function(
    name: str,
    kind: str,
    key: str,
    folder: Path,
    aws: AwsSettings,
    path: Path,
    line: int | None,
    declared: tuple[tuple[str, ...], tuple[str, ...]],
    warnings: list[str] | None = None,
) -> Function:
    """`declared`: the names under @tables and under @queues, which `@permissions` may grant."""
    handler_file = next((f for f in HANDLER_FILES if (folder / f).is_file()), None)
    relative = folder.relative_to(path.resolve().parent)
    if handler_file is None:
        raise ManifestError(path, line, f"{key}: no handler in {relative}/ (expected {', '.join(HANDLER_FILES)} defining handler(event, context))")
    settings, permissions = aws, None
    config = folder / "config.arc"
    if config.is_file():
        local = arc.read(config, FUNCTION_PRAGMAS, warnings)
        merged = _aws_settings(local.get("aws", []), config, aws.__dict__, warnings)
        for entry in local.get("aws", []):
            if entry.words[0].replace("-", "_") in APP_ONLY_SETTINGS:
                raise ManifestError(config, entry.line, f"{entry.words[0]} is set for the whole app in app.arc, not per function")
        settings = merged
        if "permissions" in local:
            permissions = grants.parse(local["permissions"], config, *declared)
    late = _timeout_warning(key, kind, settings, path)
    if late and warnings is not None:
        warnings.append(late)
    return Function(
        name=name,
        kind=kind,
        route_key=key,
        source_dir=folder,
        handler_file=handler_file,
        runtime=settings.runtime,
        architecture=settings.architecture,
        memory=settings.memory,
        timeout=settings.timeout,
        throttle_rate=settings.throttle_rate,
        throttle_burst=settings.throttle_burst,
        concurrency=settings.concurrency,
        permissions=permissions,
    )


def _table(entry: Entry, path: Path, warnings: list[str] | None = None) -> Table:
    if len(entry.words) != 1:
        raise ManifestError(path, entry.line, f"@tables expects a table name alone on its line, got {' '.join(entry.words)!r}")
    name = entry.words[0]
    if not _NAME.match(name):
        raise ManifestError(path, entry.line, f"table name {name!r}: use lowercase letters, digits and dashes")
    partition = sort = ttl = None
    options: dict[str, Any] = {}  # pitr: bool, encrypt: bool or a KMS key ARN
    for child in entry.children:
        if len(child.words) != 2 or not _ATTRIBUTE.match(child.words[0]):
            raise ManifestError(path, child.line, "expected '<attribute> *String', '<attribute> **String', '<attribute> TTL', 'PITR true' or 'encrypt true'")
        attribute, spec = child.words
        if attribute in TABLE_OPTIONS and not spec.startswith("*") and spec != "TTL":
            options[TABLE_OPTIONS[attribute]] = _table_option(attribute, spec, path, child.line)
            continue
        if attribute in ARCHITECT_TABLE_OPTIONS:
            warn(warnings, path, child.line, f"table option {attribute} is Architect's; this kit does not implement it and ignores it")
            continue
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
    return Table(name, partition, sort, ttl, **options)


def _table_option(option: str, value: str, path: Path, line: int) -> bool | str:
    """Architect's per-table options: `PITR true|false`, `encrypt true|false|<KMS key ARN>`."""
    if value in ("true", "false"):
        return value == "true"
    if TABLE_OPTIONS[option] == "encrypt" and re.match(r"^arn:[a-z-]+:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$", value):
        return value
    expected = "true, false or a KMS key ARN" if TABLE_OPTIONS[option] == "encrypt" else "true or false"
    raise ManifestError(path, line, f"{option} {value!r}: expected {expected}")


def _unique(items: list[str], path: Path, what: str) -> None:
    seen = set()
    for item in items:
        if item in seen:
            raise ManifestError(path, None, f"{what} {item!r} is declared twice")
        seen.add(item)
