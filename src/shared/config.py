"""The runtime contract: everything a handler learns about where it runs, from environment variables.

The same names are set by the sandbox, by the tests and by the deployed stack, so handlers never ask
which one they are in.
"""

import os


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
    """The Management API base URL: the WebSocket URL with `ws` replaced by `http`."""
    return "http" + wss_url()[2:]


def table_name(name: str) -> str:
    """The physical name of the table declared as `name` under @tables (`ARC_TABLE_<NAME>`)."""
    return _required("ARC_TABLE_" + name.upper().replace("-", "_"))


def allowed_origins() -> frozenset[str]:
    """`ARC_ALLOWED_ORIGINS`: comma-separated origins whose pages may open a socket (empty: none)."""
    raw = os.environ.get("ARC_ALLOWED_ORIGINS", "")
    return frozenset(o.strip().rstrip("/") for o in raw.split(",") if o.strip())

