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
from pathlib import Path

import pytest

from tests.app.support import TABLE
from tests.support.reliability import start_app
from tests.support.sandbox import session_members, wait_until
from tests.support.wsclient import Client, Refused, connect_retrying

FAILURES = [
    ({"do": "raise"}, "RuntimeError: handler failed on purpose"),
    ({"do": "exit"}, "Runtime.ExitError: Runtime exited with error: exit status 3"),
    ({"do": "kill"}, "Runtime.ExitError: Runtime exited with error: exit status -9"),
    ({"do": "sleep", "seconds": 30}, "Sandbox.Timeout: Task timed out after 2.00 seconds"),
]


def finished(sandbox) -> int:
    """How many `$default` invocations the sandbox has logged as returned (`WS  $default <id> 1.2 ms`)."""
    return len(re.findall(r"WS  \$default \S+ [\d.]+ ms", sandbox.output()))


async def until_finished(sandbox, count: int) -> None:
    """Wait until `count` `$default` invocations have returned: a handler posts its reply before it
    returns, so a reply alone does not mean its worker is free again."""
    await asyncio.to_thread(wait_until, lambda: finished(sandbox) >= count, 10, f"{count} $default invocations to return")


@pytest.mark.parametrize("message, logged", FAILURES, ids=["raises", "exits", "kills itself", "loops past its timeout"])
def test_a_failing_handler_gives_the_error_frame_logs_its_request_id_and_spares_other_sockets(faults, message, logged):
    async def scenario():
        bystanders = [await connect_retrying(faults.port) for _ in range(3)]
        victim = await connect_retrying(faults.port)
        clients = bystanders + [victim]
        before = finished(faults)
        # Four at once: the pool's four warm workers, each known by its pid.
        pids = {r["pid"] for r in await asyncio.gather(*(c.ask({"do": "pid"}) for c in clients))}
        await until_finished(faults, before + 4)  # all four workers are free again
        started = time.monotonic()
        failing = asyncio.create_task(victim.ask(message, timeout=15))
        # While it fails, the others are served.
        replies = await asyncio.gather(*(b.ask({"do": "echo"}) for b in bystanders))
        assert [r["route"] for r in replies] == ["$default"] * 3
        frame = await failing
        elapsed = time.monotonic() - started
        assert set(frame) == {"message", "connectionId", "requestId"} and frame["message"] == "Internal server error"
        assert elapsed < 2 + 3, "nothing waits past the function's timeout (2 s) by more than the kill"
        await until_finished(faults, before + 4 + 3)  # the bystanders' workers are free again
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
        assert asyncio.run(_echo_once(sandbox.port)) == "ok"  # the authorizer has read its key (kept in moto too)
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

    def test_a_killed_database_is_restarted_with_its_tables_and_the_log_says_the_data_is_gone(self, tmp_path):
        """No AWS counterpart (DynamoDB does not die); the rule is the sandbox's own: the embedded
        database comes back on the same endpoint with the manifest's tables, empty, within seconds."""
        sandbox = start_app(tmp_path)
        assert asyncio.run(_echo_once(sandbox.port)) == "ok"  # the authorizer has read its key (kept in moto too)
        try:
            assert asyncio.run(_echo_once(sandbox.port)) == "ok"
            killed = sandbox.moto_pid()
            os.kill(killed, signal.SIGKILL)
            started = time.monotonic()
            sandbox.wait_for_output("error: the embedded DynamoDB exited (killed by SIGKILL); restarting it: the items its tables held are gone", 10)
            sandbox.wait_for_output("the embedded DynamoDB is back on http://127.0.0.1:", 20)
            assert f"its tables recreated empty ({TABLE})" in sandbox.output()
            assert sandbox.moto_pid() != killed
            assert asyncio.run(_echo_once(sandbox.port)) == "ok", "$connect writes its row again: the table is back"
            elapsed = time.monotonic() - started
            assert elapsed < 20, f"back within seconds, not {elapsed:.1f} s"
            status, _, _ = sandbox.get("/")
            assert status == 200
        finally:
            assert sandbox.stop() == 0, "and Ctrl-C still stops it cleanly"

    def test_a_request_in_flight_when_the_database_dies_fails_at_once_not_at_its_timeout(self, tmp_path):
        """botocore raises on a reset connection (its error, not a read timeout), so the function fails
        fast; API Gateway then refuses `$connect` with 502 (FACTS: an uncaught exception gives 502)."""
        sandbox = start_app(tmp_path)
        moto, port = sandbox.moto_pid(), int(sandbox.dynamodb_endpoint.rsplit(":", 1)[1])
        try:
            asyncio.run(_echo_once(sandbox.port))  # the authorizer's worker now holds the signing key: no database call
            os.kill(moto, signal.SIGSTOP)  # the $connect's put_item then waits for an answer...

            async def connect_then_kill():
                attempt = asyncio.create_task(Client.connect(sandbox.port, timeout=20))
                await asyncio.to_thread(wait_until, lambda: _request_waiting_on(port), 10, "the put_item waiting in the database's socket")
                os.kill(moto, signal.SIGKILL)  # ...and gets its connection reset
                killed = time.monotonic()
                with pytest.raises(Refused) as refused:
                    await attempt
                return refused.value.status, time.monotonic() - killed

            status, after_kill = asyncio.run(connect_then_kill())
            assert status == 502 and after_kill < 2.5, f"{after_kill:.1f} s after the kill (the app's read timeout is 3 s)"
            sandbox.wait_for_output("the embedded DynamoDB is back on", 20)
            assert "ReadTimeoutError" not in sandbox.output()
        finally:
            assert sandbox.stop() == 0


def _request_waiting_on(port: int) -> bool:
    """True when bytes sent to 127.0.0.1:`port` wait unread in a connected socket (Linux /proc/net/tcp):
    a request the stopped database has not read."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, state, queues = int(fields[1].split(":")[1], 16), fields[3], fields[4]
        if local_port == port and state == "01" and int(queues.split(":")[1], 16) > 0:
            return True
    return False


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
        received = [await live[0].receive_json(30)]  # the fan-out is under way: now half the sockets vanish
        for client in dropping:
            client.reset()
        received += [await c.receive_json(30) for c in live[1:]]
        # The broadcast is over once deliver's batches account for every row it read (100); then nothing more may arrive.
        await asyncio.to_thread(wait_until, lambda: _delivered(sandbox.output()) >= 100, 30, "deliver's summaries of every row")
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


def _delivered(output: str) -> int:
    """Connections deliver's batch summaries account for so far: sent, gone, to retry or failed."""
    found = re.findall(r'"message":"delivered \d+ message\(s\): (\d+) sent, (\d+) gone, (\d+) to retry, (\d+) failed', output)
    return sum(int(n) for row in found for n in row)


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
    from tests.support.wsclient import CLOSE, close_code, frame

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
