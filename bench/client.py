"""The measuring client: one asyncio + aiohttp client used against every server under test.

Each coroutine takes a WebSocket URL, opens its own sockets, closes every one of them before it
returns, and is bounded in both count and time: when `deadline_s` runs out it stops and reports
what it measured so far (`stopped_early`). Times are `time.perf_counter()` seconds.

The echo protocol is the app's: send `{"text": "bench <n>"}`, expect a frame whose `text` ends with
`Echoing bench <n>`; `{"action": "broadcast", "text": m}` reaches every socket as a frame whose `text`
ends with `m`. A frame that is not the expected reply counts as an error; the first few are kept so a
report can show what the server said instead.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from devkit.progress import quiet

ProgressFn = Callable[[int, int], None]
REPLY_TIMEOUT_S = 10.0  # one echo or one broadcast frame; far beyond any healthy server
HANDSHAKE_TIMEOUT_S = 15.0  # one WebSocket upgrade, $connect handler included
GIVE_UP_AFTER = 50  # failed handshakes in a row: the server is broken, stop asking
KEPT_ERRORS = 5  # error samples kept for the report
OFFER_REFRESH_S = 300.0  # how long a page's subprotocols (say, a short-lived token) are reused

# ws URL -> [how to read the subprotocols its page offers, the last ones read, when]; see `offer`.
_offers: dict[str, list] = {}


def offer(url: str, read: Callable[[], list[str]]) -> None:
    """Offer, on every socket to `url`, the subprotocols `read()` returns (what the app's page offers),
    read again every OFFER_REFRESH_S seconds."""
    _offers[url] = [read, [], float("-inf")]


def _offered(url: str) -> list[str]:
    entry = _offers.get(url)
    if entry is None:
        return []
    if time.monotonic() - entry[2] > OFFER_REFRESH_S:
        entry[1], entry[2] = entry[0](), time.monotonic()
    return entry[1]


@dataclass
class Errors:
    """A count of failures and the first few of them, in words."""

    count: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, what: str) -> None:
        self.count += 1
        if len(self.samples) < KEPT_ERRORS:
            self.samples.append(what[:300])

    def as_dict(self) -> dict:
        return {"count": self.count, "samples": self.samples}


def new_session() -> aiohttp.ClientSession:
    """A session that may hold thousands of sockets (aiohttp's pool would stop at 100)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=HANDSHAKE_TIMEOUT_S),
    )


async def connect(session: aiohttp.ClientSession, url: str, origin: str | None = None) -> aiohttp.ClientWebSocketResponse:
    """Open one socket; `origin` adds an Origin header as a browser would (None: none, like a script).
    Raises asyncio.TimeoutError when the handshake takes longer than HANDSHAKE_TIMEOUT_S."""
    handshake = session.ws_connect(url, origin=origin, protocols=_offered(url), autoping=True, max_msg_size=0)
    return await asyncio.wait_for(handshake, HANDSHAKE_TIMEOUT_S)  # type: ignore[arg-type]  # awaitable, typed as a context manager


async def echo_once(ws: aiohttp.ClientWebSocketResponse, n: int, errors: Errors) -> float | None:
    """Send `bench <n>` and wait for its echo; the round trip in seconds, or None (an error recorded)."""
    expected = f"Echoing bench {n}"
    started = time.perf_counter()
    await ws.send_str(json.dumps({"text": f"bench {n}"}))
    while True:
        message = await ws.receive(timeout=REPLY_TIMEOUT_S)
        if message.type != aiohttp.WSMsgType.TEXT:
            errors.add(f"socket ended: {message.type.name} {message.data!r}")
            raise ConnectionError(f"socket ended while waiting for echo {n}")
        try:
            text = json.loads(message.data).get("text", "")
        except (ValueError, AttributeError):
            text = ""
        if isinstance(text, str) and text.endswith(expected):
            return time.perf_counter() - started
        if isinstance(text, str) and " - Echoing bench " in text:
            continue  # a late echo of an earlier message that had timed out: not this one
        errors.add(f"unexpected reply to bench {n}: {message.data}")
        return None


async def probe_echo(url: str, origin: str | None = None) -> str | None:
    """One connect and one echo: None when both worked, else what went wrong (for readiness checks)."""
    errors = Errors()
    try:
        async with new_session() as session:
            ws = await connect(session, url, origin)
            try:
                took = await echo_once(ws, 0, errors)
            finally:
                await ws.close()
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ConnectionError) as failure:
        return f"{type(failure).__name__}: {failure}"
    return None if took is not None else errors.samples[0]


