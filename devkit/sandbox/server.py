"""The sandbox: one port for the HTTP routes, `/_static`, WebSocket upgrades and `/@connections`.

`Sandbox.start()` brings up the embedded DynamoDB, the worker pools and the server; `stop()` closes
every socket with 1001, runs each `$disconnect`, stops every worker and the database. `run(args)` is
`python -m devkit sandbox`: a banner, a log line per request, hot reload, Ctrl-C to stop.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import string
import sys
import time
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web

from devkit.manifest import Function, Manifest, load
from devkit.sandbox import limits as sandbox_limits
from devkit.sandbox.connections import Registry
from devkit.sandbox.dynamodb import DUMMY_CREDENTIALS, EmbeddedDynamoDB, Tables, sweep_forever
from devkit.sandbox.dynamodb import watch as watch_database
from devkit.sandbox.http_api import HttpApi
from devkit.sandbox.limits import Limits
from devkit.sandbox.log import Log
from devkit.sandbox.management_api import ManagementApi
from devkit.sandbox.websocket_api import WebSocketApi
from devkit.sandbox.workers import FunctionPool, Functions

MANAGEMENT_PATH = re.compile(r"^(?:/[^/@]+)?/@connections/(?P<id>[^/]+)$")
STAGE = "testing"  # ARC_ENV and the WebSocket stage name locally
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


class Sandbox:
    def __init__(self, manifest: Manifest, host: str = "127.0.0.1", port: int = 3333,
                 limits: Limits | None = None, log: Log | None = None,
                 dynamodb_endpoint: str | None = None, reload: bool = True):
        self.manifest, self.host, self.port = manifest, host, port
        self.limits = limits or Limits()
        self.log = log or Log()
        self.reload = reload
        self.api_id = "".join(random.choices(string.ascii_lowercase + string.digits, k=10))
        self.external_dynamodb = dynamodb_endpoint
        self.dynamodb = EmbeddedDynamoDB()
        self.registry = Registry()
        self._runner: web.AppRunner | None = None
        self._background: list[asyncio.Task] = []
        self._stopped = asyncio.Event()
        self._ready = asyncio.Event()  # set once the tables exist; requests before that wait for it

    @property
    def page_url(self) -> str:
        return f"http://{self._public_host}:{self.port}"

    @property
    def wss_url(self) -> str:
        return f"ws://{self._public_host}:{self.port}"

    @property
    def _public_host(self) -> str:
        return "localhost" if self.host in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "::") else self.host

    @property
    def dynamodb_endpoint(self) -> str:
        return self.external_dynamodb or self.dynamodb.endpoint

    def table_names(self) -> dict[str, str]:
        """Declared table name -> physical name, `<app>-testing-<name>` as Architect's sandbox names them."""
        return {t.name: f"{self.manifest.app}-{STAGE}-{t.name}" for t in self.manifest.tables}

    def environment(self, function: Function) -> dict[str, str]:
        """What a worker sees: Lambda's variables, the runtime contract, and nothing of real AWS."""
        env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
        name = f"{self.manifest.app}-{STAGE}-{function.id}"
        origins = {self.page_url, f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"}
        env.update({
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]sandbox"),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "AWS_REGION": self.manifest.aws.region,
            "AWS_DEFAULT_REGION": self.manifest.aws.region,
            "LAMBDA_TASK_ROOT": str(function.source_dir),
            "LAMBDA_RUNTIME_DIR": str(Path(__file__).parent),
            "TZ": ":UTC",
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb_endpoint,
            "ARC_ENV": STAGE,
            "ARC_APP_NAME": self.manifest.app,
            "ARC_WSS_URL": self.wss_url,
            "ARC_ALLOWED_ORIGINS": ",".join(sorted(origins)),
            "POWERTOOLS_SERVICE_NAME": self.manifest.app,
            "DEVKIT_HANDLER_FILE": function.handler_file,
            "DEVKIT_SHARED_DIR": str(self.manifest.shared_dir),
            "DEVKIT_TIMEOUT": str(function.timeout),
        })
        for table in self.manifest.tables:
            env[table.env_var] = self.table_names()[table.name]
        if not (self.external_dynamodb and "AWS_ACCESS_KEY_ID" in os.environ):
            env.update(DUMMY_CREDENTIALS)
        else:
            env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_") and "ENDPOINT" not in k and k not in env})
        return env

    async def start(self) -> None:
        """Serve on host:port; returns once the tables exist and requests are answered."""
        database = None if self.external_dynamodb else asyncio.to_thread(self.dynamodb.start)
        runner_ready = self._start_server()
        outcomes = await asyncio.gather(*(c for c in (database, runner_ready) if c is not None), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:  # both finished, so stop() finds the database process if it was started
            raise failures[0]
        self._background.append(asyncio.create_task(self.functions.warm_all()))  # imports overlap table creation
        physical = self.table_names()
        tables = await asyncio.to_thread(
            Tables, self.dynamodb_endpoint, self.manifest.aws.region,
            {physical[t.name]: t for t in self.manifest.tables},
        )
        await asyncio.to_thread(tables.create)
        self._ready.set()
        self._background.append(asyncio.create_task(sweep_forever(tables, self.limits.ttl_sweep_seconds, self.log.info)))
        self._background.append(asyncio.create_task(self._enforce_time_limits()))
        if not self.external_dynamodb:
            self._background.append(asyncio.create_task(watch_database(self.dynamodb, self.log.info)))
        if self.reload:
            self._background.append(asyncio.create_task(self._watch_sources()))

    async def _start_server(self) -> None:
        self.functions = Functions({
            f.route_key: FunctionPool(f, self.environment(f), self.limits.worker_concurrency, self.log.function)
            for f in self.manifest.functions
        })
        self.ws = WebSocketApi(
            self.functions, {f.route_key: f for f in self.manifest.ws_functions}, self.registry,
            self.limits, self.log, self.api_id, STAGE,
        )
        self.http = HttpApi(self.functions, list(self.manifest.http_functions), self.manifest.public_dir, self.log, self.api_id)
        self.management = ManagementApi(self.registry, self.limits, self.log)
        app = web.Application(client_max_size=self.limits.http_body_bytes)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        if self.host == "127.0.0.1":  # `localhost` may resolve to ::1 first; answer there too
            try:
                await web.TCPSite(self._runner, "::1", self.port).start()
            except OSError:
                pass

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        if not self._ready.is_set():  # the port opens while the tables are still being created
            await self._ready.wait()
        found = MANAGEMENT_PATH.match(request.raw_path.split("?", 1)[0])
        if found:
            return await self.management.handle(request, unquote(found["id"]))
        if request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self.ws.handle(request)
        return await self.http.handle(request)

    async def stop(self) -> None:
        """Close every socket (1001) and run its `$disconnect`, then stop workers and the database."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        open_sockets = len(self.registry)
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
        """Hot reload: a change under src/ retires the workers, so the next invocation loads it fresh."""
        from watchfiles import awatch

        src = self.manifest.root / "src"
        async for changes in awatch(src, self.manifest.path, debounce=100, step=20, stop_event=self._stopped):
            paths = sorted({Path(p) for _, p in changes})
            if self.manifest.path in paths:
                self.log.info("app.arc changed: restart the sandbox (Ctrl-C, then make sandbox) to apply it")
            if any(p != self.manifest.path for p in paths):
                self.functions.recycle()
                shown = ", ".join(str(p.relative_to(self.manifest.root)) for p in paths[:3] if p.is_relative_to(self.manifest.root))
                self.log.info(f"reloaded: {shown}{' …' if len(paths) > 3 else ''}")


def banner(sandbox: Sandbox, seconds: float) -> str:
    functions = "\n".join(f"    {f.route_key:<12} {f.source_dir.relative_to(sandbox.manifest.root)}" for f in sandbox.manifest.functions)
    tables = ", ".join(f"{n} ({p})" for n, p in sandbox.table_names().items()) or "none"
    return (
        f"\n  {sandbox.manifest.app} sandbox ready in {seconds:.2f} s\n\n"
        f"    page        {sandbox.page_url}\n"
        f"    websocket   {sandbox.wss_url}\n"
        f"    management  {sandbox.page_url.replace('http', 'http', 1)}/@connections/{{id}}\n"
        f"    dynamodb    {sandbox.dynamodb_endpoint}  tables: {tables}\n\n"
        f"  functions:\n{functions}\n\n"
        f"  Edits under src/ apply on the next request. Ctrl-C stops.\n"
    )


def runtime_warning(manifest: Manifest) -> str | None:
    local = f"python{sys.version_info.major}.{sys.version_info.minor}"
    runtimes = sorted({f.runtime for f in manifest.functions})
    if runtimes and runtimes != [local]:
        return f"warning: app.arc asks for {', '.join(runtimes)} but the sandbox runs {local}; test on the real runtime before you rely on newer features"
    return None


def run(args) -> int:
    """`python -m devkit sandbox`: serve until Ctrl-C or SIGTERM."""
    from devkit.cli import UsageError

    started = time.perf_counter()
    manifest = load(args.app)
    try:
        limits = sandbox_limits.from_environment()
    except ValueError as problem:
        raise UsageError(str(problem)) from None
    log = Log(quiet=args.quiet)
    warning = runtime_warning(manifest)
    if warning:
        log.info(warning)
    sandbox = Sandbox(manifest, args.host, args.port, limits, log, args.dynamodb_endpoint, reload=not args.no_reload)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await sandbox.start()
        except OSError as error:
            await sandbox.stop() if hasattr(sandbox, "ws") else None
            raise UsageError(f"cannot listen on {args.host}:{args.port} ({error.strerror}); set PORT to another port") from None
        log.info(banner(sandbox, time.perf_counter() - started))
        await stop.wait()
        log.info("stopping: closing sockets with 1001 and running $disconnect…")
        await sandbox.stop()

    asyncio.run(serve())
    return 0
