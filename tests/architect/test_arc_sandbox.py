"""The app, unchanged, under Architect's own sandbox (`arc sandbox`, Architect 12 on Node 22), over real sockets.

Architect and Node 22 come from the npm registry into the cache `make bench` uses
(`bench.architect.install`). The tests skip only when that registry cannot be reached; with
REQUIRE_ARCHITECT=1 (set by .ci/run) they fail instead. One `arc sandbox` serves the module, on free
ports, from a copy of the app (it writes `vendor/` into every function folder). Its Python runtime runs
`python3` and `pip3` from PATH: this venv's, first on PATH, so each function's requirements install from
PyPI.

Architect's behaviour checked here is its own (sandbox 9.0.0: `src/invoke-lambda`, `src/arc/_ws`,
`src/tables/create-table`); there is no AWS source for it. Architect runs no `$connect` authorizer and
has no Secrets Manager: the app's `$connect` checks the page's token itself, signed with the key the
project's own `.env` holds (`SIGNING_KEY`, written here with a random value, as a developer would).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
import websocket

from bench import architect
from tests.support.repo import ROOT
from tests.support.sandbox import free_port, wait_until

pytestmark = pytest.mark.timeout(600)  # the first run installs Architect and every function's requirements

START_TIMEOUT_S = 300
TABLE = "mywsapp-staging-connections"  # Architect's local name: <app>-staging-<table>


def _registry_unreachable() -> str | None:
    """Why the npm registry cannot be reached, or None when it answers."""
    npm = shutil.which("npm")
    if not npm:
        return None  # not a registry problem: a missing npm is a failure
    try:
        done = subprocess.run([npm, "ping"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "the npm registry did not answer `npm ping` within 60 s"
    if done.returncode != 0:
        first = (done.stderr or done.stdout).strip().splitlines()[:1]
        return "the npm registry is unreachable (`npm ping` failed" + (f": {first[0]})" if first else ")")
    return None


def _install() -> architect.Installation:
    try:
        return architect.install()
    except architect.Unavailable as problem:
        unreachable = _registry_unreachable()
        if unreachable and os.environ.get("REQUIRE_ARCHITECT") != "1":
            pytest.skip(f"{unreachable}; cannot install Architect ({problem})")
        pytest.fail(f"Architect cannot be installed: {problem}" + ("" if not unreachable else f" ({unreachable}; REQUIRE_ARCHITECT=1)"), pytrace=False)


class ArcSandbox:
    """`arc sandbox` on free ports in a copy of the app; its output collected for failure messages."""

    def __init__(self, installation: architect.Installation, workdir: Path):
        self.app = workdir / "app"
        for part in ("app.arc", "src", "public"):
            source = ROOT / part
            if source.is_dir():
                shutil.copytree(source, self.app / part, ignore=shutil.ignore_patterns("__pycache__", "vendor"))
            else:
                self.app.mkdir(parents=True, exist_ok=True)
                shutil.copy(source, self.app / part)
        (self.app / ".env").write_text(f"SIGNING_KEY={secrets.token_urlsafe(48)}\n")  # never committed: .gitignore
        self.http, self.tables, self.internal = free_port(), free_port(), free_port()
        env = architect.environment(self.http, self.tables, self.internal)
        self.output: list[str] = []
        self.process = subprocess.Popen(
            installation.command(),
            cwd=self.app,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def log(self) -> str:
        return "".join(self.output[-60:])

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if any("Local environment ready" in line for line in self.output):
                return
            if self.process.poll() is not None:
                raise AssertionError(f"arc sandbox exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.2)
        raise AssertionError(f"arc sandbox was not ready after {START_TIMEOUT_S} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://localhost:{self.http}{path}", timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def token(self) -> str:
        """A visitor's token, from the page as a browser gets it."""
        status, body = self.get("/")
        assert status == 200, self.log()
        return re.search(r'data-token="([^"]+)"', body)[1]

    def socket(self, origin: str | None = None, token: str | None = "") -> websocket.WebSocket:
        """A socket as the page opens one, offering `chat` and the page's token (None: no token)."""
        offered = None if token is None else ["chat", token or self.token()]
        return websocket.create_connection(f"ws://localhost:{self.http}", timeout=30, origin=origin or f"http://localhost:{self.http}", subprotocols=offered)

    def connection_ids(self) -> set[str]:
        db = boto3.client(
            "dynamodb", endpoint_url=f"http://localhost:{self.tables}", region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench"
        )
        return {item["connectionId"]["S"] for item in db.scan(TableName=TABLE)["Items"]}


@pytest.fixture(scope="module")
def arc(tmp_path_factory):
    installation = _install()
    sandbox = ArcSandbox(installation, tmp_path_factory.mktemp("arc"))
    try:
        sandbox.wait_ready()
        yield sandbox
    finally:
        sandbox.stop()


def receive(sock) -> dict:
    return json.loads(sock.recv())


def test_the_page_is_served_with_architects_socket_url(arc):
    status, body = arc.get("/")
    assert status == 200, arc.log()
    assert f'data-wss-url="ws://localhost:{arc.http}"' in body
    assert arc.get("/_static/index.mjs")[0] == 200


def test_a_message_is_echoed_through_architects_management_api(arc):
    sock = arc.socket()
    try:
        sock.send(json.dumps({"text": "hello arc"}))
        reply = receive(sock)
        assert reply["text"].endswith(" - Echoing hello arc"), (reply, arc.log())
    finally:
        sock.close()


def test_a_broadcast_reaches_every_open_socket(arc):
    first, second = arc.socket(), arc.socket()
    try:
        first.send(json.dumps({"action": "broadcast", "text": "to all"}))
        for sock in (first, second):
            reply = receive(sock)
            assert reply["broadcast"] is True and reply["text"].endswith(" - to all"), (reply, arc.log())
    finally:
        first.close()
        second.close()


def test_a_page_from_a_foreign_origin_is_refused_with_403(arc):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        arc.socket(origin="https://evil.example")
    assert refused.value.status_code == 403


def test_without_an_authorizer_connect_itself_refuses_a_socket_without_a_valid_token(arc):
    before = arc.connection_ids()
    for token in (None, "not.a.token"):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            arc.socket(token=token)
        assert refused.value.status_code == 401, arc.log()
    assert arc.connection_ids() <= before


def test_the_row_is_gone_after_disconnect(arc):
    before = arc.connection_ids()
    sock = arc.socket()
    sock.send(json.dumps({"text": "who am I"}))
    receive(sock)  # $connect has certainly finished: its row is there
    mine = wait_until(lambda: arc.connection_ids() - before, timeout=10, what="the new connection's row")
    sock.close()
    wait_until(lambda: not (mine & arc.connection_ids()), timeout=20, what=f"$disconnect to delete {mine}")
