"""`python -m devkit sandbox`: read the manifest and the limits, start the sandbox, print the banner,
serve until Ctrl-C or SIGTERM, then stop cleanly (every socket closed with 1001, every `$disconnect` run).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import signal
import sys
import time

from devkit import public
from devkit.errors import UsageError
from devkit.manifest import Manifest, load
from devkit.sandbox import limits as sandbox_limits
from devkit.sandbox.log import Log
from devkit.sandbox.server import Sandbox


def run(args) -> int:
    """Serve the app of `args.app` on `args.host:args.port` until Ctrl-C or SIGTERM."""
    started = time.perf_counter()
    manifest = load(args.app)
    try:
        limits = sandbox_limits.from_environment()
    except ValueError as problem:
        raise UsageError(str(problem)) from None
    iam = iam_enabled(args.no_iam, os.environ.get("SANDBOX_IAM", "on"))
    log = Log(quiet=args.quiet, json_logs=True if args.json_logs else None)
    open_files = raise_open_file_limit()
    for warning in manifest_warnings(manifest):
        log.info(warning)
    sandbox = Sandbox(manifest, args.host, args.port, limits, log, args.dynamodb_endpoint, reload=not args.no_reload, iam=iam)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(AcceptFailures(log, open_files))
        MalformedRequests.install(log)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await sandbox.start()
        except OSError as error:
            await sandbox.stop()
            raise UsageError(f"cannot listen on {args.host}:{args.port} ({error.strerror}); set PORT to another port") from None
        log.info(banner(sandbox, time.perf_counter() - started, open_files))
        await stop.wait()
        log.info("stopping: closing sockets with 1001 and running $disconnect…")
        await sandbox.stop()

    try:
        asyncio.run(serve())
    finally:
        log.close()
    return 0


def banner(sandbox: Sandbox, seconds: float, open_files: int | None = None) -> str:
    """What the sandbox serves, where, and how to stop it (and a warning when few files may be open)."""
    root = sandbox.manifest.root
    functions = "\n".join(f"    {f.route_key:<12} {f.source_dir.relative_to(root)}" for f in sandbox.manifest.functions)
    tables = ", ".join(f"{n} ({p})" for n, p in sandbox.table_names().items()) or "none"
    return (
        f"\n  {sandbox.manifest.app} sandbox ready in {seconds:.2f} s\n\n"
        f"    page        {sandbox.page_url}\n"
        f"    websocket   {sandbox.wss_url}\n"
        f"    management  {sandbox.page_url}/@connections/{{id}}\n"
        f"    dynamodb    {sandbox.dynamodb_endpoint}  tables: {tables}\n"
        f"    iam         {iam_status(sandbox)}\n\n"
        f"  functions:\n{functions}\n\n"
        + queues_section(sandbox)
        + "  Edits under src/ apply on the next request. Ctrl-C stops.\n"
        + (low_open_file_limit(open_files) if open_files is not None and open_files < LOW_OPEN_FILES else "")
    )


def queues_section(sandbox: Sandbox) -> str:
    """The banner's queues: each with its consumer and event source settings, or nothing."""
    manifest = sandbox.manifest
    lines = [
        f"    {q.name:<12} -> {manifest.consumer(q).source_dir.relative_to(manifest.root)}  batch {q.batch_size}"
        + (f" within {q.batch_window} s" if q.batch_window else "")
        + f", visibility {q.visibility_timeout} s, dead-letter queue after {q.max_receives} receives"
        + ("" if q.report_failures else ", whole-batch retries")
        for q in manifest.queues
    ]
    return f"  queues (embedded SQS on {sandbox.dynamodb.endpoint}):\n" + "\n".join(lines) + "\n\n" if lines else ""


def iam_enabled(no_iam: bool, setting: str) -> bool:
    """IAM enforcement is on unless `--no-iam` or `SANDBOX_IAM=off`."""
    if setting.lower() not in ("on", "off"):
        raise UsageError(f"SANDBOX_IAM={setting!r}: expected on or off")
    return not no_iam and setting.lower() == "on"


