"""The runtime contract under Architect (arc.codes), discovered from the variables it sets.

`arc sandbox` sets `ARC_SANDBOX` (JSON whose `ports` has `http`, `tables`, `events` and `_arc`) and
`ARC_APP_NAME`; its local database names tables `<app>-staging-<name>`, its Management API is at
`http://localhost:<_arc>/_arc/ws`, and it has no SQS: `POST http://localhost:<events>/queues` with
`{"name", "payload"}` invokes the queue's function at once with `{"Records": [{"body": <payload as
JSON>}]}` (architect/sandbox `src/events/_listener.js`). `arc deploy` sets `ARC_STACK_NAME` and keeps
each table's name in SSM at `/<stack>/tables/<name>` and each queue's URL at `/<stack>/queues/<name>`
(architect/functions `src/discovery`), which its functions' role may read. Each function here answers None
(or nothing) outside Architect; `shared.config` asks them only when the project's own variable is unset.
"""

import json
import os

_deployed: dict[str, dict[str, str]] | None = None  # type -> name -> value, read from SSM once per cold start


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
        return _deployed_services(stack, region).get("tables", {}).get(name)
    return None


def queue_url(name: str, region: str | None) -> str | None:
    """The URL of queue `name` under `arc deploy`; None elsewhere."""
    stack = os.environ.get("ARC_STACK_NAME")
    if stack:
        return _deployed_services(stack, region).get("queues", {}).get(name)
    return None


def sandbox_publish(name: str, payload: dict) -> None:
    """Hand `payload` to queue `name` under `arc sandbox` (its events port, path `/queues`)."""
    import urllib.request

    port = (sandbox_ports() or {}).get("events")
    if not port:
        raise RuntimeError("arc sandbox gave no events port for @queues (ARC_SANDBOX ports.events)")
    request = urllib.request.Request(f"http://localhost:{port}/queues", method="POST", data=json.dumps({"name": name, "payload": payload}).encode())
    with urllib.request.urlopen(request, timeout=5) as answer:
        answer.read()


def _deployed_services(stack: str, region: str | None) -> dict[str, dict[str, str]]:
    """Every `/<stack>/<type>/<name>` parameter (tables, queues), fetched with one paginated call per cold start."""
    global _deployed
    if _deployed is None:
        import boto3  # here: a function that never reads SSM (the page) does not import boto3 cold

        found: dict[str, dict[str, str]] = {}
        pages = boto3.client("ssm", region_name=region).get_paginator("get_parameters_by_path").paginate(Path=f"/{stack}", Recursive=True)
        for page in pages:
            for parameter in page["Parameters"]:
                parts = parameter["Name"].removeprefix(f"/{stack}/").split("/", 1)
                if len(parts) == 2:
                    found.setdefault(parts[0], {})[parts[1]] = parameter["Value"]
        _deployed = found
    return _deployed
