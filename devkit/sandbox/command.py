"""`python -m devkit sandbox`: read the manifest and the limits, start the sandbox, print the banner,
serve until Ctrl-C or SIGTERM, then stop cleanly (every socket closed with 1001, every `$disconnect` run).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

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
    log = Log(quiet=args.quiet, json_logs=True if args.json_logs else None)
    for warning in manifest_warnings(manifest):
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
            await sandbox.stop()
            raise UsageError(f"cannot listen on {args.host}:{args.port} ({error.strerror}); set PORT to another port") from None
        log.info(banner(sandbox, time.perf_counter() - started))
        await stop.wait()
        log.info("stopping: closing sockets with 1001 and running $disconnect…")
        await sandbox.stop()

    try:
        asyncio.run(serve())
    finally:
        log.close()
    return 0


def banner(sandbox: Sandbox, seconds: float) -> str:
    """What the sandbox serves, where, and how to stop it."""
    root = sandbox.manifest.root
    functions = "\n".join(f"    {f.route_key:<12} {f.source_dir.relative_to(root)}" for f in sandbox.manifest.functions)
    tables = ", ".join(f"{n} ({p})" for n, p in sandbox.table_names().items()) or "none"
    return (
        f"\n  {sandbox.manifest.app} sandbox ready in {seconds:.2f} s\n\n"
        f"    page        {sandbox.page_url}\n"
        f"    websocket   {sandbox.wss_url}\n"
        f"    management  {sandbox.page_url}/@connections/{{id}}\n"
        f"    dynamodb    {sandbox.dynamodb_endpoint}  tables: {tables}\n\n"
        f"  functions:\n{functions}\n\n"
        f"  Edits under src/ apply on the next request. Ctrl-C stops.\n"
    )


def manifest_warnings(manifest: Manifest) -> list[str]:
    """The manifest's own warnings, and one when the functions ask for another Python than this one."""
    warnings = [f"warning: {w}" for w in manifest.warnings]
    local = f"python{sys.version_info.major}.{sys.version_info.minor}"
    runtimes = sorted({f.runtime for f in manifest.functions})
    if runtimes and runtimes != [local]:
        warnings.append(f"warning: app.arc asks for {', '.join(runtimes)} but the sandbox runs {local}; "
                        "test on the real runtime before you rely on newer features")
    return warnings
