"""Faults injected into the real sandbox: failing handlers, a dying or stalled database, broadcast while
connections drop, and Ctrl-C under load. Each test says which defence it proves.

Not repeated here (tests/devkit/sandbox/test_websocket_api.py has them): the error frame for each kind
of failure on one socket, the crashed worker's replacement, megabytes of output.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time

import pytest

from tests.reliability.conftest import TABLE, start_app, wait_until
from tests.reliability.wsclient import Client, Refused, connect_retrying
from tests.support.sandbox import session_members

FAILURES = [
    ({"do": "raise"}, "RuntimeError: handler failed on purpose"),
    ({"do": "exit"}, "Runtime.ExitError: Runtime exited with error: exit status 3"),
    ({"do": "kill"}, "Runtime.ExitError: Runtime exited with error: exit status -9"),
    ({"do": "sleep", "seconds": 30}, "Sandbox.Timeout: Task timed out after 2.00 seconds"),
]


@pytest.mark.parametrize("message, logged", FAILURES, ids=["raises", "exits", "kills itself", "loops past its timeout"])
def test_a_failing_handler_gives_the_error_frame_logs_its_request_id_and_spares_other_sockets(faults, message, logged):
    async def scenario():
        bystanders = [await connect_retrying(faults.port) for _ in range(3)]
        victim = await connect_retrying(faults.port)
        clients = bystanders + [victim]
        # Four at once: the pool's four warm workers, each known by its pid.
        pids = {r["pid"] for r in await asyncio.gather(*(c.ask({"do": "pid"}) for c in clients))}
        await asyncio.sleep(0.3)  # the reply is posted before the handler returns; let them go idle
        started = time.monotonic()
        failing = asyncio.create_task(victim.ask(message, timeout=15))
        # While it fails, the others are served.
        replies = await asyncio.gather(*(b.ask({"do": "echo"}) for b in bystanders))
        assert [r["route"] for r in replies] == ["$default"] * 3
        frame = await failing
        elapsed = time.monotonic() - started
        assert set(frame) == {"message", "connectionId", "requestId"} and frame["message"] == "Internal server error"
        assert elapsed < 2 + 3, "nothing waits past the function's timeout (2 s) by more than the kill"
        await asyncio.sleep(0.3)
        after = {r["pid"] for r in await asyncio.gather(*(c.ask({"do": "pid"}) for c in clients))}
        for client in clients:
            await client.close()
        return frame, pids, after

    frame, pids, after = asyncio.run(scenario())
    faults.wait_for_output(f"requestId={frame['requestId']}")
    line = next(x for x in faults.output().splitlines() if f"requestId={frame['requestId']}" in x)
    assert frame["connectionId"] in line and logged in line, line
    if message["do"] == "raise":
        assert all(os.path.exists(f"/proc/{p}") for p in pids), "an exception does not cost the worker"
    else:
        [dead] = [p for p in pids if not os.path.exists(f"/proc/{p}")]
        assert dead not in after and len(after) == 4, "the dead worker was replaced; every socket is served"


def test_megabytes_of_output_from_many_handlers_at_once_neither_block_nor_grow_the_sandbox(faults):
    async def scenario():
        clients = [await connect_retrying(faults.port) for _ in range(4)]
        rss_before = faults.rss_mb()
        replies = await asyncio.gather(*(c.ask({"do": "print", "megabytes": 4}, timeout=30) for c in clients))
        assert replies == [{"printed": 4}] * 4
        ping = await connect_retrying(faults.port)
        assert (await ping.ask({"do": "echo"}))["route"] == "$default"
        for client in clients + [ping]:
            await client.close()
        return rss_before

    rss_before = asyncio.run(scenario())
    assert faults.rss_mb() < rss_before + 32, "16 MB of output is streamed in bounded lines, not buffered"
    assert faults.output().count(" [cut]") >= 4


class TestDatabaseFaults:
    """SIGSTOP and SIGKILL on the embedded DynamoDB (moto), found among the sandbox's children."""

    def test_a_stalled_database_fails_handlers_fast_and_clearly_and_the_sandbox_reports_it(self, tmp_path):
        sandbox = start_app(tmp_path)
        moto = sandbox.moto_pid()
        try:
            os.kill(moto, signal.SIGSTOP)
            started = time.monotonic()
            with pytest.raises(Refused) as refused:  # $connect's put_item cannot finish
                asyncio.run(Client.connect(sandbox.port, timeout=20))
            elapsed = time.monotonic() - started
            assert refused.value.status == 502
            assert elapsed < 10, f"{elapsed:.1f} s: the app's botocore timeouts fail it inside the 10 s function timeout"
            failed = r"\$connect \S+ failed \(ReadTimeoutError: Read timeout on endpoint URL.*\): 502 requestId=\S+"
            # The log's writer thread may print the line just after the client has its 502.
            wait_until(lambda: re.search(failed, sandbox.output()), 10, "the $connect failure in the log")
            assert "Task timed out" not in sandbox.output()
            sandbox.wait_for_output("the embedded DynamoDB on http://127.0.0.1:", 10)
            assert "(stopped or stalled?)" in sandbox.output()
        finally:
            os.kill(moto, signal.SIGCONT)
        sandbox.wait_for_output("answers again", 10)
        client = asyncio.run(_echo_once(sandbox.port))
        assert client == "ok", "once it answers again, so does the app"
        sandbox.stop()

    def test_a_killed_database_is_reported_and_handlers_fail_clearly_without_hanging(self, tmp_path):
        sandbox = start_app(tmp_path)
        try:
            os.kill(sandbox.moto_pid(), signal.SIGKILL)
            sandbox.wait_for_output("error: the embedded DynamoDB exited (killed by SIGKILL)", 10)
            started = time.monotonic()
            with pytest.raises(Refused) as refused:
                asyncio.run(Client.connect(sandbox.port, timeout=20))
            assert refused.value.status == 502 and time.monotonic() - started < 10
            failed = r"\$connect \S+ failed \(EndpointConnectionError: Could not connect to the endpoint URL.*requestId=\S+"
            wait_until(lambda: re.search(failed, sandbox.output()), 5, "the failure in the log (written by its own thread)")
            status, _, _ = sandbox.get("/")
            assert status == 200, "what does not need the database keeps working"
        finally:
            assert sandbox.stop() == 0, "and Ctrl-C still stops it cleanly"


