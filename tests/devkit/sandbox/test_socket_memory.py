"""Bounded memory for every socket: pongs count toward the write cap, and unfinished messages share one
budget. Neither bound is AWS's: API Gateway's quotas ("Quotas for configuring and running a WebSocket
API", API Gateway developer guide) name the 32 KB frame and the 128 KB message, and publish nothing on
pongs to a client that never reads or on how many unfinished messages it holds; the sandbox's rules
and figures are its own (docs/reliability.md, README's limits table).

The arithmetic these tests prove at small scale: each socket queues at most `send_buffer_bytes` (128 KB)
plus one message for its client, pongs included; all sockets together hold at most
`unfinished_messages_bytes` (64 MB) of unfinished client messages. So 10,000 sockets each holding an
unfinished 127 KB message cost the sandbox at most 64 MB of message bytes (the 505th socket, and each
after it, is closed with 1013), beside the memory of the open sockets themselves.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct

import psutil
import pytest

from tests.support.sandbox import RunningSandbox, copy_fixture, wait_until
from tests.support.wsclient import CLOSE, PING, PONG, TEXT, Client, close_code, frame

MESSAGE = 127 * 1024  # each socket's unfinished message
FRAME = 32 * 1024
ROOM_FOR = 4  # whole unfinished messages the test's budget holds


@pytest.fixture(scope="module")
def budgeted(tmp_path_factory):
    env = {"SANDBOX_UNFINISHED_MESSAGES_BYTES": str(ROOM_FOR * MESSAGE + 1000)}
    sandbox = RunningSandbox(copy_fixture("faults", tmp_path_factory.mktemp("app")), env=env, args=("--no-reload",))
    try:
        yield sandbox
    finally:
        sandbox.stop()


def unfinished(body: bytes) -> list[bytes]:
    """`body` as client frames of at most 32 KB, the last one without FIN: a message never finished."""
    pieces = [body[i : i + FRAME] for i in range(0, len(body), FRAME)]
    return [frame(TEXT if i == 0 else 0x0, piece, fin=False) for i, piece in enumerate(pieces)]


async def hold(port: int, text: bytes) -> Client:
    """A socket that sent `text` as an unfinished message; returns once the sandbox has read it all
    (its pong to a ping sent after the message proves every byte before it was parsed)."""
    client = await Client.connect(port)
    for piece in unfinished(text):
        await client.send_raw(piece)
    await client.send_raw(frame(PING, b"after"))
    opcode, payload = await _next_frame(client)
    if opcode == CLOSE:
        raise ConnectionError(f"closed with {close_code(payload)}")
    assert (opcode, payload) == (PONG, b"after")
    return client


async def _next_frame(client: Client) -> tuple[int, bytes]:
    first, second = await asyncio.wait_for(client.reader.readexactly(2), 10)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack(">H", await client.reader.readexactly(2))[0]
    return first & 0x0F, await client.reader.readexactly(length)


def test_unfinished_messages_of_all_sockets_stay_within_the_budget_and_the_next_socket_is_closed_with_1013(budgeted):
    body = b'{"do": "pid", "pad": "' + b"x" * MESSAGE  # completed later by '"}'

    async def scenario():
        holders = [await hold(budgeted.port, body[:MESSAGE]) for _ in range(ROOM_FOR)]
        # The next one is closed; the client may see the close frame or, as the sandbox drops what it
        # has not read, a reset: the sandbox's $disconnect line has the code.
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await hold(budgeted.port, body[:MESSAGE])
        await asyncio.to_thread(
            wait_until,
            lambda: f"(1013 Unfinished messages of all sockets would pass the sandbox's {ROOM_FOR * MESSAGE + 1000} bytes)" in budgeted.output(),
            5,
            "the 1013 close",
        )
        # The first finishes its message: its bytes are given back, and another socket may hold as much.
        await holders[0].send_raw(frame(0x0, body[MESSAGE:] + b'"}', fin=True))
        reply = await holders[0].receive_json()
        assert "pid" in reply
        holders.append(await hold(budgeted.port, body[:MESSAGE]))
        # One vanishes mid-message: its bytes are given back too.
        holders[1].abort()
        await asyncio.to_thread(wait_until, lambda: re.search(r"\$disconnect \S+ \(1006\)", budgeted.output()), 5, "its end")
        replaced = await hold(budgeted.port, body[:MESSAGE])
        for client in holders[2:] + [holders[0], replaced]:
            client.abort()

    asyncio.run(scenario())
    assert budgeted.output().count("(1013 ") == 1, "only the socket past the budget was closed"


def test_pings_from_a_client_that_never_reads_close_it_once_its_pongs_pass_the_write_cap(budgeted):
    """The red team's pong flood: 120 -> 681 MB in 30 s while pongs bypassed the cap."""
    sandbox = psutil.Process(budgeted.process.pid)
    before = sandbox.memory_info().rss

    async def flood():
        client = await Client.connect(budgeted.port, receive_buffer=4096)  # and never reads
        ping = frame(PING, b"p" * 125)
        sent = 0
        try:
            while sent < 400_000:  # 52 MB of pings: far past the kernel's buffers and the 128 KB cap
                client.writer.write(ping * 100)
                await asyncio.wait_for(client.writer.drain(), 10)
                sent += 100
                if sent % 10_000 == 0 and "pings from a client that reads nothing" in budgeted.output():
                    break
        except (ConnectionError, asyncio.TimeoutError):
            pass
        finally:
            client.abort()
        return sent

    sent = asyncio.run(flood())
    wait_until(
        lambda: re.search(r"WS  \S+: pings from a client that reads nothing \(\d+ bytes wait unread\): closed 1008", budgeted.output()),
        15,
        "the close of the client that never reads",
    )
    wait_until(lambda: "(1008 Client not reading)" in budgeted.output(), 15, "its $disconnect with 1008")
    grown = (sandbox.memory_info().rss - before) >> 20
    assert grown < 16, f"the sandbox grew by {grown} MB after {sent} pings"
    assert json.loads(budgeted.get("/")[2])["event"]["rawPath"] == "/", "everyone else is still served"
