"""The runtime contract under Architect (arc.codes), discovered from the variables it sets.

`arc sandbox` sets `ARC_SANDBOX` (JSON whose `ports` has `http`, `tables` and `_arc`) and
`ARC_APP_NAME`; its local database names tables `<app>-staging-<name>`, and its Management API is at
`http://localhost:<_arc>/_arc/ws`. `arc deploy` sets `ARC_STACK_NAME` and keeps each table's name in
SSM at `/<stack>/tables/<name>`, which its functions' role may read. Each function here answers None
(or nothing) outside Architect; `shared.config` asks them only when the project's own variable is unset.
"""

import json
import os

_deployed_tables: dict[str, str] | None = None  # read from SSM once per cold start


def sandbox_ports() -> dict | None:
    """`arc sandbox`'s ports, or None when not running under it."""
    try:
        ports = json.loads(os.environ.get("ARC_SANDBOX") or "null")["ports"]
    except (ValueError, TypeError, KeyError):
        return None
    return ports if isinstance(ports, dict) else None


def sandbox_management_endpoint(wss_url: str) -> str | None:
    """Architect's local Management API when `wss_url` is the one `arc sandbox` gives its functions."""
    ports = sandbox_ports() or {}
    if ports.get("_arc") and wss_url == f"ws://localhost:{ports.get('http')}":
        return f"http://localhost:{ports['_arc']}/_arc/ws"
    return None


def sandbox_tables_endpoint() -> str | None:
    """`arc sandbox`'s local DynamoDB."""
    ports = sandbox_ports() or {}
    return f"http://localhost:{ports['tables']}" if ports.get("tables") else None


def sandbox_origins() -> tuple[str, ...]:
    """The origins of `arc sandbox`'s own page."""
    ports = sandbox_ports() or {}
    if not ports.get("http"):
        return ()
    return (f"http://localhost:{ports['http']}", f"http://127.0.0.1:{ports['http']}")


def table_name(name: str, region: str | None) -> str | None:
    """The physical name of table `name` under `arc sandbox` or `arc deploy`; None elsewhere."""
    app = os.environ.get("ARC_APP_NAME")
    if sandbox_ports() is not None and app:
        return f"{app}-staging-{name}"
    stack = os.environ.get("ARC_STACK_NAME")
    if stack:
        return _deployed_table_names(stack, region).get(name)
    return None


def _deployed_table_names(stack: str, region: str | None) -> dict[str, str]:
    """Every `/<stack>/tables/<name>` parameter, fetched with one paginated call per cold start."""
    global _deployed_tables
    if _deployed_tables is None:
        import boto3  # here: a function that never reads SSM (the page) does not import boto3 cold

        prefix = f"/{stack}/tables/"
        pages = boto3.client("ssm", region_name=region).get_paginator("get_parameters_by_path").paginate(Path=prefix.rstrip("/"))
        _deployed_tables = {p["Name"].removeprefix(prefix): p["Value"] for page in pages for p in page["Parameters"]}
    return _deployed_tables