async def _echo_once(port: int) -> str:
    client = await connect_retrying(port)
    reply = await client.ask({"text": "back"})
    await client.close()
    return "ok" if reply["text"].endswith("Echoing back") else repr(reply)


def test_broadcast_while_connections_drop_reaches_each_live_socket_once_and_deletes_every_stale_row(tmp_path):
    """Stale rows (their $disconnect never ran) and sockets reset mid-fan-out. (A socket that stops reading
    gets 429 and keeps its row: test_load.py.)"""
    sandbox = start_app(tmp_path)
    table = sandbox.table()
    stale = [f"staleRow{i:07d}=" for i in range(40)]

    async def scenario():
        live = [await connect_retrying(sandbox.port) for _ in range(30)]
        dropping = [await connect_retrying(sandbox.port) for _ in range(30)]
        for cid in stale:
            table.put_item(TableName=TABLE, Item={"connectionId": {"S": cid}, "expires": {"N": str(int(time.time()) + 600)}})
        await live[0].send_text({"action": "broadcast", "text": "the one"})
        await asyncio.sleep(0.02)  # the fan-out is under way: now half the sockets vanish
        for client in dropping:
            client.reset()
        received = [await c.receive_json(30) for c in live]
        await asyncio.sleep(0.5)
        extra = []
        for client in live:
            try:
                extra.append(await client.receive_json(0.2))
            except asyncio.TimeoutError:
                pass
        for client in live:
            await client.close()
        return received, extra

    try:
        received, extra = asyncio.run(scenario())
        assert [r["text"].endswith(" - the one") and r["broadcast"] for r in received] == [True] * 30
        assert extra == [], "exactly once"
        wait_until(lambda: not (set(stale) & sandbox.rows()), 20, "the stale rows to be deleted")
        wait_until(lambda: not sandbox.rows(), 20, "every row to go")
        output = sandbox.output()
        assert "[ERROR]" not in output and "Traceback" not in output, "no exception escaped"
        assert not re.search(r"WS  broadcast \S+ failed", output)
        assert re.search(r'"message":"broadcast \S+ queued for \d+ connections in \d+ messages"', output)
        summaries = re.findall(r'"message":"delivered \d+ message\(s\): (\d+) sent, (\d+) gone, (\d+) to retry, (\d+) failed', output)
        assert summaries and all(int(retry) == int(failed) == 0 for _, _, retry, failed in summaries)
        assert sum(int(sent) for sent, _, _, _ in summaries) >= 30  # every live socket; a dropping one may be reached before its reset
    finally:
        sandbox.stop()


def test_ctrl_c_under_load_closes_every_socket_with_1001_runs_every_disconnect_and_leaves_no_process(tmp_path):
    sandbox = start_app(tmp_path)
    count = 200

    async def scenario():
        gate = asyncio.Semaphore(50)

        async def one(i):
            async with gate:
                client = await connect_retrying(sandbox.port)
            return client

        clients = await asyncio.gather(*(one(i) for i in range(count)))
        never_reading = await connect_retrying(sandbox.port, receive_buffer=4096)
        ids = sandbox.rows()
        assert len(ids) == count + 1
        descendants = sandbox.descendants()
        # Under load: every client is mid-conversation when Ctrl-C arrives.
        for i, client in enumerate(clients):
            await client.send_text({"text": f"in flight {i}"})
        sandbox.process.send_signal(signal.SIGINT)
        codes = await asyncio.gather(*(_close_code_after_replies(c) for c in clients))
        assert not never_reading.writer.is_closing(), "the never-reading socket stayed open until Ctrl-C"
        return ids, descendants, codes

    ids, descendants, codes = asyncio.run(scenario())
    assert sandbox.process.wait(30) == 0
    sandbox.stop()
    assert codes == [1001] * count
    runs = sandbox.disconnect_handler_runs()
    assert set(runs) == ids and set(runs.values()) == {1}, "every $disconnect ran, once"
    assert f"closed {count + 1} socket(s)" in sandbox.output()
    wait_until(lambda: not session_members(descendants), 10, "every worker and the database to exit")


async def _close_code_after_replies(client: Client) -> int | None:
    from tests.reliability.wsclient import CLOSE, close_code, frame

    for _ in range(5):
        try:
            opcode, payload = await client.receive(20)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError):
            return None
        if opcode == CLOSE:
            await client.send_raw(frame(CLOSE, payload[:2]))
            client.abort()
            return close_code(payload)
    return None