async def echo_round_trips(
    url: str, count: int, warmup: int = 20, *, deadline_s: float = 120.0, progress: ProgressFn = quiet, origin: str | None = None
) -> dict:
    """Sequential echo round trips on one socket, `warmup` unmeasured first.

    Returns `{"latencies_s": [...], "errors": {...}, "stopped_early": bool}`.
    """
    errors = Errors()
    latencies: list[float] = []
    stopped_early = False
    end = time.monotonic() + deadline_s
    async with new_session() as session:
        ws = await connect(session, url, origin)
        try:
            for n in range(warmup + count):
                if time.monotonic() > end:
                    stopped_early = True
                    break
                try:
                    took = await echo_once(ws, n, errors)
                except asyncio.TimeoutError:
                    errors.add(f"no echo of bench {n} within {REPLY_TIMEOUT_S} s")
                    continue
                except ConnectionError:
                    stopped_early = True
                    break
                if n >= warmup and took is not None:
                    latencies.append(took)
                    progress(len(latencies), count)
        finally:
            await ws.close()
    return {"latencies_s": latencies, "errors": errors.as_dict(), "stopped_early": stopped_early}


async def open_many(
    session: aiohttp.ClientSession,
    url: str,
    count: int,
    *,
    concurrency: int = 50,
    deadline_s: float = 120.0,
    progress: ProgressFn = quiet,
    origin: str | None = None,
) -> tuple[list[aiohttp.ClientWebSocketResponse], Errors]:
    """Open up to `count` sockets, at most `concurrency` handshakes at a time, until `deadline_s`.

    A refused handshake (429 from a rate limit, say) is retried twice after a short pause. After
    GIVE_UP_AFTER failures in a row no new handshake starts. Returns the open sockets and the failures.
    """
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    errors = Errors()
    gate = asyncio.Semaphore(concurrency)
    end = time.monotonic() + deadline_s
    failed_in_a_row = 0

    async def one() -> None:
        nonlocal failed_in_a_row
        async with gate:
            for attempt in range(3):
                if time.monotonic() > end:
                    errors.add("deadline passed before this socket was opened")
                    return
                if failed_in_a_row >= GIVE_UP_AFTER:
                    errors.add(f"not tried: {GIVE_UP_AFTER} handshakes in a row had failed")
                    return
                try:
                    sockets.append(await connect(session, url, origin))
                    failed_in_a_row = 0
                    progress(len(sockets), count)
                    return
                except aiohttp.WSServerHandshakeError as refused:
                    if attempt == 2 or refused.status not in (429, 503):
                        failed_in_a_row += 1
                        errors.add(f"handshake refused: {refused.status} {refused.message}")
                        return
                    await asyncio.sleep(0.2 * (attempt + 1))
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as failure:
                    failed_in_a_row += 1
                    errors.add(connect_failure(failure))
                    return

    await asyncio.gather(*(one() for _ in range(count)))
    return sockets, errors


def connect_failure(failure: BaseException) -> str:
    """A failed handshake in words (a timeout's own message is empty)."""
    if isinstance(failure, asyncio.TimeoutError):
        return f"no handshake within {HANDSHAKE_TIMEOUT_S:g} s"
    return f"connect failed: {type(failure).__name__}: {failure}"


