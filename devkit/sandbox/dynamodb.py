"""The embedded DynamoDB: moto's server in a child process on 127.0.0.1, tables from `@tables`, each
function's calls judged against its policy first (devkit/sandbox/dynamodb_server.py).

The child creates the manifest's tables itself before it reports ready and keeps them afterwards (it has
boto3 loaded anyway), so the sandbox's own process never imports boto3; `Tables` is what both use, the
sandbox's process only for a DynamoDB of the developer's own (`--dynamodb-endpoint`).

moto accepts a table's TTL setting but never deletes anything, so `sweep_expired` does what DynamoDB's
TTL does (DynamoDB takes up to a few days; the sandbox sweeps every `ttl_sweep_seconds`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import functools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from devkit.contract import DUMMY_CREDENTIALS
from devkit.manifest import Key, Table

KIT_PARENT = Path(__file__).resolve().parents[2]  # where `devkit` is importable from, for the child


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class OutOfFiles(Exception):
    """This process has no file descriptor left to open a connection with (EMFILE or ENFILE)."""


class EmbeddedDynamoDB:
    """moto's server as a child process; `endpoint` (fixed at creation) answers once `start()` returns.

    `tables` (physical name -> declaration) exist once `start()` returns: the child creates them, then
    keeps them (vanished ones recreated, expired items swept every `ttl_sweep_seconds`), and each such
    event is handed to `on_log` as one line. `policies` (JSON from devkit/sandbox/iam.py, or None for no
    checks) says what each function may do; each denial is handed to `on_denial` as a dict
    `{"function", "action", "resource"}`. Both are called from a thread of their own.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        policies: str | None = None,
        on_denial=None,
        tables: dict[str, Table] | None = None,
        region: str = "us-east-1",
        on_log=None,
        ttl_sweep_seconds: float = 30.0,
        secrets: tuple[str, ...] = (),
        queues: str = "",
        on_queues=None,
    ):
        """`secrets`: Secrets Manager secrets to create with a random value (dynamodb_server.py). `queues`:
        the queues to create, as devkit/sandbox/queues.py `specs_to_json` writes them; they are made after
        `start()` returns, and `on_queues("ready" or "error: ...")` is then called."""
        self.host, self.tables, self.region, self.queues = host, tables or {}, region, queues
        self.secrets, self.on_queues = secrets, on_queues
        self.port = free_port(host)
        self.endpoint = f"http://{host}:{self.port}"
        self.process: subprocess.Popen | None = None
        self._errors: IO[bytes] | None = None  # the server's stderr, for the message when it fails to start
        self.policies, self.on_denial, self.on_log = policies, on_denial, on_log
        self.ttl_sweep_seconds = ttl_sweep_seconds
        self._policies_applied = threading.Event()

    def start(self, timeout: float = 15.0) -> None:
        port = self.port
        if self._errors is not None:  # a restart: the last run's file is done with
            self._errors.close()
        # moto's server (werkzeug) logs every request to stderr. Its stderr goes to a file, never to a
        # pipe nobody reads: a full pipe (64 KB, about 1,000 requests) froze the database for good.
        # Request lines are turned off too, so the file holds only errors, for the message below.
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115  # open while the server runs; closed in stop()
        denials, report = os.pipe()  # read here by a thread of its own, so it never fills up
        env = dict(
            os.environ,
            DEVKIT_IAM_POLICIES=self.policies or "",
            DEVKIT_TABLES=tables_to_json(self.tables),
            DEVKIT_QUEUES=self.queues,
            DEVKIT_TABLES_REGION=self.region,
            DEVKIT_TTL_SWEEP_SECONDS=str(self.ttl_sweep_seconds),
            DEVKIT_SECRETS=",".join(self.secrets),
            PYTHONPATH=os.pathsep.join(p for p in (str(KIT_PARENT), os.environ.get("PYTHONPATH")) if p),
        )
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devkit.sandbox.dynamodb_server", str(os.getpid()), str(report), "-H", self.host, "-p", str(port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._errors,
                start_new_session=True,
                pass_fds=(report,),
                env=env,
            )
        finally:
            os.close(report)
        threading.Thread(target=self._read_reports, args=(denials,), daemon=True, name="database-reports").start()
        # The child prints one line on stdout once it serves and the tables exist (dynamodb_server.py).
        assert self.process.stdout is not None
        with self.process.stdout as said:
            readable, _, _ = select.select([said], [], [], timeout)
            line = said.readline() if readable else b""
        if line.strip() == b"ready":
            return
        self._errors.seek(0)
        errors = self._errors.read().decode(errors="replace")[-500:]
        self.stop()
        if readable:  # the child closed its stdout: it exited
            raise RuntimeError(f"the embedded DynamoDB (moto) exited: {errors or line.decode(errors='replace')}")
        raise RuntimeError(f"the embedded DynamoDB did not answer on {self.endpoint} within {timeout:.0f} s")

    def _read_reports(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as lines:
            for line in lines:  # ends when the server exits
                try:
                    report = json.loads(line)
                    if "policies" in report:
                        self._policies_applied.set()
                    if "queues" in report:
                        if self.on_queues is not None:
                            self.on_queues(report["queues"])
                    elif "log" in report:
                        if self.on_log is not None:
                            self.on_log(report["log"])
                    elif self.on_denial is not None:
                        self.on_denial(report)
                except Exception:  # a report must never stop the reading
                    pass

    def use_policies(self, policies: str, timeout: float = 5.0) -> bool:
        """Judge by `policies` from now on (and after a restart); True once the server has them."""
        self.policies = policies
        if self.process is None or self.process.poll() is not None or self.process.stdin is None:
            return False
        self._policies_applied.clear()
        try:
            self.process.stdin.write(policies.encode() + b"\n")
            self.process.stdin.flush()
        except OSError:
            return False
        return self._policies_applied.wait(timeout)

    def answers(self, timeout: float) -> bool:
        """True when the server answers a request within `timeout` seconds; raises OutOfFiles when this
        process cannot even open the connection to ask (the fault is then the sandbox's, not the database's)."""
        try:
            urllib.request.urlopen(self.endpoint + "/moto-api/", timeout=timeout).close()
            return True
        except OSError as error:
            cause = error.reason if isinstance(error, urllib.error.URLError) else error
            if isinstance(cause, OSError) and cause.errno in (errno.EMFILE, errno.ENFILE):
                raise OutOfFiles(cause.strerror or "Too many open files") from None
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdin is not None:
            self.process.stdin.close()
        if self._errors is not None:
            self._errors.close()


class Tables:
    """Create the manifest's tables on an endpoint and sweep their expired items."""

    def __init__(self, endpoint: str, region: str, tables: dict[str, Table]):
        self.endpoint, self.region = endpoint, region
        self.tables = tables  # physical name -> declaration

    @functools.cached_property
    def client(self):
        """A DynamoDB client, made on first use (from a thread): boto3 is not imported while the sandbox starts."""
        return self.session_client("dynamodb")

    def session_client(self, service: str):
        """A boto3 client of `service` on this endpoint, with the dummy keys and short timeouts."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            # A stalled database must not hold a sweep (and the sandbox's exit) for botocore's 60 s x retries.
            config=Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 2}),
        )

    def missing(self) -> list[str]:
        """The manifest's tables that do not exist on the endpoint (ListTables, every page)."""
        pages = self.client.get_paginator("list_tables").paginate()
        existing = {name for page in pages for name in page["TableNames"]}
        return [name for name in self.tables if name not in existing]

    def create(self) -> list[str]:
        """Create each table that does not exist yet, with its keys and TTL setting; returns their names."""
        created = self.missing()
        for name in created:
            table = self.tables[name]
            self.client.create_table(
                TableName=name,
                KeySchema=table.key_schema(),
                AttributeDefinitions=table.attribute_definitions(),
                BillingMode="PAY_PER_REQUEST",
            )
            if table.ttl_attribute:
                self.client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute})
        return created

    def sweep_expired(self, now: float | None = None) -> int:
        """Delete every item whose TTL attribute is in the past; returns how many."""
        now = time.time() if now is None else now
        deleted = 0
        for name, table in self.tables.items():
            if not table.ttl_attribute:
                continue
            keys = [key.name for key, _ in table.keys]
            pages = self.client.get_paginator("scan").paginate(
                TableName=name,
                FilterExpression="#ttl < :now",
                ExpressionAttributeNames={"#ttl": table.ttl_attribute},
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
            for page in pages:
                for item in page["Items"]:
                    self.client.delete_item(TableName=name, Key={k: item[k] for k in keys})
                    deleted += 1
        return deleted


def tables_to_json(tables: dict[str, Table]) -> str:
    """Physical name -> declaration, as JSON for the database's child process (`tables_from_json`)."""
    return json.dumps({name: dataclasses.asdict(table) for name, table in tables.items()})


def tables_from_json(text: str) -> dict[str, Table]:
    def key(value: dict | None) -> Key | None:
        return Key(**value) if value else None

    return {
        name: Table(**dict(fields, partition_key=key(fields["partition_key"]), sort_key=key(fields["sort_key"])))
        for name, fields in json.loads(text or "{}").items()
    }


async def sweep_forever(tables: Tables, every: float, log) -> None:
    """Run `sweep_expired` every `every` seconds until cancelled; failures are logged, not raised."""
    while True:
        await asyncio.sleep(every)
        try:
            deleted = await asyncio.to_thread(tables.sweep_expired)
        except Exception as error:  # the sandbox keeps serving if the database hiccups
            log(f"TTL sweep failed: {error}")
            continue
        if deleted:
            log(f"TTL removed {deleted} expired item(s)")


async def watch(database: EmbeddedDynamoDB, log, every: float = 1.0, timeout: float = 3.0, restart_every: float = 5.0) -> None:
    """Say so when the embedded DynamoDB exits or stops answering, and when it answers again; bring
    it back when it exits.

    Handlers then fail with botocore's own error (connection refused, read timeout) and the sandbox's
    log says why, instead of leaving the person to guess from a timed-out invocation. A database that
    exited (killed, crashed) is started again on the same endpoint, with the manifest's tables created
    empty: moto keeps its data in memory, so the items are gone, and the log says so. Requests in flight
    when it died fail at once (their connection is reset); those made while it restarts are refused
    (`EndpointConnectionError`). (Vanished tables are the database's own business: `keep_tables` in
    dynamodb_server.py.)
    """
    answering, out_of_files = True, False
    while True:
        await asyncio.sleep(every)
        code = database.process.poll() if database.process is not None else None
        if code is not None:
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
            log(f"error: the embedded DynamoDB exited ({how}); restarting it: the items its tables held are gone")
            await _restart(database, log, restart_every)
            answering = True
            continue
        try:
            now = await asyncio.to_thread(database.answers, timeout)
        except OutOfFiles as error:
            if not out_of_files:
                log(
                    f"error: the sandbox is out of file descriptors ({error}): it cannot open connections, to the "
                    "embedded DynamoDB or any other; close sockets, or raise the open-file limit (ulimit -n)"
                )
            out_of_files = True
            continue
        if out_of_files:
            log("the sandbox can open connections again (file descriptors free)")
            out_of_files = False
        if now != answering:
            log(
                f"the embedded DynamoDB on {database.endpoint} answers again"
                if now
                else f"error: the embedded DynamoDB on {database.endpoint} has not answered for {timeout:.0f} s (stopped or stalled?); "
                f"handlers that use tables fail with a timeout"
            )
        answering = now


async def _restart(database: EmbeddedDynamoDB, log, retry_every: float) -> None:
    """Start `database` again until it serves with its tables; one log line per failed attempt."""
    while True:
        started = time.monotonic()
        try:
            await asyncio.to_thread(database.start)
        except RuntimeError as error:
            log(f"error: could not restart the embedded DynamoDB ({error}); trying again in {retry_every:g} s")
            await asyncio.sleep(retry_every)
            continue
        names = ", ".join(database.tables) or "no tables"
        log(f"the embedded DynamoDB is back on {database.endpoint} after {time.monotonic() - started:.1f} s, its tables recreated empty ({names})")
        return
