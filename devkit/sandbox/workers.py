"""Warm, Lambda-like worker processes: one pool per function, each worker one invocation at a time.

A worker runs worker_main.py in its own session and process group, with the function's folder as
working directory and import root and the function's environment (wholesale); it is forked from the
preloaded parent, or a fresh interpreter when its function brings its own libraries (zygote.py). It stays warm between invocations, as a
Lambda execution environment does. A worker that times out, crashes or exits is killed and replaced;
its invocation fails with `InvocationError`, as on AWS. `recycle()` retires every worker (hot reload).
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import secrets
import signal
import struct
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from devkit.manifest import Function
from devkit.sandbox.capacity import predict
from devkit.sandbox.environment import PASSED_THROUGH
from devkit.sandbox.limits import LAMBDA_REQUEST_BYTES, LAMBDA_RESPONSE_BYTES
from devkit.sandbox.zygote import Launcher, LauncherClosed, Zygote

HEADER = struct.Struct(">I")
# A reply frame's bytes around the handler's JSON result: `{"result": <result>, "cpu": "<14 characters>"}`
# (devkit/sandbox/worker_main.py writes the CPU time at that fixed width).
RESULT_WRAPPER = len(b'{"result": ') + len(b', "cpu": "') + 14 + len(b'"}')
INIT_TIMEOUT_SECONDS = 10.0  # Lambda's init phase limit
MAX_LOG_LINE = 16 * 1024

LogSink = Callable[[str, str], None]  # (function id, one line of its output)

# Every process a worker starts inherits this variable, even one that leaves the worker's process
# group and session (a daemon: fork, setsid, fork). At stop, any process still carrying this run's
# value is killed: no cgroups needed, and it works wherever psutil can read environments (Linux, macOS).
RUN_VARIABLE = "DEVKIT_SANDBOX_RUN"
SERVICES_VARIABLE = "DEVKIT_CLIENT_SERVICES"  # read by zygote_main.py (which imports nothing of the kit)


BASE_WORKERS = 2  # a function's workers that start without waiting; more only while these are stuck


class InvocationError(Exception):
    """The function failed: `kind` is error, timeout, crash, init or stopping (the sandbox is stopping,
    so no worker starts); `detail` is Lambda's error dict."""

    def __init__(self, kind: str, detail: dict):
        self.kind, self.detail = kind, detail
        super().__init__(f"{detail.get('errorType', kind)}: {detail.get('errorMessage', '')}")


class IntegrationTimeout(Exception):
    """API Gateway stopped waiting; the invocation runs on in its worker to the function's own timeout."""


