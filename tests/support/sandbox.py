"""The kit's tests' handle on the real sandbox: devkit.testing's `SandboxProcess` (the one factory that
starts `python -m devkit sandbox --port 0`) plus what the kit's tests inspect (records, the Management
API, the table's rows), a fixture factory for the fixture apps under tests/fixtures/, and waiting helpers.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import psutil
import pytest
from botocore.config import Config

from devkit.contract import DUMMY_CREDENTIALS
from devkit.manifest import Manifest
from devkit.sandbox.dynamodb import free_port  # noqa: F401  (for tests: a port nothing listens on now)
from devkit.sandbox.limits import Limits
from devkit.sandbox.log import Log
from devkit.sandbox.server import Sandbox
from devkit.testing.process import SandboxProcess
from tests.support.repo import FIXTURES, ROOT

# boto3 keyword arguments for the sandbox's own services: its region and the contract's dummy keys.
DUMMY_AWS = {
    "region_name": "us-east-1",
    "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
    "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
}
SHORT = Config(connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 1})


def copy_fixture(name: str, destination: Path) -> Path:
    """A private copy of tests/fixtures/<name>, so handlers may write records next to it."""
    target = destination / name
    shutil.copytree(FIXTURES / name, target, ignore=shutil.ignore_patterns("__pycache__", "records"))
    return target


class RunningSandbox(SandboxProcess):
    """The sandbox serving `app_dir`'s app in a child process; its output goes to `log_path` (in
    `log_dir`, else `app_dir`). Use it as a context manager (or call `stop()`)."""

    def __init__(
        self,
        app_dir: Path,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        wait: bool = True,
        log_dir: Path | None = None,
        popen: dict | None = None,
    ):
        """`popen`: extra subprocess.Popen arguments (e.g. a `preexec_fn` that lowers a limit)."""
        self.app_dir = app_dir
        super().__init__(app_dir / "app.arc", args=args, env=env, log_dir=log_dir or app_dir, wait=wait, popen=popen)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def records(self) -> Path:
        return self.app_dir / "records"

    def dynamodb(self):
        """A boto3 DynamoDB client on the sandbox's database, with short timeouts."""
        return boto3.client("dynamodb", endpoint_url=self.dynamodb_endpoint, config=SHORT, **DUMMY_AWS)

    def management(self):
        """boto3's Management API client on the sandbox, exactly as a handler's would be."""
        return boto3.client("apigatewaymanagementapi", endpoint_url=self.url, **DUMMY_AWS)

    def page_token(self) -> str:
        """A visitor's token, read from the page as a browser gets it (the app's `data-token`)."""
        status, _, body = self.get("/")
        assert status == 200, f"GET / answered {status}"
        return re.search(r'data-token="([^"]+)"', body.decode())[1]

    def secret(self, physical_name: str) -> str:
        """The value of a secret the sandbox generated (`secret <name>` grants) in its embedded moto."""
        client = boto3.client("secretsmanager", endpoint_url=self.dynamodb_endpoint, config=SHORT, **DUMMY_AWS)
        return client.get_secret_value(SecretId=physical_name)["SecretString"]

    def connection_ids(self, table: str) -> set[str]:
        """Every `connectionId` in `table`, following Scan's pagination."""
        pages = self.dynamodb().get_paginator("scan").paginate(TableName=table)
        return {item["connectionId"]["S"] for page in pages for item in page["Items"]}

    def wait_for_output(self, text: str, timeout: float = 10) -> None:
        wait_until(lambda: text in self.output(), timeout, f"{text!r} in the sandbox's output")

    def read_records(self, kind: str, connection_id: str) -> list[dict]:
        path = self.records / f"{kind}-{connection_id.rstrip('=')}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def get(self, path: str, headers: dict | None = None):
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()


def start_app(log_dir: Path, env: dict[str, str] | None = None, kind: type[RunningSandbox] = RunningSandbox):
    """The repository's own app (app.arc at the root) in the real sandbox; its log goes to `log_dir`."""
    return kind(ROOT, env=env, args=("--no-reload",), log_dir=log_dir)


def app_fixture(scope: str, kind: type[RunningSandbox] = RunningSandbox, after: tuple[str, ...] = ()):
    """A pytest fixture serving the repository's own app in the real sandbox, shared at `scope`.

    `after` names fixtures to set up first (the browser suite's `chromium`, so that it skips first).
    """

    @pytest.fixture(scope=scope)
    def app_in_sandbox(request, tmp_path_factory) -> Iterator[RunningSandbox]:
        for name in after:
            request.getfixturevalue(name)
        with start_app(tmp_path_factory.mktemp("app-sandbox"), kind=kind) as sandbox:
            yield sandbox

    return app_in_sandbox


def fixture_app(name: str, scope: str = "module", env: dict[str, str] | None = None, kind: type[RunningSandbox] = RunningSandbox):
    """A pytest fixture serving a private copy of the fixture app tests/fixtures/<name> in the real
    sandbox (no reloading), shared at `scope`; `env` is added to the sandbox's environment, and a
    parametrized fixture's `request.param` (a dict) too."""

    @pytest.fixture(scope=scope)
    def fixture_in_sandbox(request, tmp_path_factory) -> Iterator[RunningSandbox]:
        app_dir = copy_fixture(name, tmp_path_factory.mktemp("app"))
        with kind(app_dir, env={**(env or {}), **(getattr(request, "param", None) or {})}, args=("--no-reload",)) as sandbox:
            yield sandbox

    return fixture_in_sandbox


class InProcess:
    """The sandbox running in this process, on an event loop in a thread of its own, for tests that
    drive its injectable clocks (`enforce_time_limits(now=)`, `reap_idle(now=)`) or change its inventory.

    `run(coroutine)` runs a coroutine on the sandbox's loop and returns its result.
    """

    def __init__(self, app: Manifest, limits: Limits | None = None):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.sandbox = Sandbox(app, port=0, limits=limits, log=Log(quiet=True), reload=False)
        self.run(self.sandbox.start())

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.sandbox.port}/"

    def run(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def __enter__(self) -> InProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.run(self.sandbox.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)


def wait_until(condition, timeout: float = 10, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def holds(condition, seconds: float, what: str = "the condition") -> None:
    """Poll `condition` for `seconds`, failing the moment it is false: for "never happens" and
    "exactly once" claims, which a single look after a fixed sleep could pass by luck of timing."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not condition():
            raise AssertionError(f"{what} stopped holding after {seconds - (deadline - time.monotonic()):.2f} s")
        time.sleep(0.02)


def children_of(pid: int) -> set[int]:
    """Every live descendant process of `pid`."""
    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def session_members(session_ids: set[int]) -> set[int]:
    """Live processes whose session id is one of `session_ids` (workers run in their own sessions)."""
    members = set()
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) in session_ids and process.status() != psutil.STATUS_ZOMBIE:
                members.add(process.pid)
        except (OSError, psutil.NoSuchProcess):
            continue
    return members