def iam_status(sandbox: Sandbox) -> str:
    """The banner's IAM line: whether each function's @permissions are enforced, and where."""
    if sandbox.iam is None:
        why = "your AWS credentials are passed through" if sandbox.real_credentials else "--no-iam or SANDBOX_IAM=off"
        return f"off ({why}): handlers may call anything"
    where = "the Management API only (another DynamoDB)" if sandbox.external_dynamodb else "DynamoDB and the Management API"
    return f"on: each function's config.arc @permissions, enforced on {where}"


def manifest_warnings(manifest: Manifest) -> list[str]:
    """The manifest's own warnings (a timeout past API Gateway's integration timeout among them), and one
    when the functions ask for another Python than this one."""
    warnings = [f"warning: {w}" for w in manifest.warnings]
    warnings += [f"warning: {w}" for w in public.size_warnings(manifest.public_dir)]
    local = f"python{sys.version_info.major}.{sys.version_info.minor}"
    runtimes = sorted({f.runtime for f in manifest.functions})
    if runtimes and runtimes != [local]:
        warnings.append(
            f"warning: app.arc asks for {', '.join(runtimes)} but the sandbox runs {local}; test on the real runtime before you rely on newer features"
        )
    return warnings


# Each socket is a file descriptor; the sandbox itself, its database and workers use about 60.
LOW_OPEN_FILES = 4096
DARWIN_OPEN_MAX = 10240  # macOS refuses a soft limit above OPEN_MAX (sys/syslimits.h), even under a higher hard limit


def raise_open_file_limit() -> int:
    """Raise the soft open-file limit to the hard one (capped at OPEN_MAX on macOS); the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard
    if sys.platform == "darwin":
        wanted = DARWIN_OPEN_MAX if hard == resource.RLIM_INFINITY else min(hard, DARWIN_OPEN_MAX)
    if wanted != resource.RLIM_INFINITY and wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    return soft


def low_open_file_limit(limit: int) -> str:
    return (
        f"\n  warning: at most {limit} open files (the hard limit), so about {max(limit - 60, 0)} sockets;"
        f" raise it (ulimit -Hn, or launchctl limit maxfiles on macOS) for more\n"
    )


class AcceptFailures:
    """The event loop's exception handler: a refused accept is said once, with its reason, not as a
    traceback per connection; everything else goes to asyncio's default handler."""

    def __init__(self, log: Log, open_files: int):
        self.log, self.open_files = log, open_files
        self.said = False

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        error = context.get("exception")
        if isinstance(error, OSError) and error.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
            if not self.said:
                self.said = True
                self.log.info(
                    f"cannot accept new connections: {error.strerror} (open-file limit {self.open_files});"
                    " they wait until sockets close. Raise the limit (ulimit -n) for more."
                )
            return
        loop.default_exception_handler(context)


class MalformedRequests(logging.Handler):
    """aiohttp's server log (`aiohttp.server`, its documented logger) as sandbox lines: a request that is
    not HTTP, or breaks its grammar, is one line with the client and the parser's reason, not a
    traceback; any other error there (a bug of the sandbox's) keeps its traceback."""

    def __init__(self, log: Log):
        super().__init__(logging.DEBUG)
        self.log = log

    @classmethod
    def install(cls, log: Log) -> None:
        server = logging.getLogger("aiohttp.server")
        server.handlers[:] = [cls(log)]
        server.setLevel(logging.DEBUG)  # aiohttp says a non-HTTP first request at debug level only
        server.propagate = False

    def emit(self, record: logging.LogRecord) -> None:
        from aiohttp.http_exceptions import HttpProcessingError

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            lines = [line.strip() for line in str(error.message).splitlines()]
            reason = " ".join(line for line in lines if line.strip("^")) or type(error).__name__  # not the caret line
            self.log.event(f"HTTP malformed request from {remote}: {error.code} {reason}")
        elif record.levelno >= logging.WARNING:
            self.log.info(logging.Formatter().format(record))
