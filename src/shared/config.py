"""The runtime contract: everything a handler learns about where it runs, from environment variables.

The same names are set by the sandbox, by the tests and by the deployed stack, so handlers never ask
which one they are in. Under Architect (`arc sandbox`, `arc deploy`), which sets its own variables
instead, the missing ones are discovered here (see `shared.architect`); the project's own variables
win whenever they are set.
"""

import os

from shared import architect


class ConfigError(RuntimeError):
    """A variable of the runtime contract is missing."""


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigError(f"environment variable {name} is not set (see the runtime contract in README.md)")
    return value


def wss_url() -> str:
    """`ARC_WSS_URL`: ws://localhost:3333 locally, wss://{api}.execute-api.{region}.amazonaws.com/{stage} on AWS."""
    return _required("ARC_WSS_URL")


def management_endpoint() -> str:
    """The Management API base URL: the WebSocket URL with `ws` replaced by `http`.

    Under `arc sandbox` the Management API is on Architect's internal port instead; Architect sets
    `ARC_WSS_URL` itself there (users cannot), so its value tells the two apart.
    """
    url = wss_url()
    return architect.sandbox_management_endpoint(url) or "http" + url[2:]


def region() -> str | None:
    """`AWS_DEFAULT_REGION`, else `AWS_REGION` (all Architect sets; boto3 reads only the former)."""
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or None


def dynamodb_endpoint() -> str | None:
    """`AWS_ENDPOINT_URL_DYNAMODB`, else Architect's local database under `arc sandbox`; None on AWS."""
    return os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or architect.sandbox_tables_endpoint()


def table_name(name: str) -> str:
    """The physical name of the table declared as `name` under @tables (`ARC_TABLE_<NAME>`)."""
    variable = "ARC_TABLE_" + name.upper().replace("-", "_")
    if os.environ.get(variable):
        return os.environ[variable]
    found = architect.table_name(name, region())
    if found:
        return found
    return _required(variable)


def queue_url(name: str) -> str | None:
    """The URL of the queue declared as `name` under @queues (`ARC_QUEUE_<NAME>`); under `arc deploy`
    Architect's SSM parameter; None under `arc sandbox`, which has no SQS (see `shared.queue`)."""
    variable = "ARC_QUEUE_" + name.upper().replace("-", "_")
    if os.environ.get(variable):
        return os.environ[variable]
    if architect.sandbox_ports() is not None:
        return None
    found = architect.queue_url(name, region())
    return found or _required(variable)


def allowed_origins() -> frozenset[str]:
    """`ARC_ALLOWED_ORIGINS`: comma-separated origins whose pages may open a socket (empty: none).

    Unset under `arc sandbox`: its own page's origins. Unset elsewhere (`arc deploy`): none.
    """
    raw = os.environ.get("ARC_ALLOWED_ORIGINS")
    if raw is None:
        raw = ",".join(architect.sandbox_origins())
    return frozenset(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
