"""How to start each server under test, each on a free port of 127.0.0.1.

- the sandbox: `python -m devkit --app <app.arc> sandbox --port P --quiet --no-reload` from the
  repository root (no reload: an edit elsewhere in the checkout must not restart its workers mid-run);
  ready when `GET /` answers 200 (the app's page), measured from process start: the start-up figure.
  Its sockets offer the subprotocols the app's smoke.json declares (its page's token), read from the page.
- the floor: `python -m bench.floor --port P`; ready on 200.
- Architect's sandbox: its CLI under Node 22 in the generated app's folder; ready when `GET /`
  answers at all (that app has no @http, so Architect answers 403).
"""

from __future__ import annotations

import os
import sys
from functools import partial
from pathlib import Path

from bench import architect, client, processes
from devkit.deploy import smoke, smoke_declaration
from devkit.sandbox.dynamodb import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]


def start_sandbox(log_dir: Path, app: Path | None = None, *, name: str = "sandbox", timeout_s: float = 60.0, reload: bool = False) -> processes.Server:
    """`reload`: watch the app's src/ (only for a copy of the app: edits in the checkout would restart it)."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "devkit",
        "--app",
        str(app or REPO_ROOT / "app.arc"),
        "sandbox",
        "--port",
        str(port),
        "--quiet",
        *([] if reload else ["--no-reload"]),
    ]
    server = processes.start(name, argv, port=port, cwd=REPO_ROOT, log_dir=log_dir, env=dict(os.environ), timeout_s=timeout_s)
    declared = smoke_declaration.path_for(app or REPO_ROOT / "app.arc")
    if declared.is_file():  # the subprotocols its page offers (the app's token), as its smoke test does
        client.offer(server.ws_url, partial(smoke.page_subprotocols, server.http_url, smoke_declaration.load(declared)))
    return server


def start_floor(log_dir: Path) -> processes.Server:
    port = free_port()
    argv = [sys.executable, "-m", "bench.floor", "--port", str(port)]
    return processes.start("floor", argv, port=port, cwd=REPO_ROOT, log_dir=log_dir, env=dict(os.environ), timeout_s=30.0)


def start_architect(installation: architect.Installation, app_dir: Path, log_dir: Path) -> processes.Server:
    http_port, tables_port, arc_port = processes.free_ports(3)
    env = architect.environment(http_port, tables_port, arc_port)
    return processes.start(
        "architect", installation.command(), port=http_port, cwd=app_dir, log_dir=log_dir, env=env, ready=lambda status: status is not None, timeout_s=90.0
    )
