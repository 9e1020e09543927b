"""The `@permissions` grammar of a function's config.arc, IAM's rules for a statements file, and
botocore's list of DynamoDB actions: what a function declares it may touch, validated line by line.

devkit/permissions.py turns a declaration into the IAM policy deploy writes and the sandbox enforces.
"""

from __future__ import annotations

import difflib
import functools
import gzip
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

from devkit.arc import Entry
from devkit.errors import ManifestError

# `@permissions` in a function's config.arc: one grant per line.
PERMISSION_FORMS = (
    "'table <name> <Action> ...' (DynamoDB actions on a table from @tables)",
    "'manage-connections POST|GET|DELETE ...' (the Management API: send, describe, close)",
    "'queue <name> send' (send messages to a queue from @queues)",
    "'statements <file>.json' (IAM statements for other services, next to config.arc)",
    "'secret <name>' (read a secret the stack and the sandbox generate: secretsmanager:GetSecretValue)",
)
SECRET_NAME = re.compile(r"^[a-z][a-z0-9-]{0,49}$")
QUEUE_RIGHTS = ("send",)
MANAGEMENT_METHODS = ("POST", "GET", "DELETE")
# DynamoDB operations IAM does not authorize under their own name: a transaction is authorized item by
# item (PutItem, UpdateItem, DeleteItem, ConditionCheckItem, GetItem), PartiQL as PartiQLSelect etc.
NOT_IAM_ACTIONS = {
    "TransactWriteItems": "declare the actions of its items: PutItem, UpdateItem, DeleteItem, ConditionCheckItem",
    "TransactGetItems": "declare GetItem, the action of its items",
    "ExecuteStatement": "PartiQL is authorized as PartiQLSelect, PartiQLInsert, ...: use a statements file",
    "BatchExecuteStatement": "PartiQL is authorized as PartiQLSelect, PartiQLInsert, ...: use a statements file",
    "ExecuteTransaction": "PartiQL is authorized as PartiQLSelect, PartiQLInsert, ...: use a statements file",
}
EXTRA_IAM_ACTIONS = ("ConditionCheckItem",)  # an IAM action with no API operation of its own


@dataclass(frozen=True)
class TableGrant:
    """DynamoDB actions (as IAM names them, without `dynamodb:`) on one table from `@tables`."""

    table: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Permissions:
    """What a function declares under `@permissions` in its config.arc (devkit/permissions.py turns it
    into an IAM policy). `statements` are IAM statements copied verbatim from the declared JSON file."""

    source: Path  # the config.arc that declares them
    tables: tuple[TableGrant, ...] = ()
    manage_connections: tuple[str, ...] = ()  # Management API methods: POST, GET, DELETE
    statements: tuple[dict, ...] = ()
    secrets: tuple[str, ...] = ()  # secrets it reads: each made with a random value by the stack and the sandbox
    send_to: tuple[str, ...] = ()  # queues from @queues it may send to


def parse(entries: list[Entry], config: Path, tables: tuple[str, ...], queues: tuple[str, ...] = ()) -> Permissions:
    """Validate `@permissions` lines (see PERMISSION_FORMS); every problem names its line."""
    grants: dict[str, TableGrant] = {}
    methods: list[str] = []
    statements: list[dict] = []
    secrets: list[str] = []
    send_to: list[str] = []
    for entry in entries:
        kind, *rest = entry.words
        if entry.children:
            raise ManifestError(config, entry.children[0].line, "@permissions takes one grant per line, not indented lines")
        if kind == "table" and len(rest) >= 2:
            table, actions = rest[0], tuple(a.removeprefix("dynamodb:") for a in rest[1:])
            if table not in tables:
                known = ", ".join(tables) or "none"
                raise ManifestError(config, entry.line, f"table {table!r} is not declared in app.arc's @tables (declared: {known})")
            if table in grants:
                raise ManifestError(config, entry.line, f"table {table!r} has a line already; put all its actions on that line")
            for action in actions:
                _check_dynamodb_action(action, config, entry.line)
            grants[table] = TableGrant(table, tuple(dict.fromkeys(actions)))
        elif kind == "manage-connections" and rest:
            for method in rest:
                if method not in MANAGEMENT_METHODS:
                    raise ManifestError(config, entry.line, f"manage-connections {method!r}: expected POST, GET or DELETE")
            methods += [m for m in rest if m not in methods]
        elif kind == "secret" and len(rest) == 1:
            if not SECRET_NAME.match(rest[0]):
                raise ManifestError(config, entry.line, f"secret {rest[0]!r}: use lowercase letters, digits and dashes")
            secrets += [rest[0]] if rest[0] not in secrets else []
        elif kind == "queue" and len(rest) == 2:
            queue, right = rest
            if queue not in queues:
                known = ", ".join(queues) or "none"
                raise ManifestError(config, entry.line, f"queue {queue!r} is not declared in app.arc's @queues (declared: {known})")
            if right not in QUEUE_RIGHTS:
                raise ManifestError(
                    config, entry.line, f"queue {queue} {right!r}: expected 'send' (a consumer's receive and delete rights come with its queue)"
                )
            send_to += [queue] if queue not in send_to else []
        elif kind == "statements" and len(rest) == 1:
            statements += _statements_file(config.parent / rest[0], config, entry.line)
        else:
            raise ManifestError(config, entry.line, "expected one of " + "; ".join(PERMISSION_FORMS))
    return Permissions(config, tuple(grants.values()), tuple(methods), tuple(statements), secrets=tuple(secrets), send_to=tuple(send_to))