async def close_all(sockets: list[aiohttp.ClientWebSocketResponse], concurrency: int = 200) -> None:
    """Close every socket (each close waits at most aiohttp's close timeout)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(ws: aiohttp.ClientWebSocketResponse) -> None:
        async with gate:
            try:
                await ws.close()
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                pass

    await asyncio.gather(*(one(ws) for ws in sockets))


async def throughput(
    url: str, clients: int, duration_s: float, *, progress: ProgressFn = quiet, origin: str | None = None, around: Callable[[], None] | None = None
) -> dict:
    """Echoed messages per second with `clients` sockets, each sending its next message on the echo
    of the last (closed loop), for `duration_s` after all sockets are open. `around()`, if given, is
    called just before the timed window and just after it (before the sockets close): a profile's
    two readings.

    Returns `{"clients", "messages", "seconds", "msgs_per_s", "errors", "connected"}`.
    """
    errors = Errors()
    async with new_session() as session:
        sockets, connect_errors = await open_many(session, url, clients, origin=origin)
        for sample in connect_errors.samples:
            errors.add(sample)
        counts = [0] * len(sockets)
        stop_at = time.perf_counter() + duration_s

        async def loop(index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            n = index * 10_000_000
            while time.perf_counter() < stop_at:
                n += 1
                try:
                    if await echo_once(ws, n, errors) is not None:
                        counts[index] += 1
                except asyncio.TimeoutError:
                    errors.add(f"no echo within {REPLY_TIMEOUT_S} s")
                except ConnectionError:
                    return

        async def ticker() -> None:
            while time.perf_counter() < stop_at:
                await asyncio.sleep(0.5)
                progress(min(int(duration_s - (stop_at - time.perf_counter())), int(duration_s)), int(duration_s))

        if around:
            around()
        started = time.perf_counter()
        tick = asyncio.create_task(ticker())
        try:
            await asyncio.gather(*(loop(i, ws) for i, ws in enumerate(sockets)))
        finally:
            tick.cancel()
            elapsed = time.perf_counter() - started
            if around:
                around()
            await close_all(sockets)
    total = sum(counts)
    return {
        "clients": clients,
        "connected": len(sockets),
        "messages": total,
        "seconds": elapsed,
        "msgs_per_s": total / elapsed if elapsed > 0 else 0.0,
        "errors": errors.as_dict(),
    }


async def broadcast_fanout(
    url: str,
    connections: int,
    *,
    rounds: int = 1,
    progress: ProgressFn = quiet,
    origin: str | None = None,
    deadline_s: float = 120.0,
    around: Callable[[], None] | None = None,
) -> dict:
    """Open `connections` sockets, then `rounds` times broadcast one message from the first and time
    until every socket has received it. `around()`, if given, is called just before the last round's
    message is sent and just after its last arrival: a profile's two readings.

    Returns `{"connections", "connected", "received", "seconds" (the first round, until the last
    socket), "p50_s" (its median arrival), "rounds_s" (every round's `seconds`), "errors"}`; a
    round's seconds are None when some socket never got its message.
    """
    errors = Errors()
    async with new_session() as session:
        sockets, connect_errors = await open_many(session, url, connections, progress=progress, origin=origin, deadline_s=deadline_s)
        for sample in connect_errors.samples:
            errors.add(sample)
        timed: list[tuple[float | None, float | None, int]] = []
        try:
            for round_ in range(rounds):
                if round_:
                    await asyncio.sleep(0.2)  # let the last round's invocation finish before the next
                last = round_ == rounds - 1
                timed.append(await _broadcast_once(sockets, connections, around if last else None))
        finally:
            await close_all(sockets)
    for seconds, _, received in timed:
        if seconds is None:
            errors.add(f"{received} of {connections} sockets received the broadcast")
    first = timed[0] if timed else (None, None, 0)
    return {
        "connections": connections,
        "connected": len(sockets),
        "received": first[2],
        "seconds": first[0],
        "p50_s": first[1],
        "rounds_s": [seconds for seconds, _, _ in timed],
        "errors": errors.as_dict(),
    }


async def _broadcast_once(
    sockets: list[aiohttp.ClientWebSocketResponse], connections: int, around: Callable[[], None] | None
) -> tuple[float | None, float | None, int]:
    """One broadcast from the first socket: (seconds until the last arrival or None if some socket
    missed it, the median arrival, how many arrived)."""
    marker = f"fan-out {uuid.uuid4().hex[:12]}"
    arrivals: list[float] = []

    async def reader(ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            message = await ws.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                return
            if marker in message.data:
                arrivals.append(time.perf_counter())
                return

    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    if around:
        around()
    started = time.perf_counter()
    if sockets:
        await sockets[0].send_str(json.dumps({"action": "broadcast", "text": marker}))
    _, pending = await asyncio.wait(readers, timeout=max(5.0, connections / 20)) if readers else (set(), set())
    if around:
        around()
    for task in pending:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    arrivals.sort()
    delays = [a - started for a in arrivals]
    complete = bool(sockets) and len(arrivals) == len(sockets) == connections
    return (delays[-1] if complete else None), (delays[len(delays) // 2] if delays else None), len(arrivals)


async def connect_times(url: str, count: int, *, progress: ProgressFn = quiet, origin: str | None = None, deadline_s: float = 60.0) -> dict:
    """Open `count` sockets one after another, timing each handshake ($connect included); they stay
    open until the last is measured, then all close.

    Stops early at `deadline_s` or after 5 failures in a row.
    Returns `{"latencies_s": [...], "errors": {...}, "stopped_early": bool}`.
    """
    errors = Errors()
    latencies: list[float] = []
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    stopped_early = False
    failed_in_a_row = 0
    end = time.monotonic() + deadline_s
    async with new_session() as session:
        try:
            for _ in range(count):
                if time.monotonic() > end or failed_in_a_row >= 5:
                    stopped_early = True
                    break
                started = time.perf_counter()
                try:
                    sockets.append(await connect(session, url, origin))
                except aiohttp.WSServerHandshakeError as refused:
                    failed_in_a_row += 1
                    errors.add(f"handshake refused: {refused.status} {refused.message}")
                    continue
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as failure:
                    failed_in_a_row += 1
                    errors.add(connect_failure(failure))
                    continue
                failed_in_a_row = 0
                latencies.append(time.perf_counter() - started)
                progress(len(latencies), count)
        finally:
            await close_all(sockets)
    return {"latencies_s": latencies, "errors": errors.as_dict(), "stopped_early": stopped_early}


async def hold_connections(
    url: str,
    target: int,
    *,
    hold_s: float = 3.0,
    measure: Callable[[], dict] | None = None,
    concurrency: int = 50,
    deadline_s: float = 150.0,
    progress: ProgressFn = quiet,
    origin: str | None = None,
) -> dict:
    """Open up to `target` sockets, keep them open `hold_s`, count how many are still open, and call
    `measure()` (the server's memory, say) while they are; then close them all.

    Returns `{"target", "opened", "held", "open_seconds", "measured", "errors"}`.
    """
    async with new_session() as session:
        started = time.perf_counter()
        sockets, errors = await open_many(session, url, target, concurrency=concurrency, deadline_s=deadline_s, progress=progress, origin=origin)
        open_seconds = time.perf_counter() - started
        ended: set[int] = set()

        async def watch(index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            while True:  # only a read notices that the server closed a socket
                message = await ws.receive()
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR):
                    ended.add(index)
                    return

        watchers = [asyncio.create_task(watch(i, ws)) for i, ws in enumerate(sockets)]
        try:
            await asyncio.sleep(hold_s)
            held = len(sockets) - len(ended)
            measured = measure() if measure else {}
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            await close_all(sockets)
    return {
        "target": target,
        "opened": len(sockets),
        "held": held,
        "open_seconds": open_seconds,
        "measured": measured,
        "errors": errors.as_dict(),
    }


async def edit_to_echo(url: str, edit: Callable[[], str], *, origin: str | None = None, deadline_s: float = 10.0) -> float | None:
    """Seconds from `edit()` (which changes the app and returns text the changed echo will contain)
    to the first echo that contains it; None if none did within `deadline_s`."""
    async with new_session() as session:
        ws = await connect(session, url, origin)
        try:
            await ws.send_str(json.dumps({"text": "before"}))
            await ws.receive()
            marker = edit()
            started = time.perf_counter()
            while time.perf_counter() - started < deadline_s:
                await ws.send_str(json.dumps({"text": "after"}))
                message = await ws.receive(timeout=deadline_s)
                if message.type == aiohttp.WSMsgType.TEXT and marker in message.data:
                    return time.perf_counter() - started
                await asyncio.sleep(0.005)
        finally:
            await ws.close()
    return None
