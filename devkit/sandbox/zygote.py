"""Start worker processes: forked from a preloaded parent, or as fresh interpreters.

Most of a fresh worker's start and memory is boto3, botocore, Powertools and Jinja2 imported again.
`Zygote` runs one parent (`zygote_main.py`) that imports them once and forks a worker per request,
so a worker is ready in milliseconds and shares those pages copy-on-write.

Why a zygote of our own rather than `multiprocessing`'s forkserver with `set_forkserver_preload`: a
worker is a process with its own stdin/stdout/stderr pipes (the framed protocol of worker_main.py and
its log), its own session (killed as a group), its own working directory and a wholesale environment;
the forkserver gives none of these (it runs a pickled target with the server's stdio and cwd, in its
process group) and offers no asyncio-friendly exit status. The zygote is ~150 lines of standard
library: it receives the three pipe ends over a Unix socket (SCM_RIGHTS), forks, and the child
becomes the worker exactly as `python worker_main.py` would.

A function that brings its own copy of a preloaded library (a requirements.txt line the kit's copy
does not satisfy, or a vendored package folder) gets a fresh interpreter, and the log says why. If
the preloaded parent dies it is restarted (log line); after `MAX_RESTARTS` every worker is a fresh
interpreter.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import struct
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

HEADER = struct.Struct(">I")
WORKER_MAIN = Path(__file__).with_name("worker_main.py")
ZYGOTE_MAIN = Path(__file__).with_name("zygote_main.py")
START_TIMEOUT_SECONDS = 30.0
MAX_RESTARTS = 3


class ForkedProcess:
    """A worker forked by the zygote: what `Worker` uses of `asyncio.subprocess.Process`."""

    def __init__(self, pid: int, stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader, stderr: asyncio.StreamReader):
        self.pid, self.stdin, self.stdout, self.stderr = pid, stdin, stdout, stderr
        self.returncode: int | None = None
        self._exited = asyncio.get_running_loop().create_future()

    def exited(self, status: int) -> None:
        if not self._exited.done():
            self.returncode = status
            self._exited.set_result(status)
            self.stdin.close()

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def orphaned(self) -> None:
        """Its parent died, so no exit status will come: watch the process itself."""
        asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while not self._exited.done():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.exited(-signal.SIGKILL)
                return
            except PermissionError:  # reused by another user's process: ours is gone
                self.exited(-signal.SIGKILL)
                return
            await asyncio.sleep(0.05)


async def _pipes() -> tuple[tuple[int, int, int], asyncio.StreamWriter, asyncio.StreamReader, asyncio.StreamReader]:
    """Three pipes: the child's ends (stdin read, stdout write, stderr write) and ours as streams."""
    loop = asyncio.get_running_loop()
    in_read, in_write = os.pipe()
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    readers = []
    for fd in (out_read, err_read):
        reader = asyncio.StreamReader(limit=2**20)
        protocol = asyncio.StreamReaderProtocol(reader)
        await loop.connect_read_pipe(lambda p=protocol: p, os.fdopen(fd, "rb", 0))  # type: ignore[misc]
        readers.append(reader)
    transport, writing = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, os.fdopen(in_write, "wb", 0))
    writer = asyncio.StreamWriter(transport, writing, None, loop)
    return (in_read, out_write, err_write), writer, readers[0], readers[1]


