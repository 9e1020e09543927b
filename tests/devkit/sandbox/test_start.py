"""What waits for the tables while the sandbox starts, and what need not.

Only an invocation whose function's declaration may allow a DynamoDB call (devkit/permissions.py
`may_use_tables`) or reads a secret (made with the tables) waits for the tables; a route without either
answers at once. The database is made
slow without a hook: `dynamodb_endpoint` names a port that accepts connections and never answers,
so creating the tables hangs (botocore's read timeout) for the whole test.
No AWS source: this is the sandbox's own start order, which AWS has no counterpart of.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import urllib.request

import aiohttp
import pytest

from devkit import manifest
from devkit.sandbox.log import Log
from devkit.sandbox.server import Sandbox
from tests.support.sandbox import FIXTURES, wait_until


class Silent:
    """A TCP port that accepts every connection and never answers; `close()` drops them all."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            while True:
                self.accepted.append(self.listener.accept()[0])
        except OSError:  # closed
            pass

    def close(self) -> None:
        self.listener.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture(params=[FIXTURES / "relay" / "app.arc"])
def starting(monkeypatch, request):
    """An app's sandbox (the fixture app tests/fixtures/relay's unless parametrized), in this process, still creating its
    tables on a database that never answers."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)  # with the developer's keys IAM is off: all would wait
    silent = Silent()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    sandbox = Sandbox(manifest.load(request.param), port=0, log=Log(quiet=True), reload=False, dynamodb_endpoint=f"http://127.0.0.1:{silent.port}")
    start = asyncio.run_coroutine_threadsafe(sandbox.start(), loop)
    try:
        wait_until(lambda: sandbox.port, what="the port to open")
        yield sandbox, loop
    finally:
        silent.close()  # the table creation fails now, so start() ends
        try:
            start.result(30)
        except Exception:
            pass
        asyncio.run_coroutine_threadsafe(sandbox.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.mark.parametrize("starting", [FIXTURES / "faults" / "app.arc"], indirect=True)
def test_a_route_without_table_grants_answers_while_the_tables_are_still_being_created(starting):
    sandbox, _ = starting
    with urllib.request.urlopen(f"http://127.0.0.1:{sandbox.port}/", timeout=20) as page:
        assert page.status == 200
    assert not sandbox._ready.is_set(), "the tables cannot exist: the database never answered"


def test_a_route_that_reads_a_secret_waits_for_the_tables(starting):
    """The relay fixture's page declares the secret `signing-key`, which the embedded moto makes with the
    tables: its request is held, not failed, until they exist."""
    sandbox, _ = starting
    with pytest.raises(OSError):  # urllib's timeout: held, where a route without grants answers at once
        urllib.request.urlopen(f"http://127.0.0.1:{sandbox.port}/", timeout=1.5)


def test_a_websocket_waits_for_the_tables_when_connect_may_use_them(starting):
    """The relay fixture's `$connect` declares `table peers PutItem`: its upgrade is held before the WebSocket API
    (and so before `$connect` runs) until the table exists."""
    sandbox, loop = starting
    reached = []
    handle = sandbox.ws.handle

    async def recording(request):
        reached.append(request.path)
        return await handle(request)

    sandbox.ws.handle = recording

    async def connect() -> None:
        async with aiohttp.ClientSession() as session, session.ws_connect(f"ws://127.0.0.1:{sandbox.port}/"):
            pass

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(asyncio.wait_for(connect(), 1.5))
    assert reached == [], "the upgrade reached the WebSocket API before the tables existed"


def test_the_workers_started_with_the_sandbox_are_a_first_visits_get_routes_connect_and_default():
    """No AWS source (the sandbox's own start order; Lambda starts every function on first use): the
    functions of GET routes (a page) and API Gateway's `$connect` and `$default` routes start a worker
    with the sandbox; `$disconnect` and custom routes such as the relay fixture's `announce` start theirs on first use."""
    from devkit.sandbox.server import first_request

    assert [f.id for f in first_request(manifest.load(FIXTURES / "relay" / "app.arc"))] == ["http-get-index", "ws-connect", "ws-default"]
