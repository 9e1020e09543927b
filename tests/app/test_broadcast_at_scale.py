"""Broadcast on a large or stale table, through the deliver queue in the real sandbox: one broadcast
reaches every live socket exactly once and deletes every gone row, however many there are.

Sources: DynamoDB developer guide, "Paginating table scan results" (at most 1 MB per Scan page,
`LastEvaluatedKey` leads on); API Gateway developer guide, "Use @connections commands in your backend
service" (a POST to a gone connection answers 410 GoneException); the Lambda guide, "Using Lambda with
Amazon SQS" (batches, partial batch responses).
"""

from __future__ import annotations

import re
import time

from botocore.exceptions import ReadTimeoutError

from devkit.testing import ReceiveTimeout

STALE = 2000  # more than one 10 s invocation could reach in-line at 256 MB (docs/deploy.md)


def test_one_broadcast_reaches_every_live_socket_once_and_deletes_thousands_of_stale_rows(sandbox):
    connections = sandbox.table("connections")
    live = [sandbox.connect(timeout=15) for _ in range(2)]
    with connections.batch_writer() as batch:  # rows whose $disconnect never ran
        for i in range(STALE):
            batch.put_item(Item={"connectionId": f"stale{i:09d}AA=", "expires": int(time.time()) + 3600})
    live[0].send_json({"action": "broadcast", "text": "to all"})
    replies = [ws.receive_json(timeout=30) for ws in live]
    assert all(r["broadcast"] is True and r["text"].endswith(" - to all") for r in replies)
    assert len({r["id"] for r in replies}) == 1
    sandbox.wait_for(lambda: _rows_left(connections) == 2, 60, "every stale row deleted")
    log = "\n".join(sandbox.log_lines())
    gone = sum(int(n) for n in re.findall(r'"message":"delivered \d+ message\(s\): \d+ sent, (\d+) gone', log))
    assert gone == STALE
    for ws in live:
        try:
            extra = ws.receive_json(timeout=1)
        except ReceiveTimeout:
            continue
        raise AssertionError(f"a socket received more than the broadcast: {extra}")
    assert "Task timed out" not in log


def _rows_left(connections) -> int | None:
    """Rows in the table; None while the embedded database is too busy deleting to answer a Scan in time."""
    try:
        count, start = 0, {}
        while True:  # Scan's pages: at most 1 MB each
            page = connections.scan(Select="COUNT", **start)
            count += page["Count"]
            if "LastEvaluatedKey" not in page:
                return count
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    except ReadTimeoutError:
        return None
