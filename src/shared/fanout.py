"""Hand a payload to the `deliver` queue for every connection, in 25-id messages, within a deadline.

`enqueue` reads the connections table from `start` (a Scan `LastEvaluatedKey`, or None for the
beginning), sends each page's ids on, and stops reading once less than `reserve_ms` is left: then it
sends one more message, `{"payload", "scan_from": <the key to go on from>}`, and the `deliver`
function that receives it carries on where this one stopped (src/queues/deliver). So no one
invocation needs to read the whole table, however large, within its timeout.
"""

from collections.abc import Callable

from shared import connections, queue

IDS_PER_MESSAGE = 25  # deliver's batch of 10 messages is then 250 posts (docs/deploy.md)
PAGE_IDS = 500  # ids per Scan page
RESERVE_MS = 5000  # stop reading this long before the timeout: time to hand the rest on
QUEUE = "deliver"


def enqueue(payload: dict, start: dict | None, remaining_ms: Callable[[], int], reserve_ms: int = RESERVE_MS) -> tuple[int, int, bool]:
    """(connection ids enqueued, messages sent, whether the rest was handed on in a `scan_from` message)."""
    reached = sent = 0
    for page, next_key in connections.pages_from(start, PAGE_IDS):
        chunks = [page[i : i + IDS_PER_MESSAGE] for i in range(0, len(page), IDS_PER_MESSAGE)]
        sent += queue.send_all(QUEUE, [{"payload": payload, "to": chunk} for chunk in chunks])
        reached += len(page)
        if next_key is not None and remaining_ms() < reserve_ms:
            sent += queue.send_all(QUEUE, [{"payload": payload, "scan_from": next_key}])
            return reached, sent, True
    return reached, sent, False
