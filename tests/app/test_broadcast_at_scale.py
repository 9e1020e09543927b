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

from devkit.testing import ReceiveTimeout
from tests.app.fakes import ManagementApiFake
from tests.app.support import connect_event, make_context, message_event

STALE = 2000  # more than one 10 s invocation deletes on a loaded 2-core machine (600-1,200 measured)


def test_broadcasts_on_a_table_of_thousands_of_stale_rows_never_time_out_and_clean_it(sandbox):
    """Each broadcast returns before the function's 10 s timeout, deleting the gone rows it reached;
    a few broadcasts leave only the live rows, and the live sockets never get an error."""
    connections = sandbox.table("connections")
    live = [sandbox.connect(timeout=15) for _ in range(2)]
    with connections.batch_writer() as batch:  # rows whose $disconnect never ran
        for i in range(STALE):
            batch.put_item(Item={"connectionId": f"stale{i:09d}AA=", "expires": int(time.time()) + 3600})
    summaries = []
    for attempt in range(8):
        live[0].send_json({"action": "broadcast", "text": f"round {attempt}"})
        sandbox.wait_for(lambda done=attempt: len(_summaries(sandbox)) > done, 15, "the broadcast's summary line")
        summaries = _summaries(sandbox)
        if summaries[-1][3] == 0:  # a whole pass: every row reached
            break
    print(f"broadcast summaries (sent, gone, failed, not reached) over {STALE} stale rows: {summaries}")
    assert not any("Task timed out" in line for line in sandbox.log_lines())
    assert summaries[-1][0] == 2
    rows = {row["connectionId"] for row in connections.scan()["Items"]}
    assert len(rows) == 2 and not any(row.startswith("stale") for row in rows)
    assert sum(gone for _, gone, _, _ in summaries) == STALE
    for ws in live:
        received = []
        try:
            while True:
                received.append(ws.receive_json(timeout=0.5))
        except ReceiveTimeout:
            pass
        assert received and all(r.get("broadcast") is True for r in received), received


def _summaries(sandbox) -> list[tuple[int, int, int, int]]:
    found = re.findall(r'"message":"broadcast to (\d+) connections, (\d+) gone, (\d+) failed, (\d+) not reached in time"',
                       "\n".join(sandbox.log_lines()))
    return [tuple(map(int, numbers)) for numbers in found]


def test_posting_stops_before_the_function_runs_out_of_time(aws, handler, monkeypatch, capsys):
    """400 connections, each POST taking 100 ms (2.5 s for all, 16 at a time), 3.3 s left, so 1.3 s before the
    2 s reserve (room for the first Scan page on a loaded machine, not for every POST): the handler
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
    broadcast = handler("ws/broadcast")  # loaded first: the 3.3 s are the call's, not the import's
    short = make_context(3.3, "broadcast")
    # Powertools keeps the stream its logger first got (an earlier test's capture): log to this test's.
    inspect.unwrap(broadcast).__globals__["logger"].registered_handler.setStream(sys.stdout)
    try:
        started = time.monotonic()
        assert broadcast(event, short) == {"statusCode": 200}
        seconds = time.monotonic() - started
    finally:
        fake.close()
    assert seconds < 3.3
    record = json.loads([line for line in capsys.readouterr().out.splitlines() if "broadcast to" in line][-1])
    sent, gone, failed, unsent = map(int, re.findall(r"\d+", record["message"]))
    assert sent == sum(len(posts) for posts in fake.posts.values()) and 0 < sent < 400
    assert (gone, failed) == (0, 0) and sent + unsent == 400
