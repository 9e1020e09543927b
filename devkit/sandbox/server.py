"""The sandbox: one port for the HTTP routes, `/_static`, WebSocket upgrades and `/@connections`.

`Sandbox(...)` wires the parts; `start()` brings up the embedded DynamoDB, the worker pools and the
server; `stop()` closes every socket with 1001, runs each `$disconnect`, stops every worker and the
database. The command line around it is `devkit/sandbox/command.py`.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import random
import re
import string
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from devkit import contract, permissions
from devkit.errors import ManifestError
from devkit.manifest import Function, Manifest, load
from devkit.permissions import LocalArns, may_use_tables
from devkit.sandbox.dynamodb import EmbeddedDynamoDB, Tables, sweep_forever
from devkit.sandbox.dynamodb import watch as watch_database
from devkit.sandbox.environment import function_name, worker_environment
from devkit.sandbox.iam import SandboxIam
from devkit.sandbox.limits import Limits, workers_for
from devkit.sandbox.log import Log
from devkit.sandbox.queues import EventSources, QueueSpec, queue_url, specs_to_json
from devkit.sandbox.workers import FunctionPool, Functions

if TYPE_CHECKING:
    from aiohttp import web

    from devkit.sandbox.connections import Registry
    from devkit.sandbox.http_api import HttpApi
    from devkit.sandbox.management_api import ManagementApi
    from devkit.sandbox.websocket_api import WebSocketApi

# aiohttp and the parts over it: imported by `start()` in a thread (about 0.5 s) while the database
# and the preloaded worker parent start, so this module imports none of them.
SERVING_MODULES = (
    "aiohttp.web",
    "devkit.sandbox.authorizer",
    "devkit.sandbox.connections",
    "devkit.sandbox.http_api",
    "devkit.sandbox.management_api",
    "devkit.sandbox.websocket_api",
)

MANAGEMENT_PATH = re.compile(r"^(?:/[^/@]+)?/@connections/(?P<id>[^/]+)$")
LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost", "0.0.0.0", "::")


class Sandbox:
    # The serving parts: made by start() once their modules are imported (SERVING_MODULES); requests
    # reach them only after that.
    registry: Registry
    ws: WebSocketApi
    http: HttpApi
    management: ManagementApi

    def __init__(
        self,
        manifest: Manifest,
        host: str = "127.0.0.1",
        port: int = contract.DEFAULT_PORT,
        limits: Limits | None = None,
        log: Log | None = None,
        dynamodb_endpoint: str | None = None,
        reload: bool = True,
        iam: bool = True,
    ):
        self.manifest, self.host, self.port = manifest, host, port
        self.limits = limits or Limits()
        self.log = log or Log()
        self.reload = reload
        # The developer's own keys reach handlers only with a DynamoDB of their choosing.
        self.real_credentials = bool(dynamodb_endpoint and "AWS_ACCESS_KEY_ID" in os.environ)
        self.api_id = "".join(random.choices(string.ascii_lowercase + string.digits, k=10))
        self.external_dynamodb = dynamodb_endpoint
        # IAM needs the workers' own keys: off when the developer's credentials are passed through.
        self.iam = (
            SandboxIam(
                manifest,
                LocalArns(
                    manifest.aws.region,
                    contract.ACCOUNT_ID,
                    self.table_names(),
                    self.api_id,
                    contract.LOCAL_STAGE,
                    partial(function_name, manifest),
                    secret_names=self.secret_names(),
                    queue_names=self.queue_names(),
                ),
                partial(function_name, manifest),
            )
            if iam and not self.real_credentials
            else None
        )
        physical = self.table_names()
        declared = {physical[t.name]: t for t in manifest.tables}
        # The embedded database creates and keeps the tables itself (dynamodb.py); `tables` does it for
        # a DynamoDB of the developer's own.
        # It also serves the queues, with a DynamoDB of the developer's own too (then with no tables).
        self.dynamodb = EmbeddedDynamoDB(
            policies=self.iam.policies() if self.iam else None,
            on_denial=self._dynamodb_denied,
            tables={} if dynamodb_endpoint else declared,
            region=manifest.aws.region,
            on_log=self._database_said,
            ttl_sweep_seconds=self.limits.ttl_sweep_seconds,
            secrets=tuple(self.secret_names().values()),
            queues=specs_to_json([QueueSpec.of(q, self._prefix) for q in manifest.queues]),
            on_queues=self._queues_made,
        )
        self.tables = Tables(dynamodb_endpoint, manifest.aws.region, declared) if dynamodb_endpoint else None
        self.functions = Functions(
            {
                f.id: FunctionPool(
                    f, partial(self.environment, f), log=self.log.function, scale_after=self.limits.worker_scale_after_seconds, **workers_for(self.limits, f)
                )
                for f in manifest.functions
            },
            preload=True,
            log=self.log.info,
            client_services=set().union(*(permissions.client_services(f) for f in manifest.functions)),
            early={f.id for f in manifest.functions if not permissions.client_services(f)},
        )
        self.event_sources = (
            EventSources(
                manifest,
                self.dynamodb.endpoint,
                self._prefix,
                contract.ACCOUNT_ID,
                partial(self.functions.invoke, may_throttle=False),
                self.log,
                self.limits.worker_concurrency,
            )
            if manifest.queues
            else None
        )
        # Functions that may use the queues wait until the embedded SQS has made them (after the tables).
        self._queues_ready = asyncio.Event()
        if manifest.queues:
            self.functions.hold({f.id for f in manifest.functions if "sqs" in permissions.client_services(f) or f.kind == "queue"}, self._queues_ready)
        self._runner: web.AppRunner | None = None
        self._background: list[asyncio.Task] = []
        self._stopped = asyncio.Event()
        self._ready = asyncio.Event()  # set once the tables exist; what `_waits_for_tables` waits for it

    def _waits_for_tables(self, function: Function) -> bool:
        """Whether `function`'s invocations wait until the embedded services have their tables and
        secrets: its declaration may allow a DynamoDB call, or reads a secret (without IAM, declarations
        bind nothing, so every function waits). A WebSocket upgrade waits if any WebSocket function or the
        authorizer does: a socket, once open, reaches every route."""
        return self.iam is None or may_use_tables(function) or bool(permissions.declared(function).secrets)

    @property
    def page_url(self) -> str:
        return f"http://{self._public_host}:{self.port}"

    @property
    def wss_url(self) -> str:
        return f"ws://{self._public_host}:{self.port}"

    @property
    def _public_host(self) -> str:
        return "localhost" if self.host in LOOPBACK_NAMES else self.host

    @property
    def dynamodb_endpoint(self) -> str:
        return self.external_dynamodb or self.dynamodb.endpoint

    @property
    def _prefix(self) -> str:
        """`<app>-testing`: what the sandbox's physical names of tables and queues start with."""
        return f"{self.manifest.app}-{contract.LOCAL_STAGE}"

    def queue_names(self) -> dict[str, str]:
        """Declared queue name -> physical name, `<app>-testing-<name>` (`.fifo` for a FIFO queue)."""
        return {q.name: q.physical_name(self._prefix) for q in self.manifest.queues}

    def queue_urls(self) -> dict[str, str]:
        """Declared queue name -> its URL in the embedded SQS."""
        return {name: queue_url(self.dynamodb.endpoint, contract.ACCOUNT_ID, physical) for name, physical in self.queue_names().items()}

    def table_names(self) -> dict[str, str]:
        """Declared table name -> physical name, `<app>-testing-<name>` as Architect's sandbox names them."""
        return {t.name: f"{self.manifest.app}-{contract.LOCAL_STAGE}-{t.name}" for t in self.manifest.tables}

    def secret_names(self) -> dict[str, str]:
        """Secret -> its name in the embedded services, `<app>-testing-<name>`, made at start with a random value."""
        return {s: f"{self.manifest.app}-{contract.LOCAL_STAGE}-{s}" for s in self.manifest.secrets}

    def _dynamodb_denied(self, denial: dict) -> None:
        """From the database's reader thread: log the denial on the event loop's thread."""
        assert self.iam is not None, "denials come only from an IAM-checking database"
        line = self.iam.denial_line(denial["function"], denial["action"], denial["resource"])
        self._loop.call_soon_threadsafe(self.log.info, line)

    def _queues_made(self, outcome: str) -> None:
        """From the database's reader thread: the queues exist (or could not be made); start polling."""

        def made() -> None:
            if outcome != "ready":
                self.log.info(outcome)
            self._queues_ready.set()
            if self.event_sources is not None and outcome == "ready" and not self._stopped.is_set():
                self.event_sources.start()

        self._loop.call_soon_threadsafe(made)

    def _database_said(self, line: str) -> None:
        """From the database's reader thread: its line (a swept or recreated table) in the log."""
        self._loop.call_soon_threadsafe(self.log.info, line)

    def environment(self, function) -> dict[str, str]:
        """What `function`'s workers see (devkit/sandbox/environment.py)."""
        origins = {self.page_url, f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"}
        return worker_environment(
            self.manifest,
            function,
            wss_url=self.wss_url,
            allowed_origins=",".join(sorted(origins)),
            table_names=self.table_names(),
            dynamodb_endpoint=self.dynamodb_endpoint,
            real_credentials=self.real_credentials,
            secret_names=self.secret_names(),
            queue_urls=self.queue_urls(),
            sqs_endpoint=self.dynamodb.endpoint,
        )

    async def start(self) -> None:
        """Serve on host:port; returns once the tables exist and requests are answered."""
        self._loop = asyncio.get_running_loop()
        # Everything that can overlap does: the preloaded worker parent imports boto3 & co., moto starts
        # and creates the tables, the port opens and, as soon as it is open (workers' variables name it),
        # each function's first worker is forked. Only what may use the tables waits for them (dispatch).
        self._spawn(self.functions.preload())
        database: asyncio.Future
        if self.tables is not None:  # a DynamoDB of the developer's own: the sandbox's process creates them
            database = asyncio.ensure_future(asyncio.to_thread(self.tables.create))
            if self.manifest.queues:  # and the embedded server serves the queues
                database = asyncio.gather(database, asyncio.to_thread(self.dynamodb.start))
        else:
            database = asyncio.ensure_future(asyncio.to_thread(self.dynamodb.start))
        await asyncio.to_thread(_import_all, SERVING_MODULES)
        self._serving_parts()
        runner_ready = self._listen_then_warm()
        outcomes = await asyncio.gather(database, runner_ready, return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:  # both finished, so stop() finds the database process if it was started
            raise failures[0]
        self._ready.set()
        self._spawn(self._enforce_time_limits())
        if self.tables is not None:
            self._spawn(sweep_forever(self.tables, self.limits.ttl_sweep_seconds, self.log.info))
        else:
            self._spawn(watch_database(self.dynamodb, self.log.info))
        if self.reload:
            self._spawn(self._watch_sources())

    def _serving_parts(self) -> None:
        from devkit.sandbox.authorizer import SandboxAuthorizer
        from devkit.sandbox.connections import Registry
        from devkit.sandbox.http_api import HttpApi
        from devkit.sandbox.management_api import ManagementApi
        from devkit.sandbox.websocket_api import WebSocketApi

        manifest = self.manifest
        self.registry = Registry()
        authorizer = (
            SandboxAuthorizer(
                manifest.authorizer,
                self.functions,
                self.log,
                manifest.aws.region,
                self.api_id,
                contract.LOCAL_STAGE,
                self.limits.ws_integration_timeout_seconds,
            )
            if manifest.authorizer
            else None
        )
        self.ws = WebSocketApi(
            self.functions,
            {f.route_key: f for f in manifest.ws_functions},
            self.registry,
            self.limits,
            self.log,
            self.api_id,
            contract.LOCAL_STAGE,
            authorizer,
        )
        self.http = HttpApi(
            self.functions,
            list(manifest.http_functions),
            manifest.public_dir,
            self.log,
            self.api_id,
            self.limits.http_integration_timeout_seconds,
            body_seconds=self.limits.http_body_seconds,
        )
        self.management = ManagementApi(self.registry, self.limits, self.log, self.iam.management_denied if self.iam else None)

    def _spawn(self, work) -> None:
        """Run `work` in the background until `stop()` (the task is kept, so it is never collected early)."""
        self._background.append(asyncio.create_task(work))

    async def _listen_then_warm(self) -> None:
        await self._listen()
        self._spawn(self.functions.warm(first_request(self.manifest)))

    async def _listen(self) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=self.limits.http_body_bytes)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        # keepalive_timeout also closes a connection whose request headers never complete (aiohttp starts
        # it when the connection opens): a half-sent request cannot hold a socket for ever.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1, keepalive_timeout=self.limits.http_header_seconds)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]  # the port the system chose, when asked for port 0
        if self.host == "127.0.0.1":  # `localhost` may resolve to ::1 first; answer there too
            try:
                await web.TCPSite(self._runner, "::1", self.port).start()
            except OSError:
                pass

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        found = MANAGEMENT_PATH.match(request.raw_path.split("?", 1)[0])
        if found:
            return await self.management.handle(request, unquote(found["id"]))
        if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
            guards = (self.manifest.authorizer.function,) if self.manifest.authorizer else ()
            if any(self._waits_for_tables(f) for f in self.manifest.ws_functions + guards):
                await self._ready.wait()
            return await self.ws.handle(request)
        if not self._ready.is_set():  # the port opens while the tables are still being created
            route = self.http.route(request.method, request.path)
            if route is not None and self._waits_for_tables(route[0].function):
                await self._ready.wait()
        return await self.http.handle(request)

    async def stop(self) -> None:
        """Close every socket (1001) and run its `$disconnect`, then stop workers and the database."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        serving = hasattr(self, "ws")  # False when start() failed before making them
        open_sockets = len(self.registry) if serving else 0
        if self.event_sources is not None:  # first: no batch starts on closing sockets
            await self.event_sources.stop()
        if serving:
            await self.ws.close_all()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        await self.functions.close()
        await asyncio.to_thread(self.dynamodb.stop)
        self.log.info(f"sandbox stopped: closed {open_sockets} socket(s), ran their $disconnect")

    async def _enforce_time_limits(self) -> None:
        every = max(0.05, min(1.0, self.limits.idle_seconds / 4, self.limits.max_connection_seconds / 4))
        while True:
            await asyncio.sleep(every)
            await self.ws.enforce_time_limits()
            self.functions.reap_idle(self.limits.worker_idle_seconds)

    async def _watch_sources(self) -> None:
        """Hot reload: a change under src/ retires the workers, so the next invocation loads it fresh; the
        manifest is read again and what it changed applied, or named as needing a restart (reload.py)."""
        from watchfiles import awatch

        src = self.manifest.root / "src"
        async for changes in awatch(src, self.manifest.path, debounce=100, step=20, stop_event=self._stopped):
            paths = sorted({Path(p) for _, p in changes})
            await self._apply_configuration()
            if any(p != self.manifest.path for p in paths):
                self.functions.recycle()
                shown = ", ".join(str(p.relative_to(self.manifest.root)) for p in paths[:3] if p.is_relative_to(self.manifest.root))
                self.log.info(f"reloaded: {shown}{' …' if len(paths) > 3 else ''}")

    async def _apply_configuration(self) -> None:
        """Read app.arc and each config.arc again; apply each function's changed settings (its IAM policy,
        here and in the database, and its workers'), or say in one line what needs a restart."""
        from devkit.sandbox import reload

        try:
            edited = load(self.manifest.path)
        except ManifestError as error:
            self.log.info(f"error: {error}; the sandbox runs on with the configuration it had")
            return
        change = reload.compare(self.manifest, edited)
        if change.restart:
            self.log.info(
                f"restart the sandbox (Ctrl-C, then make sandbox) to apply {', '.join(change.restart)}; "
                "until then it runs with the configuration it started with"
            )
            return
        if not change.functions:
            return
        said = [f"{f.id} ({reload.described(self.functions.function(f.id), f)})" for f in change.functions.values()]
        for function in change.functions.values():
            self.functions.redeclare(function, partial(self.environment, function))
            self.ws.routes.update({function.route_key: function} if function.kind == "ws" else {})
            for route in self.http.routes:
                if route.function.id == function.id:
                    route.function = function
        self.manifest = edited
        if self.iam is not None:
            self.iam.use(edited)
            if self.tables is None and not await asyncio.to_thread(self.dynamodb.use_policies, self.iam.policies()):
                self.log.info("error: the embedded DynamoDB did not take the new IAM policies; restart the sandbox to apply them")
        self.log.info(f"applied: {'; '.join(said)}; their next invocation runs with it")


def first_request(manifest: Manifest) -> list[Function]:
    """The functions a first visit needs at once, whose workers start with the sandbox: each HTTP
    function of a GET route (a page) and the WebSocket API's `$connect` and `$default` (API Gateway's
    route keys). Every other function starts its first worker on its first invocation."""
    return [f for f in manifest.http_functions if f.route_key.startswith("GET ")] + [
        f for f in manifest.ws_functions if f.route_key in ("$connect", "$default")
    ]


def _import_all(names: tuple[str, ...]) -> None:
    for name in names:
        importlib.import_module(name)
