"""Broadcast on a large or stale table, through the deliver queue in the real sandbox: one broadcast
reaches every live socket exactly once and deletes every gone row, however many there are.

Sources: DynamoDB developer guide, "Paginating table scan results" (at most 1 MB per Scan page,
`LastEvaluatedKey` leads on); API Gateway developer guide, "Use @connections commands in your backend
service" (a POST to a gone connection answers 410 GoneException); the Lambda guide, "Using Lambda with
Amazon SQS" (batches, partial batch responses).
"""

from __future__ import annotations

import json
import re
import time

import websocket
from botocore.exceptions import ReadTimeoutError

from tests.app.conftest import TABLE
from tests.support.sandbox import holds, start_app, wait_until

STALE = 2000  # more than one 10 s invocation could reach in-line at 256 MB (docs/deploy.md)


def test_one_broadcast_reaches_every_live_socket_once_and_deletes_thousands_of_stale_rows(tmp_path):
    sandbox = start_app(tmp_path)
    try:
        origin = f"http://localhost:{sandbox.port}"
        live = [websocket.create_connection(sandbox.ws_url, timeout=15, origin=origin) for _ in range(2)]
        client = sandbox.dynamodb()
        expires = str(int(time.time()) + 3600)
        for start in range(0, STALE, 25):  # rows whose $disconnect never ran
            client.batch_write_item(RequestItems={TABLE: [
                {"PutRequest": {"Item": {"connectionId": {"S": f"stale{i:09d}AA="}, "expires": {"N": expires}}}}
                for i in range(start, start + 25)
            ]})
        live[0].send(json.dumps({"action": "broadcast", "text": "to all"}))
        replies = [json.loads(ws.recv()) for ws in live]
        assert all(r["broadcast"] is True and r["text"].endswith(" - to all") for r in replies)
        assert len({r["id"] for r in replies}) == 1
        wait_until(lambda: _rows_left(sandbox) == 2, 60, "every stale row deleted")
        gone = sum(int(n) for n in re.findall(r'"message":"delivered \d+ message\(s\): \d+ sent, (\d+) gone', sandbox.output()))
        assert gone == STALE
        for ws in live:
            ws.settimeout(0.05)

        def nothing_more() -> bool:
            try:
                return all(not ws.recv() for ws in live)
            except websocket.WebSocketTimeoutException:
                return True

        holds(nothing_more, 2, "each socket received the broadcast once")
        assert "Task timed out" not in sandbox.output()
        for ws in live:
            ws.close()
    finally:
        sandbox.stop()


def _rows_left(sandbox) -> int | None:
    """Rows in the table; None while the embedded database is too busy deleting to answer a Scan in time."""
    try:
        return len(sandbox.connection_ids(TABLE))
    except ReadTimeoutError:
        return None
