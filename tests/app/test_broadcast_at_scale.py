"""Broadcast on a large or stale table: the scan is read page by page, gone rows are deleted by the
fan-out threads, and posting stops before the function's time runs out.

Sources: DynamoDB developer guide, "Paginating table scan results" (at most 1 MB per Scan page,
`LastEvaluatedKey` leads on); API Gateway developer guide, "Use @connections commands in your backend
service" (a POST to a gone connection answers 410 GoneException); Lambda developer guide, "Using the
Lambda context object to retrieve Python function information" (`get_remaining_time_in_millis()`).
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import time

import websocket

from tests.app.conftest import TABLE
from tests.app.test_handlers import connect_event, message_event
from tests.conftest import make_context
from tests.fakes import ManagementApiFake
from tests.support.app import protocols
from tests.support.sandbox import start_app, wait_until

STALE = 2000  # more than one 10 s invocation deletes on a loaded 2-core machine (600-1,200 measured)


def test_broadcasts_on_a_table_of_thousands_of_stale_rows_never_time_out_and_clean_it(tmp_path):
    """Each broadcast returns before the function's 10 s timeout, deleting the gone rows it reached;
    a few broadcasts leave only the live rows, and the live sockets never get an error."""
    sandbox = start_app(tmp_path)
    try:
        origin = f"http://localhost:{sandbox.port}"
        live = [websocket.create_connection(sandbox.ws_url, timeout=15, origin=origin,
                                             subprotocols=protocols(sandbox.page_token())) for _ in range(2)]
        client = sandbox.dynamodb()
        expires = str(int(time.time()) + 3600)
        for start in range(0, STALE, 25):  # rows whose $disconnect never ran
            client.batch_write_item(RequestItems={TABLE: [
                {"PutRequest": {"Item": {"connectionId": {"S": f"stale{i:09d}AA="}, "expires": {"N": expires}}}}
                for i in range(start, start + 25)
            ]})
        summaries = []
        for attempt in range(8):
            live[0].send(json.dumps({"action": "broadcast", "text": f"round {attempt}"}))
            wait_until(lambda done=attempt: len(_summaries(sandbox)) > done, 15, "the broadcast's summary line")
            summaries = _summaries(sandbox)
            if summaries[-1][3] == 0:  # a whole pass: every row reached
                break
        print(f"broadcast summaries (sent, gone, failed, not reached) over {STALE} stale rows: {summaries}")
        assert "Task timed out" not in sandbox.output()
        assert summaries[-1][0] == 2
        assert len(sandbox.connection_ids(TABLE)) == 2 == len(_ids(sandbox))
        assert sum(gone for _, gone, _, _ in summaries) == STALE
        for ws in live:
            ws.settimeout(0.5)
            received = []
            try:
                while True:
                    received.append(json.loads(ws.recv()))
            except websocket.WebSocketTimeoutException:
                pass
            assert received and all(r.get("broadcast") is True for r in received), received
            ws.close()
    finally:
        sandbox.stop()


def _summaries(sandbox) -> list[tuple[int, int, int, int]]:
    found = re.findall(r'"message":"broadcast to (\d+) connections, (\d+) gone, (\d+) failed, (\d+) not reached in time"',
                       sandbox.output())
    return [tuple(map(int, numbers)) for numbers in found]


def _ids(sandbox) -> set[str]:
    return {row for row in sandbox.connection_ids(TABLE) if not row.startswith("stale")}


def test_posting_stops_before_the_function_runs_out_of_time(aws, handler, monkeypatch, capsys):
    """400 connections, each POST taking 100 ms (2.5 s for all, 16 at a time), 2.3 s left: the handler
    returns in time, says how many it did not reach, and every connection is accounted for. (An in-process run under moto's DynamoDB;
    the Management API is a real HTTP fake, as moto's never answers 410.)"""
    fake = ManagementApiFake()
    fake.delay = 0.1
    monkeypatch.setenv("ARC_WSS_URL", fake.url.replace("http", "ws", 1))
    ids = [f"conn{i:04d}AAAAAAA=" for i in range(400)]
    context = make_context(60, "broadcast")
    for connection_id in ids:
        handler("ws/connect")(connect_event(connection_id=connection_id), context)
    event = message_event(json.dumps({"action": "broadcast", "text": "hurry"}), ids[0])
    event["requestContext"]["routeKey"] = "broadcast"
    short = make_context(2.3, "broadcast")
    broadcast = handler("ws/broadcast")
    # Powertools keeps the stream its logger first got (an earlier test's capture): log to this test's.
    inspect.unwrap(broadcast).__globals__["logger"].registered_handler.setStream(sys.stdout)
    try:
        started = time.monotonic()
        assert broadcast(event, short) == {"statusCode": 200}
        seconds = time.monotonic() - started
    finally:
        fake.close()
    assert seconds < 2.3
    record = json.loads([line for line in capsys.readouterr().out.splitlines() if "broadcast to" in line][-1])
    sent, gone, failed, unsent = map(int, re.findall(r"\d+", record["message"]))
    assert sent == sum(len(posts) for posts in fake.posts.values()) and 0 < sent < 400
    assert (gone, failed) == (0, 0) and sent + unsent == 400