class Zygote:
    """The preloaded parent process; `spawn()` forks a worker from it."""

    def __init__(self, env: dict[str, str], log: Callable[[str], None]):
        self.env, self.log = env, log  # env: the parent's own (workers get theirs wholesale)
        self.modules: dict[str, str] = {}  # preloaded top-level import names -> the folder each came from
        self.complete = asyncio.Event()  # set once the parent has loaded everything, or has exited
        self.loaded = False  # True once it has loaded everything (`modules` is then all of it)
        self._process: asyncio.subprocess.Process | None = None
        self._requests: socket.socket | None = None
        self._waiting: dict[int, asyncio.Future] = {}
        self._children: dict[int, ForkedProcess] = {}
        self._ids = itertools.count(1)
        self._tasks: list[asyncio.Task] = []
        self._starting: asyncio.Task | None = None
        self.restarts = 0
        self.closed = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def ready(self) -> bool:
        """Start the parent if it is not running (once at a time); False once it can no longer be used."""
        if self.closed:
            return False
        if self._process is not None and self._process.returncode is None and self._requests is not None:
            return True
        if self.restarts > MAX_RESTARTS:
            return False
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._start())
        try:
            await asyncio.shield(self._starting)
        except Exception as error:
            self.log(f"the preloaded worker parent did not start ({error}): workers start as fresh interpreters")
            self.restarts = MAX_RESTARTS + 1
            return False
        return True

    async def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-u",
                str(ZYGOTE_MAIN),
                str(theirs.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.env,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        finally:
            theirs.close()
        assert self._process.stdout is not None and self._process.stderr is not None
        self._tasks.append(asyncio.create_task(self._pump(self._process.stderr)))
        hello = await asyncio.wait_for(self._receive(self._process.stdout), START_TIMEOUT_SECONDS)
        self.modules = hello["modules"]
        self.complete, self.loaded = asyncio.Event(), False
        self._requests = ours
        self._tasks.append(asyncio.create_task(self._read_replies(self._process)))

    async def spawn(self, env: dict[str, str], cwd: Path, own: list[str] | None = None) -> ForkedProcess | None:
        """Fork a worker with `env` (wholesale) in `cwd`; None when the parent is unusable (start fresh).

        With `own` (the top-level names the function's folder brings) the request is early: the parent
        forks it before it has loaded everything, unless it has loaded one of `own` by then or is done
        loading; then this raises `Again` (check the function against everything, and ask again)."""
        if not await self.ready():
            return None
        assert self._requests is not None
        child_ends, stdin, stdout, stderr = await _pipes()
        request_id = next(self._ids)
        reply = self._waiting[request_id] = asyncio.get_running_loop().create_future()
        request = {"id": request_id, "env": env, "cwd": str(cwd)}
        if own is not None:
            request.update(early=True, own=own)
        body = json.dumps(request).encode()
        try:
            socket.send_fds(self._requests, [HEADER.pack(len(body)) + body], list(child_ends))
        except OSError:
            self._waiting.pop(request_id, None)
            stdin.close()
            return None
        finally:
            for fd in child_ends:
                os.close(fd)
        try:
            answer = await reply
        except ConnectionError:
            stdin.close()
            return None
        if "error" in answer or "again" in answer:
            stdin.close()
            if "again" in answer:
                raise Again()
            self.log(f"fork failed ({answer['error']}): this worker starts as a fresh interpreter")
            return None
        process = ForkedProcess(answer["pid"], stdin, stdout, stderr)
        self._children[process.pid] = process
        return process

    async def _read_replies(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        try:
            while True:
                message = await self._receive(process.stdout)
                if "exited" in message:
                    child = self._children.pop(message["exited"], None)
                    if child is not None:
                        child.exited(message["status"])
                elif "stage" in message:  # everything is loaded now
                    self.modules, self.loaded = message["modules"], True
                    self.complete.set()
                else:
                    waiting = self._waiting.pop(message["id"], None)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(message)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        status = await process.wait()
        self._lost(status)

    def _lost(self, status: int) -> None:
        """The parent exited: fail pending forks, watch its orphans, restart it on the next spawn."""
        if self._requests is not None:
            self._requests.close()
            self._requests = None
        self.complete.set()  # nothing more will load: whoever waits for it restarts it (or starts fresh)
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(ConnectionError("the preloaded parent exited"))
        self._waiting.clear()
        for child in self._children.values():
            child.orphaned()
        self._children.clear()
        if self.closed:
            return
        self.restarts += 1
        then = "restarting it" if self.restarts <= MAX_RESTARTS else "workers start as fresh interpreters from now on"
        self.log(f"the preloaded worker parent exited (status {status}): {then}")

    async def _pump(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.log("preloaded parent: " + line.decode("utf-8", "replace").rstrip())

    @staticmethod
    async def _receive(stream: asyncio.StreamReader) -> dict:
        header = await stream.readexactly(HEADER.size)
        return json.loads(await stream.readexactly(HEADER.unpack(header)[0]))

    async def close(self) -> None:
        """Stop the parent (its workers are stopped by their pools)."""
        self.closed = True
        if self._requests is not None:
            self._requests.close()
            self._requests = None
        if self._process is not None and self._process.returncode is None:
            try:
                os.killpg(self._process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await self._process.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class Again(Exception):
    """The preloaded parent did not fork an early request: check the function against all it loaded."""


def _requirements(source_dir: Path):
    """(line number, text, Requirement) for each requirement line of the function's requirements.txt."""
    requirements = source_dir / "requirements.txt"
    if not requirements.is_file():
        return
    from packaging.requirements import InvalidRequirement, Requirement  # here: the sandbox's start skips it

    for number, line in enumerate(requirements.read_text(errors="replace").splitlines(), 1):
        text = line.split(" #", 1)[0].strip()
        if not text or text.startswith(("#", "-")):
            continue
        try:
            yield number, text, Requirement(text)
        except InvalidRequirement:
            continue


def _installed(name: str, folders: set[str]) -> tuple[str, set[str]] | None:
    """The version of distribution `name` installed in `folders` and its top-level import names, or None."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    for distribution in metadata.distributions(name=canonicalize_name(name), path=sorted(folders)):
        declared = distribution.read_text("top_level.txt")
        if declared is not None:
            tops = set(declared.split())
        else:
            tops = {
                f.parts[0].removesuffix(".py")
                for f in distribution.files or ()
                if not f.parts[0].endswith((".dist-info", ".egg-info", ".pth")) and f.parts[0] not in ("..", "__pycache__")
            }
        return distribution.version or "", tops
    return None


def own_copy(source_dir: Path, modules: dict[str, str]) -> str | None:
    """Why the function in `source_dir` must not share the preloaded `modules` (top-level import name
    -> the folder it came from), or None.

    It must not when it vendors a package of a preloaded import name, or when its requirements.txt asks
    for a preloaded distribution in a version the kit's copy does not satisfy (or from a URL).
    """
    for name in sorted(modules):
        if (source_dir / name).is_dir() or (source_dir / f"{name}.py").is_file():
            return f"it vendors its own {name} ({name}/ in its folder)"
    for number, text, wanted in _requirements(source_dir):
        found = _installed(wanted.name, set(modules.values()))
        if found is None or not found[1] & modules.keys():
            continue
        have = found[0]
        if wanted.url or (have and not wanted.specifier.contains(have, prereleases=True)):
            return f"requirements.txt:{number} asks for {text}, the preloaded copy is {wanted.name} {have}"
    return None


def brings(source_dir: Path, folders: set[str]) -> list[str] | None:
    """The top-level names the function in `source_dir` brings itself (its folder's packages and modules),
    for an early fork; None when a requirement line is not satisfied by the copy installed in
    `folders` (the function is then checked against everything the parent loads, not forked early)."""
    for _, _, wanted in _requirements(source_dir):
        found = _installed(wanted.name, folders)
        if found is not None and (wanted.url or (found[0] and not wanted.specifier.contains(found[0], prereleases=True))):
            return None
    return sorted({p.name.removesuffix(".py") for p in source_dir.iterdir() if p.is_dir() or p.suffix == ".py"})


class Launcher:
    """Starts each worker: forked from the zygote when its function may share the preloaded libraries.

    A function in `early` (one that makes no AWS client, e.g. a page) may be forked before the parent
    has loaded boto3: its first worker need not wait for what it does not use."""

    def __init__(self, zygote: Zygote | None, log: Callable[[str], None], early: Iterable[str] = ()):
        self.zygote, self.log = zygote, log
        self.early = set(early)  # function ids
        self._fresh: dict[Path, str | None] = {}  # function folder -> why it starts fresh (None: it forks)
        self.closed = False

    async def start(self, function_id: str, source_dir: Path, env: dict[str, str]):
        """A worker process for `env` in `source_dir`: forked, or `python worker_main.py` when it must be.

        Raises LauncherClosed once `close()` has begun: a worker started while the sandbox stops would
        outlive it (and hold its exit for ever, waiting on the process)."""
        process = None if self.closed else await self._start(function_id, source_dir, env)
        if self.closed:  # also when close() began while this one was starting
            if process is not None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                await process.wait()
            raise LauncherClosed("the sandbox is stopping")
        return process

    async def _start(self, function_id: str, source_dir: Path, env: dict[str, str]):
        zygote = self.zygote
        if zygote is not None and await zygote.ready():
            process = None
            if function_id in self.early and not zygote.loaded:
                own = brings(source_dir, set(zygote.modules.values()))
                if own is not None:
                    try:
                        process = await zygote.spawn(env, source_dir, own)
                    except Again:
                        pass
                    else:
                        if process is not None:
                            return process
            while not zygote.loaded:  # the check below needs all it loads
                await zygote.complete.wait()
                if not zygote.loaded and not await zygote.ready():  # it exited first and cannot restart
                    break
            if zygote.loaded and source_dir not in self._fresh:
                self._fresh[source_dir] = reason = own_copy(source_dir, zygote.modules)
                if reason:
                    self.log(f"{function_id} starts its workers as fresh interpreters: {reason}")
            if zygote.loaded and self._fresh[source_dir] is None:
                process = await zygote.spawn(env, source_dir)
                if process is not None:
                    return process
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-u",
            str(WORKER_MAIN),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=source_dir,
            env=env,
            start_new_session=True,
        )

    def forget(self) -> None:
        """Decide again, at each function's next start, whether it may fork (its requirements changed?)."""
        self._fresh.clear()

    def stop_starting(self) -> None:
        """From now on `start` refuses (a start under way kills its process and refuses too)."""
        self.closed = True

    async def close(self) -> None:
        self.stop_starting()
        if self.zygote is not None:
            await self.zygote.close()


class LauncherClosed(Exception):
    """No worker starts once the sandbox is stopping."""