class Worker:
    """One process running one function's handler."""

    def __init__(self, function: Function, env: dict[str, str], log: LogSink, run: str = "", launcher: Launcher | None = None):
        self.function, self.env, self.log = function, {**env, RUN_VARIABLE: run} if run else env, log
        self.launcher = launcher or Launcher(None, lambda line: None)
        self.process: Any = None  # asyncio.subprocess.Process, or zygote.ForkedProcess
        self.generation = 0
        self.last_used = time.monotonic()
        self._output_task: asyncio.Task | None = None

    async def start(self) -> None:
        """Start the process and wait for the handler to load; raises InvocationError("init") if it cannot."""
        try:
            self.process = await self.launcher.start(self.function.id, self.function.source_dir, self.env)
        except LauncherClosed:
            raise InvocationError("stopping", {"errorType": "Sandbox.Stopping", "errorMessage": "the sandbox is stopping"}) from None
        self._output_task = asyncio.create_task(self._pump_output())
        try:
            first = await asyncio.wait_for(self._receive(), INIT_TIMEOUT_SECONDS)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, ValueError):
            await self.kill()
            raise InvocationError("init", {"errorType": "Runtime.InitError", "errorMessage": "the handler did not load"}) from None
        if "init_error" in first:
            await self.kill()
            raise InvocationError("init", first["init_error"])

    async def invoke(self, request_id: str, event: dict, timeout: float):
        """Run one invocation; the handler's return value, or InvocationError (the worker is then dead).

        `request_id` is the caller's (API Gateway's); the handler's `context.aws_request_id` is a fresh
        UUID, Lambda's own id for the invocation, as on AWS.
        """
        deadline_ms = int((time.time() + timeout) * 1000)
        body = json.dumps({"aws_request_id": str(uuid.uuid4()), "deadline_ms": deadline_ms, "event": event}).encode()
        if len(body) > LAMBDA_REQUEST_BYTES and len(json.dumps(event).encode()) > LAMBDA_REQUEST_BYTES:
            raise self._refused("RequestEntityTooLargeException", f"Request must be smaller than {LAMBDA_REQUEST_BYTES} bytes for the InvokeFunction operation")
        started = time.monotonic()
        try:
            self.process.stdin.write(HEADER.pack(len(body)) + body)
            reply = await asyncio.wait_for(self._receive(), timeout)
        except asyncio.TimeoutError:
            await self.kill()
            raise InvocationError("timeout", {"errorType": "Sandbox.Timeout", "errorMessage": f"Task timed out after {timeout:.2f} seconds"}) from None
        except (asyncio.IncompleteReadError, ConnectionError, BrokenPipeError):
            code = await self._exit_code()
            raise InvocationError("crash", {"errorType": "Runtime.ExitError", "errorMessage": f"Runtime exited with error: exit status {code}"}) from None
        except ValueError:  # not a reply: something in the worker wrote on its reply channel
            await self.kill()
            raise InvocationError(
                "crash",
                {
                    "errorType": "Sandbox.ReplyCorrupted",
                    "errorMessage": "the worker's reply channel carried something other than a reply; the worker was replaced",
                },
            ) from None
        if "cpu" in reply:  # what it would take on Lambda at the function's memory (devkit/sandbox/capacity.py)
            line = predict(float(reply["cpu"]), time.monotonic() - started, self.function.memory).line(self.function.timeout)
            if line:
                self.log(self.function.id, line)
        if "error" in reply:
            raise InvocationError("error", reply["error"])
        return reply["result"]

    def _refused(self, error_type: str, message: str) -> InvocationError:
        """An invocation Lambda fails for its payload's size, said in the function's log as Lambda logs it."""
        self.log(self.function.id, f"[ERROR] {error_type}: {message}")
        return InvocationError("error", {"errorType": error_type, "errorMessage": message})

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def kill(self) -> None:
        """Stop the process and everything it started (its whole process group)."""
        if self.process is None:
            return
        if self.process.returncode is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        await self.process.wait()
        if self._output_task is not None:
            await asyncio.wait([self._output_task], timeout=1)

    async def _receive(self) -> dict:
        """The next reply, a dict with `result`, `error`, `ready` or `init_error`; ValueError for anything else.

        A result over Lambda's response limit is read through and dropped, never held whole, and
        fails the invocation as Lambda does (`Function.ResponseSizeTooLarge`); the worker stays warm.
        """
        (size,) = HEADER.unpack(await self.process.stdout.readexactly(HEADER.size))
        if size - RESULT_WRAPPER > LAMBDA_RESPONSE_BYTES:
            await self._discard(size)
            raise self._refused(
                "Function.ResponseSizeTooLarge", f"Response payload size exceeded maximum allowed payload size ({LAMBDA_RESPONSE_BYTES} bytes)."
            )
        reply = json.loads(await self.process.stdout.readexactly(size))
        if not isinstance(reply, dict) or not {"result", "error", "ready", "init_error"} & set(reply):
            raise ValueError("not a reply")
        return reply

    async def _discard(self, size: int) -> None:
        """Read and drop `size` bytes of the reply channel, 64 KB at a time."""
        while size:
            chunk = await self.process.stdout.read(min(size, 65536))
            if not chunk:
                raise asyncio.IncompleteReadError(b"", size)
            size -= len(chunk)

    async def _exit_code(self) -> int | None:
        try:
            return await asyncio.wait_for(self.process.wait(), 2)
        except asyncio.TimeoutError:
            await self.kill()
            return self.process.returncode

    async def _pump_output(self) -> None:
        """Forward the handler's output line by line; over-long lines are cut, never buffered whole."""
        pending = b""
        stream = self.process.stderr
        while chunk := await stream.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.log(self.function.id, line[:MAX_LOG_LINE].decode("utf-8", "replace"))
            if len(pending) > MAX_LOG_LINE:
                self.log(self.function.id, pending[:MAX_LOG_LINE].decode("utf-8", "replace") + " [cut]")
                pending = b""
        if pending:
            self.log(self.function.id, pending[:MAX_LOG_LINE].decode("utf-8", "replace"))


