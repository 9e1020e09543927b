"""The sandbox's time rules at their exact boundaries, driven through the injectable clocks instead of
shrunken limits and sleeps: the new-connection rate, idle and maximum-age closes, idle workers, TTL.

The limits stay AWS's defaults here; each test moves the clock to just under and exactly to the limit.
"""

from __future__ import annotations

import json
import os

import psutil
import pytest
import websocket

from devkit import manifest
from devkit.sandbox.dynamodb import Tables
from devkit.sandbox.limits import Limits
from devkit.sandbox.websocket_api import RateLimiter
from tests.support.sandbox import InProcess, copy_fixture, wait_until

LIMITS = Limits()  # AWS's: idle 600 s, maximum age 7,200 s, one extra worker kept 30 s
JUST_UNDER = 0.001  # seconds: the clock a millisecond short of a limit


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_new_connections_burst_to_the_rate_then_refill_one_per_1_over_rate_seconds():
    """API Gateway: 500 new connections per second per account and Region ("Amazon API Gateway quotas
    for configuring and running a WebSocket API"). AWS does not document its bucket's burst; the
    sandbox allows a burst of one second's worth. Powers of two keep the arithmetic exact."""
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock)
    assert [limiter.allow() for _ in range(5)] == [True, True, True, True, False]
    clock.now += 0.125  # half a token
    assert limiter.allow() is False
    clock.now += 0.125  # the second half: exactly one token
    assert limiter.allow() is True
    assert limiter.allow() is False
    clock.now += 3600  # a long pause refills to the rate, not beyond it
    assert sum(limiter.allow() for _ in range(10)) == 4


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    app = manifest.load(copy_fixture("faults", tmp_path_factory.mktemp("app")) / "app.arc")
    with InProcess(app, LIMITS) as sandbox_in_process:
        yield sandbox_in_process


def open_socket(running: InProcess):
    ws = websocket.create_connection(running.ws_url, timeout=10)
    ws.send(json.dumps({"do": "echo"}))
    connection_id = json.loads(ws.recv())["event"]["requestContext"]["connectionId"]
    return ws, running.sandbox.registry.get(connection_id)


def enforce_at(running: InProcess, connection, now_from_connection) -> None:
    """Run the idle and age rule once, with the clock at `now_from_connection(connection)`."""

    async def enforce() -> None:
        await running.sandbox.ws.enforce_time_limits(now=now_from_connection(connection))

    running.run(enforce())


def still_open(ws) -> bool:
    """The socket answers an echo (a close scheduled by the rule would reach the client first)."""
    ws.send(json.dumps({"do": "echo"}))
    return json.loads(ws.recv())["route"] == "$default"


def read_close(ws) -> tuple[int, str]:
    opcode, frame = ws.recv_data_frame(True)
    while opcode != websocket.ABNF.OPCODE_CLOSE:
        opcode, frame = ws.recv_data_frame(True)
    return int.from_bytes(frame.data[:2], "big"), frame.data[2:].decode()


def test_a_socket_idle_for_exactly_the_idle_limit_is_closed_1001_and_one_just_under_is_not(running):
    """API Gateway: "Idle Connection Timeout: 10 minutes" (WebSocket API quotas); it closes with 1001
    Going Away. The idle time counts from the last message either way."""
    ws, connection = open_socket(running)
    enforce_at(running, connection, lambda c: c.last_active + LIMITS.idle_seconds - JUST_UNDER)
    assert still_open(ws)
    enforce_at(running, connection, lambda c: c.last_active + LIMITS.idle_seconds)
    assert read_close(ws) == (1001, "Going away")


def test_an_active_socket_is_closed_1001_at_exactly_its_maximum_age_and_not_just_before(running):
    """API Gateway: "Connection duration for WebSocket APIs: 2 hours" (WebSocket API quotas), active or not."""
    ws, connection = open_socket(running)

    def active_until(age: float):
        def now(c) -> float:
            at = c.peer.connected_at_ms / 1000 + age
            c.last_active = at  # a message at that very moment: never idle
            return at

        return now

    enforce_at(running, connection, active_until(LIMITS.max_connection_seconds - JUST_UNDER))
    assert still_open(ws)
    enforce_at(running, connection, active_until(LIMITS.max_connection_seconds))
    assert read_close(ws) == (1001, "Going away")


def default_workers() -> set[int]:
    """This process's ws-default worker processes (each runs in its function's folder)."""
    found = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if child.cwd().endswith(os.path.join("src", "ws", "default")) and child.status() != psutil.STATUS_ZOMBIE:
                found.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def test_an_extra_worker_idle_exactly_the_idle_limit_is_stopped_and_the_newest_stays_warm(running):
    """No AWS source: Lambda keeps idle environments for an undocumented time. The sandbox stops a
    function's extra workers idle `worker_idle_seconds` and keeps its most recently used one warm."""
    sockets = [websocket.create_connection(running.ws_url, timeout=10) for _ in range(2)]
    for ws in sockets:  # two at once: the pool needs both of its workers
        ws.send(json.dumps({"do": "sleep", "seconds": 0.5}))
    for ws in sockets:
        assert json.loads(ws.recv())["slept"] == 0.5
        ws.close()
    pool = running.sandbox.functions._pools["ws-default"]
    wait_until(lambda: len(pool._idle) == 2, 5, "both workers to be idle again")
    oldest, newest = pool._idle
    assert {oldest.process.pid, newest.process.pid} <= default_workers()  # (an earlier module's sandbox may still be ending its own)

    def reap(now: float) -> int:
        async def reap_now() -> int:
            return pool.reap_idle(LIMITS.worker_idle_seconds, now=now)

        return running.run(reap_now())

    assert reap(oldest.last_used + LIMITS.worker_idle_seconds - JUST_UNDER) == 0
    assert reap(oldest.last_used + LIMITS.worker_idle_seconds) == 1
    wait_until(lambda: oldest.process.pid not in default_workers(), 5, "the reaped worker's process to exit")
    assert newest.process.pid in default_workers()
    assert reap(newest.last_used + 1e6) == 0, "the most recently used worker is never reaped"


def test_an_item_expires_once_the_clock_passes_its_ttl_not_at_it(running):
    """DynamoDB TTL: an item is expired when its TTL attribute, epoch seconds, is less than the current
    time ("Using time to live (TTL) in DynamoDB": items whose TTL is "older than the current time")."""
    sandbox = running.sandbox
    [declared] = sandbox.manifest.tables
    physical = sandbox.table_names()[declared.name]
    tables = Tables(sandbox.dynamodb_endpoint, sandbox.manifest.aws.region, {physical: declared})
    expires = 2_000_000_000
    tables.client.put_item(TableName=physical, Item={"connectionId": {"S": "ttl-edge"}, "expires": {"N": str(expires)}})

    def present() -> bool:
        return "Item" in tables.client.get_item(TableName=physical, Key={"connectionId": {"S": "ttl-edge"}})

    assert tables.sweep_expired(now=expires) == 0 and present()
    assert tables.sweep_expired(now=expires + 1) == 1 and not present()
