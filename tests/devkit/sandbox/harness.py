"""Start the real sandbox (`python -m devkit sandbox`) on a free port, as a user would, and stop it."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures"
DUMMY_AWS = {"region_name": "us-east-1", "aws_access_key_id": "sandbox", "aws_secret_access_key": "sandbox"}
SHORT = Config(connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 1})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def copy_fixture(name: str, destination: Path) -> Path:
    """A private copy of tests/fixtures/<name>, so handlers may write records next to it."""
    target = destination / name
    shutil.copytree(FIXTURES / name, target, ignore=shutil.ignore_patterns("__pycache__", "records"))
    return target


class RunningSandbox:
    def __init__(self, app_dir: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = (),
                 wait: bool = True, log_dir: Path | None = None, popen: dict | None = None):
        self.app_dir = app_dir
        self.port = free_port()
        self.log_path = (log_dir or app_dir) / f"sandbox-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devkit", "--app", str(app_dir / "app.arc"), "sandbox", "--port", str(self.port), *args],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, **(popen or {}),
        )
        if wait:
            self.wait_until_ready()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def records(self) -> Path:
        return self.app_dir / "records"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def dynamodb_endpoint(self) -> str:
        """The embedded DynamoDB's URL, as the banner prints it."""
        return re.search(r"dynamodb +(\S+)", self.output())[1]

    def dynamodb(self):
        """A boto3 DynamoDB client on the sandbox's database, with short timeouts."""
        return boto3.client("dynamodb", endpoint_url=self.dynamodb_endpoint, config=SHORT, **DUMMY_AWS)

    def management(self):
        """boto3's Management API client on the sandbox, exactly as a handler's would be."""
        return boto3.client("apigatewaymanagementapi", endpoint_url=self.url, **DUMMY_AWS)

    def connection_ids(self, table: str) -> set[str]:
        """Every `connectionId` in `table`, following Scan's pagination."""
        pages = self.dynamodb().get_paginator("scan").paginate(TableName=table)
        return {item["connectionId"]["S"] for page in pages for item in page["Items"]}

    def wait_until_ready(self, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "sandbox ready" in self.output():
                return time.monotonic() - self.started
            if self.process.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {self.process.returncode}:\n{self.output()}")
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"the sandbox was not ready within {timeout} s:\n{self.output()}")

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

    def stop(self, signum: int = signal.SIGINT, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def start_app(log_dir: Path, env: dict[str, str] | None = None, kind: type = RunningSandbox):
    """The repository's own app (app.arc at the root) in the real sandbox; its log goes to `log_dir`."""
    return kind(ROOT, env=env, args=("--no-reload",), log_dir=log_dir)


def wait_until(condition, timeout: float = 10, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def children_of(pid: int) -> set[int]:
    """Every live descendant process of `pid` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def session_members(session_ids: set[int]) -> set[int]:
    """Live processes whose session id is one of `session_ids` (workers run in their own sessions)."""
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) in session_ids and fields[0] != "Z":
                members.add(int(entry.name))
    return members