def throttled() -> InvocationError:
    """What Lambda answers a synchronous invocation beyond its concurrency (429 TooManyRequestsException)."""
    return InvocationError("throttle", {"errorType": "TooManyRequestsException", "errorMessage": "Rate Exceeded."})


class FunctionPool:
    """The warm workers of one function: at most `concurrency` at once, reused while healthy.

    Invocations beyond `concurrency` wait, at most `queue` of them; one more is refused at once with
    `throttled()`, so a flood costs bounded memory and the client hears about it as on AWS. Lifecycle
    invocations (`may_throttle=False`: `$connect`, `$disconnect`) always wait: `$disconnect` must run
    once for every socket, and `$connect` is already bounded by the new-connection rate.
    `environment()` gives a new worker its variables; it is called as each worker starts, so values
    known only once the sandbox listens (its port) are right.

    Workers beyond the first `BASE_WORKERS` start only when an invocation has waited `scale_after`
    seconds and the pool made no progress in that time (no worker came free, none finished starting),
    one at a time: slow calls scale out as on Lambda, while a queue of fast calls (a flood of
    `$connect`s, ten clients echoing) keeps sharing a few warm workers that come free every few
    milliseconds, instead of filling a laptop's two cores and its memory with processes that could not
    run any sooner. One at a time, because a new worker's first call is slow (its imports, its first
    boto3 client): starting them all at once turned every burst after a start into ten processes.
    """

    def __init__(
        self, function: Function, environment: Callable[[], dict[str, str]], concurrency: int, log: LogSink, queue: int = 100, scale_after: float = 0.0
    ):
        self.function, self.environment, self.log = function, environment, log
        self.scale_after = scale_after
        self._handoffs: collections.deque[asyncio.Future] = collections.deque()  # invocations waiting for a busy worker
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._queue_limit = queue
        self.run = ""  # the sandbox run's token (Functions sets it), carried by every worker
        self.launcher: Launcher | None = None  # how workers start (Functions sets it)
        self._waiting = 0  # invocations waiting for a slot
        self._progress = 0.0  # when a worker last came free or finished starting (monotonic)
        self._scaling = False  # a worker past BASE_WORKERS is starting
        self._generation = 0
        self._warming: asyncio.Future | None = None  # done once warm()'s worker is idle (or failed)
        self._stopping: set[asyncio.Task] = set()  # kills under way: kept, so none is collected early

    @property
    def saturated(self) -> bool:
        """True when another invocation now would be throttled."""
        return self._slots.locked() and self._waiting >= self._queue_limit

    async def invoke(self, request_id: str, event: dict, may_throttle: bool = True):
        """Run one invocation when a worker is free; `may_throttle=False` waits even past the queue's limit."""
        if may_throttle and self.saturated:
            raise throttled()
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            return await self._invoke(request_id, event)
        finally:
            self._slots.release()

    async def _invoke(self, request_id: str, event: dict):
        worker = await self._take()
        try:
            result = await worker.invoke(request_id, event, self.function.timeout)
        except InvocationError as error:
            if error.kind != "error":
                self._all.discard(worker)
                await worker.kill()
            else:
                self._give_back(worker)
            raise
        except BaseException:  # cancelled mid-invocation: the worker's state is unknown
            self._all.discard(worker)
            await asyncio.shield(worker.kill())
            raise
        self._give_back(worker)
        return result

    async def warm(self) -> None:
        """Start one worker ahead of the first invocation (errors surface on that invocation). An
        invocation arriving meanwhile waits for this worker rather than starting a second one."""
        async with self._slots:
            if self._all:
                return
            self._warming = asyncio.get_running_loop().create_future()
            try:
                self._give_back(await self._new_worker())
            except InvocationError:
                pass
            finally:
                self._warming.set_result(None)

    def recycle(self) -> None:
        """Retire every worker: idle ones now, busy ones when their invocation ends."""
        self._generation += 1
        idle, self._idle = self._idle, []
        for worker in idle:
            self._all.discard(worker)
            self._kill_soon(worker)

    async def close(self) -> None:
        workers, self._idle, self._all = list(self._all), [], set()
        await asyncio.gather(*(w.kill() for w in workers), *self._stopping, return_exceptions=True)

    def _kill_soon(self, worker: Worker) -> None:
        """Stop `worker` in the background; `close()` waits for it."""
        task = asyncio.create_task(worker.kill())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _take(self) -> Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.alive:
                return worker
            self._all.discard(worker)
        if self._warming is not None and not self._warming.done():
            await asyncio.shield(self._warming)  # warm()'s worker is nearly ready: take it, start none
            return await self._take()
        while len(self._all) >= BASE_WORKERS and self.scale_after > 0:
            handed = await self._wait_for_a_worker(self.scale_after)
            if handed is not None:
                return handed
            if self._idle:  # freed while the wait ended: take it
                return await self._take()
            if not self._scaling and time.monotonic() - self._progress >= self.scale_after:
                break  # every worker is stuck on a slow call: a new one helps
        return await self._new_worker()

    async def _new_worker(self) -> Worker:
        worker = Worker(self.function, self.environment(), self.log, self.run, self.launcher)
        worker.generation = self._generation
        extra = len(self._all) >= BASE_WORKERS
        self._all.add(worker)
        self._scaling |= extra
        try:
            await worker.start()
        except BaseException:
            self._all.discard(worker)
            raise
        finally:
            self._scaling &= not extra
            self._progress = time.monotonic()
        return worker

    async def _wait_for_a_worker(self, seconds: float) -> Worker | None:
        """The next worker given back within `seconds` (handed over directly), or None."""
        handoff = asyncio.get_running_loop().create_future()
        self._handoffs.append(handoff)
        try:
            return await asyncio.wait_for(asyncio.shield(handoff), seconds)
        except asyncio.TimeoutError:
            if handoff.done() and not handoff.cancelled():  # handed over as the wait ran out
                return handoff.result()
            handoff.cancel()
            return None
        except BaseException:  # cancelled while waiting: give back anything already handed over
            if handoff.done() and not handoff.cancelled():
                self._give_back(handoff.result())
            handoff.cancel()
            raise

    def reap_idle(self, idle_seconds: float, now: float | None = None) -> int:
        """Stop idle workers unused for `idle_seconds`, keeping the most recently used one warm."""
        now = time.monotonic() if now is None else now
        stale = [w for w in self._idle[:-1] if now - w.last_used >= idle_seconds]  # _idle[-1]: newest
        for worker in stale:
            self._idle.remove(worker)
            self._all.discard(worker)
            self._kill_soon(worker)
        return len(stale)

    def _give_back(self, worker: Worker) -> None:
        worker.last_used = self._progress = time.monotonic()
        if worker.alive and worker.generation == self._generation and worker in self._all:
            while self._handoffs:
                handoff = self._handoffs.popleft()
                if not handoff.done():
                    handoff.set_result(worker)
                    return
            self._idle.append(worker)
        else:
            self._all.discard(worker)
            self._kill_soon(worker)


