"""Load and faults: N clients of the real app connect, chat, then vanish in every way a client can.

RELIABILITY_NEVER_READING of them (default 100) stop reading while the Management API keeps posting
128 KB to them until it answers 429, as API Gateway does for a full client buffer (each takes about
4 MB of loopback buffers and the sandbox's 128 KB queue to stall, hence fewer); the rest split three
ways: a clean close, a TCP reset (SO_LINGER 0), and a process SIGKILLed halfway through a frame. Afterwards the
connections table is empty, `$disconnect` ran exactly once per connection, no worker, socket or memory
is left over, and the sandbox still answers. N is RELIABILITY_CLIENTS (default 1000).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tests.support.reliability import CLIENTS, MESSAGES, NEVER_READING, record_figures, start_app
from tests.support.repo import ROOT
from tests.support.sandbox import holds, wait_until
from tests.support.wsclient import PAGE_PROTOCOLS, Client, connect_retrying

HALF_FRAME_CLIENT = ROOT / "tests" / "support" / "half_frame_client.py"
FUNCTIONS = 7  # GET /, $connect, $default, $disconnect, broadcast, deliver, the authorizer
WORKERS_PER_FUNCTION = 4  # SANDBOX_WORKER_CONCURRENCY for this test, so "no worker left behind" has a bound
POST_BYTES = 128 * 1024
SIGNED = {"Authorization": "AWS4-HMAC-SHA256 Credential=sandbox/20240101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=0"}


async def chat(port: int, count: int, messages: int, label: str, gate: asyncio.Semaphore, **options) -> list[Client]:
    """`count` clients, each echoing `messages` texts, with at most `gate` handshakes in flight."""

    async def one(index: int) -> Client:
        async with gate:
            client = await connect_retrying(port, **options)
        for n in range(messages):
            text = f"{label}-{index}-{n}"
            reply = await client.ask({"text": text}, timeout=60)
            assert reply["text"].endswith(f"Echoing {text}"), reply
        return client

    return await asyncio.gather(*(one(i) for i in range(count)))


async def post_until_refused(session: aiohttp.ClientSession, url: str, connection_id: str, most: int = 64) -> tuple[int, int]:
    """POST 128 KB to a socket that never reads until the sandbox refuses; (posts, final status)."""
    body = b"x" * POST_BYTES
    for posts in range(1, most + 1):
        async with session.post(f"{url}/@connections/{connection_id}", data=body, headers=SIGNED) as response:
            if response.status != 200:
                return posts, response.status
    return most, 200


def half_frame_process(port: int, count: int) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [sys.executable, str(HALF_FRAME_CLIENT), str(port), str(count), str(MESSAGES), PAGE_PROTOCOLS.get(port, "")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()  # bounded by the child's own 15 s timeouts per step
    if not line.startswith("READY"):
        process.kill()
        raise AssertionError(f"the half-frame client failed: {line}{process.communicate(timeout=10)[1][-3000:]}")
    return process, int(line.split()[1])


def live_workers(sandbox) -> set[int]:
    return {p for p in sandbox.workers() if _state(p) not in ("Z", None)}


def _state(pid: int) -> str | None:
    """The process's state letter, None once it is gone (workers exit while being listed)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_clients_that_vanish_every_way_leave_no_row_worker_socket_or_memory_behind(tmp_path):
    stalled = max(1, min(NEVER_READING, CLIENTS // 4))
    third = max(1, (CLIENTS - stalled) // 3)
    sandbox = start_app(tmp_path, env={"SANDBOX_WORKER_CONCURRENCY": str(WORKERS_PER_FUNCTION)})
    try:
        waves = [asyncio.run(_load(sandbox, third, stalled)) for _ in range(2)]
    finally:
        sandbox.stop()
    for wave in waves:
        record_figures("load", wave)
    first, second = (wave["rss_mb"]["after"] for wave in waves)
    # Python keeps freed memory in its arenas, so RSS after a wave stays near that wave's peak; what
    # proves nothing is kept per connection is that a second identical wave does not grow it further.
    assert second <= first + 16, f"RSS grew from {first} MB after wave 1 to {second} MB after wave 2: something is kept per connection"


async def _load(sandbox, third: int, never_reading: int) -> dict:
    started = time.monotonic()
    port = sandbox.port
    gate = asyncio.Semaphore(64)

    # Warm up every pool, then take the baselines.
    warm = await chat(port, 40, 1, "warm", gate)
    await asyncio.gather(*(c.close() for c in warm))
    wait_until(lambda: not sandbox.rows(), 30, "the warm-up rows to go")
    # Each row goes while its $disconnect handler runs: wait for every handler's log line too.
    wait_until(lambda: sandbox.disconnect_handler_runs() == sandbox.accepted(), 30, "every warm-up $disconnect")
    baseline = {"rss_mb": sandbox.rss_mb(), "fds": sandbox.open_fds(), "workers": len(sandbox.workers())}

    # Never-reading sockets first, so the table's rows are exactly theirs.
    stalled = await chat(port, never_reading, 1, "stalled", gate, receive_buffer=4096)
    stalled_ids = sandbox.rows()
    assert len(stalled_ids) == never_reading
    clean = await chat(port, third, MESSAGES, "clean", gate)
    reset = await chat(port, third, MESSAGES, "reset", gate)
    killer, killed_messages = await asyncio.to_thread(half_frame_process, port, third)
    opened = 3 * third + never_reading
    assert len(sandbox.rows()) == opened, "every open socket has its row"
    peak_rss = sandbox.rss_mb()

    # Vanish, all at once.
    close_codes: list[int | None] = []

    async def close_cleanly():
        close_codes.extend(await asyncio.gather(*(c.close() for c in clean)))

    async def reset_all():
        for client in reset:
            client.reset()

    async def kill_mid_frame():
        os.kill(killer.pid, signal.SIGKILL)
        await asyncio.to_thread(killer.wait, 10)

    async def flood_the_stalled():
        limit = aiohttp.TCPConnector(limit=32)
        async with aiohttp.ClientSession(connector=limit, timeout=aiohttp.ClientTimeout(total=60)) as session:
            return await asyncio.gather(*(post_until_refused(session, sandbox.url, cid) for cid in stalled_ids))

    results = await asyncio.gather(close_cleanly(), reset_all(), kill_mid_frame(), flood_the_stalled())
    posted = results[3]
    assert set(stalled_ids) <= set(sandbox.rows()), "a client that stops reading is still connected: its row stays"
    peak_rss = max(peak_rss, sandbox.rss_mb())
    for client in stalled:
        client.abort()
    await asyncio.sleep(0)  # asyncio closes an aborted socket on the loop's next turn; wait_until blocks the loop

    # Afterwards: nothing left.
    wait_until(lambda: not sandbox.rows(), 60, "the connections table to empty")
    accepted = sandbox.accepted()
    ids = set(accepted)
    wait_until(lambda: sum(sandbox.disconnect_handler_runs().values()) >= len(ids), 30, "every $disconnect to run")
    holds(lambda: sandbox.disconnect_handler_runs() == accepted, 1, "exactly one $disconnect per connection")
    runs = sandbox.disconnect_handler_runs()
    codes = disconnect_codes(sandbox)

    assert all(count == 1 for count in accepted.values())
    assert runs == accepted, "$disconnect ran exactly once for every accepted connection, and for no other"
    assert close_codes == [1000] * third, "a clean close is answered with 1000"
    assert [status for _, status in posted] == [429] * never_reading, "a socket that stops reading gets 429, not cut off"
    assert codes.count(1006) >= 2 * third + never_reading, "resets, kills and the stalled sockets' aborts end with 1006"
    wait_until(lambda: len(live_workers(sandbox)) <= FUNCTIONS * WORKERS_PER_FUNCTION, 10, "surplus workers to exit")
    workers = live_workers(sandbox)
    fds = sandbox.open_fds()
    assert fds <= baseline["fds"] + 3 * (len(workers) - baseline["workers"]) + 16, f"fds {baseline['fds']} -> {fds}: sockets leaked"
    rss = sandbox.rss_mb()
    assert rss <= baseline["rss_mb"] + max(40.0, 0.5 * (peak_rss - baseline["rss_mb"])), (
        f"RSS {baseline['rss_mb']:.0f} MB -> peak {peak_rss:.0f} MB -> {rss:.0f} MB"
    )

    # Still answering.
    after = await Client.connect(port)
    assert (await after.ask({"text": "still here"}))["text"].endswith("Echoing still here")
    assert await after.close() == 1000
    wait_until(lambda: not sandbox.rows(), 10, "the last row to go")
    wait_until(lambda: sandbox.disconnect_handler_runs() == sandbox.accepted(), 10, "the last $disconnect")

    return {
        "clients": opened,
        "ways": {"clean": third, "reset": third, "killed_mid_frame": third, "never_reading": never_reading},
        "messages_echoed": 2 * third * MESSAGES + killed_messages + never_reading + 40 + 1,
        "posts_to_never_reading": sum(p for p, _ in posted),
        "post_megabytes": round(sum(p for p, _ in posted) * POST_BYTES / 2**20),
        "disconnects": sum(runs.values()),
        "rows_left": len(sandbox.rows()),
        "rss_mb": {"baseline": round(baseline["rss_mb"]), "peak": round(peak_rss), "after": round(rss)},
        "fds": {"baseline": baseline["fds"], "after": fds},
        "workers": {"baseline": baseline["workers"], "after": len(workers)},
        "seconds": round(time.monotonic() - started, 1),
    }


def disconnect_codes(sandbox) -> list[int]:
    return [int(code) for code in re.findall(r"WS  \$disconnect \S+ \((\d+)", sandbox.output())]