def _check_dynamodb_action(action: str, config: Path, line: int) -> None:
    if action in NOT_IAM_ACTIONS:
        raise ManifestError(config, line, f"{action} is not authorized by its own name: {NOT_IAM_ACTIONS[action]}")
    known = dynamodb_actions()
    if action not in known:
        close = difflib.get_close_matches(action, known, n=1)
        hint = f"did you mean {close[0]}?" if close else "expected an operation such as GetItem, PutItem, Query or Scan"
        raise ManifestError(config, line, f"{action!r} is not a DynamoDB action; {hint}")


@functools.cache
def dynamodb_actions() -> tuple[str, ...]:
    """The DynamoDB actions a `table` line accepts: botocore's operations, as IAM authorizes them."""
    operations = _model_operations("dynamodb")
    return tuple(sorted(set(operations) - set(NOT_IAM_ACTIONS) | set(EXTRA_IAM_ACTIONS)))


def _model_operations(service: str) -> list[str]:
    """The operation names in botocore's model of `service` (its newest API version).

    Read straight from botocore's data layout, `botocore/data/<service>/<api-version>/service-2.json[.gz]`:
    importing botocore's session (or even its loader) to read one file took 200-400 ms of the sandbox's
    start. botocore's own `Loader` stays the fallback for an installation laid out otherwise.
    """
    model = _model_file(service)
    if model is not None:
        data = model.read_bytes()
        return list(json.loads(gzip.decompress(data) if model.suffix == ".gz" else data)["operations"])
    from botocore.loaders import Loader

    return list(Loader().load_service_model(service, "service-2")["operations"])


def _model_file(service: str) -> Path | None:
    """`service-2.json[.gz]` of `service`'s newest API version in botocore's data folder, or None."""
    spec = importlib.util.find_spec("botocore")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / service
    versions = sorted((p for p in folder.iterdir() if p.is_dir()), reverse=True) if folder.is_dir() else []
    for version in versions:  # API versions are dates (YYYY-MM-DD): the newest sorts last
        for name in ("service-2.json", "service-2.json.gz"):
            if (version / name).is_file():
                return version / name
    return None


def _statements_file(path: Path, config: Path, line: int) -> list[dict]:
    """IAM statements from a JSON file: a list of statements, or a policy document with `Statement`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(config, line, f"no such file {path.name} next to config.arc") from None
    except json.JSONDecodeError as error:
        raise ManifestError(path, error.lineno, f"not valid JSON ({error.msg})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(path, None, f"cannot read it ({error})") from None
    statements = document.get("Statement") if isinstance(document, dict) else document
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise ManifestError(path, None, 'expected a list of IAM statements or {"Statement": [...]}')
    for number, statement in enumerate(statements, start=1):
        problem = _statement_problem(statement)
        if problem:
            raise ManifestError(path, None, f"statement {number}: {problem}")
    return statements


def _statement_problem(statement) -> str | None:
    """What makes `statement` unusable as an identity-based IAM statement, or None."""
    if not isinstance(statement, dict):
        return "expected an object with Effect, Action and Resource"
    if statement.get("Effect") not in ("Allow", "Deny"):
        return "Effect must be Allow or Deny"
    if ("Action" in statement) == ("NotAction" in statement):
        return "expected exactly one of Action or NotAction"
    if ("Resource" in statement) == ("NotResource" in statement):
        return "expected exactly one of Resource or NotResource"
    if "Principal" in statement or "NotPrincipal" in statement:
        return "a role's statements name no Principal"
    for key in ("Action", "NotAction", "Resource", "NotResource"):
        values = statement.get(key, [])
        values = [values] if isinstance(values, str) else values
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            return f"{key} must be a string or a list of strings"
        if key.endswith("Action") and any(v == "*" or ":" not in v for v in values):
            return f"{key}: name each action as service:Action ('*' would grant everything)"
        if key.endswith("Resource") and any(v.startswith("arn:aws:") for v in values):
            return f"{key}: write arn:${{AWS::Partition}}:... so the role works in every partition"
    return None