class Functions:
    """Every function of the app, each with its own pool of warm workers."""

    def __init__(
        self,
        pools: dict[str, FunctionPool],
        preload: bool = False,
        log: Callable[[str], None] = lambda line: None,
        client_services: Iterable[str] = (),
        early: Iterable[str] = (),
    ):
        """`preload`: fork workers from a parent that imported the shared libraries (zygote.py) and
        loaded the models of `client_services` (boto3 service names) for their first clients; the
        functions of `early` (ids; they make no AWS client) may fork before it has loaded boto3."""
        self._pools = pools  # by function id (`ws-default`, `http-get-index`): unique across kinds
        self._overrunning: set[asyncio.Task] = set()  # invocations API Gateway stopped waiting for
        self.run = secrets.token_hex(8)
        # The parent carries only what Python needs and the run's token (forked workers show the
        # parent's environment in /proc, and kill_strays finds them by it): no developer credentials.
        parent_env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ} | {
            RUN_VARIABLE: self.run,
            SERVICES_VARIABLE: ",".join(sorted(client_services)),
        }
        self.launcher = Launcher(Zygote(parent_env, log) if preload else None, log, early)
        for pool in pools.values():
            pool.run, pool.launcher = self.run, self.launcher
        self._holds: dict[str, asyncio.Event] = {}

    def hold(self, function_ids: set[str], until: asyncio.Event) -> None:
        """Invocations of `function_ids` wait for `until` (what they use is still being made)."""
        self._holds.update(dict.fromkeys(function_ids, until))

    async def invoke(self, function: Function, request_id: str, event: dict, may_throttle: bool = True):
        held = self._holds.get(function.id)
        if held is not None and not held.is_set():
            await held.wait()
        return await self._pools[function.id].invoke(request_id, event, may_throttle)

    def saturated(self, function: Function) -> bool:
        """True when `function` would throttle another invocation now (checked before reading a body)."""
        return self._pools[function.id].saturated

    async def invoke_within(self, function: Function, request_id: str, event: dict, seconds: float, may_throttle: bool = True):
        """`invoke`, but raise IntegrationTimeout after `seconds` (API Gateway's integration timeout).

        The invocation is not cancelled: as on AWS, the function runs on, and its worker stays busy,
        until it returns or reaches its own timeout; its outcome is then dropped.
        """
        invocation = asyncio.ensure_future(self.invoke(function, request_id, event, may_throttle))
        done, _ = await asyncio.wait({invocation}, timeout=seconds)
        if done:
            return invocation.result()
        self._overrunning.add(invocation)
        invocation.add_done_callback(self._drop_outcome)
        raise IntegrationTimeout(f"no response within the integration timeout ({seconds:g} s)")

    def _drop_outcome(self, invocation: asyncio.Task) -> None:
        self._overrunning.discard(invocation)
        if not invocation.cancelled():
            invocation.exception()  # retrieved, so asyncio does not report it as never seen

    async def preload(self) -> None:
        """Start the preloaded parent now, ahead of the first worker (a no-op without one)."""
        if self.launcher.zygote is not None:
            await self.launcher.zygote.ready()

    async def warm(self, functions: Iterable[Function]) -> None:
        """Start one worker for each of `functions` ahead of its first invocation; the others start
        theirs on first use (forked from the warm parent, so in milliseconds plus the handler's load)."""
        await asyncio.gather(*(self._pools[f.id].warm() for f in functions))

    def recycle(self) -> None:
        self.launcher.forget()
        for pool in self._pools.values():
            pool.recycle()

    def function(self, function_id: str) -> Function:
        """The declaration `function_id`'s workers run with now."""
        return self._pools[function_id].function

    def redeclare(self, function: Function, environment: Callable[[], dict[str, str]]) -> None:
        """Run `function` (same id, edited settings) from its next invocation on: new workers, new limits."""
        pool = self._pools[function.id]
        pool.function, pool.environment = function, environment
        pool.recycle()

    def reap_idle(self, idle_seconds: float) -> None:
        for pool in self._pools.values():
            pool.reap_idle(idle_seconds)

    async def close(self) -> None:
        """Stop every worker, then anything they started that escaped their process groups."""
        self.launcher.stop_starting()  # first: from here on no worker starts (invocations still queued fail)
        await asyncio.gather(*(pool.close() for pool in self._pools.values()))
        await self.launcher.close()  # after the pools: forked workers' exits are reported by the parent
        await asyncio.to_thread(kill_strays, self.run)


def kill_strays(run: str) -> int:
    """SIGKILL every process of this user whose environment carries `RUN_VARIABLE=run`; how many."""
    import psutil  # here, at stop: the sandbox's start does not wait for its import

    killed = 0
    for process in psutil.process_iter(["uids"]):
        try:
            if process.pid == os.getpid() or process.info["uids"] is None or process.info["uids"].real != os.getuid():
                continue
            if process.environ().get(RUN_VARIABLE) == run:
                process.kill()
                killed += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return killed
