"""Send to connections through API Gateway's Management API (`POST @connections/{id}`).

A connection that went away answers 410 `GoneException`: that is normal, not an error. `send` reports
it by returning False; `send_to_all` deletes each gone connection's row and carries on, page by page,
and stops starting posts before the function runs out of time. Beyond what one invocation can post
(tens of thousands of connections), fan out through a queue instead: see docs/deploy.md.
"""

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from shared import config, connections

FAN_OUT_THREADS = 16
RESERVE_MS = 2000  # stop starting posts this long before the function's timeout: time to finish and log
logger = logging.getLogger(__name__)
_client = None


def _management_api():
    global _client
    if _client is None:
        _client = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=config.management_endpoint(),
            region_name=config.region(),
            config=Config(max_pool_connections=FAN_OUT_THREADS, retries={"max_attempts": 2}),
        )
    return _client


def send(connection_id: str, payload: dict) -> bool:
    """Post `payload` as JSON to one connection; False if the connection is gone (410)."""
    try:
        _management_api().post_to_connection(ConnectionId=connection_id, Data=json.dumps(payload).encode())
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "GoneException":
            return False
        raise
    return True


class Fanout(NamedTuple):
    """What `send_to_all` did: delivered, gone (row deleted), failed otherwise, not tried for lack of time."""

    sent: int
    gone: int
    failed: int
    unsent: int


def send_to_all(pages: Iterable[list[str]], payload: dict,
                remaining_ms: Callable[[], int] | None = None, reserve_ms: int = RESERVE_MS) -> Fanout:
    """Post `payload` to every id, page by page, FAN_OUT_THREADS at once; each thread deletes the row
    of a gone connection itself. With `remaining_ms` (the Lambda context's `get_remaining_time_in_millis`),
    no new post starts once less than `reserve_ms` is left and no further page is read: the ids seen but
    not reached count as `unsent` (a lower bound), so the function returns and logs instead of timing
    out, and the rows already found gone stay deleted. Each scan page is read only when it is needed.
    """
    deadline = None if remaining_ms is None else time.monotonic() + (remaining_ms() - reserve_ms) / 1000
    totals: Counter[str] = Counter()
    with ThreadPoolExecutor(max_workers=FAN_OUT_THREADS) as pool:
        for page in pages:
            if deadline is not None and time.monotonic() >= deadline:
                totals["unsent"] += len(page)
                break  # later pages are not even read: `unsent` is a lower bound
            totals.update(pool.map(lambda cid: _deliver(cid, payload, deadline), page))
    return Fanout(totals["sent"], totals["gone"], totals["failed"], totals["unsent"])


def _deliver(connection_id: str, payload: dict, deadline: float | None) -> str:
    """One connection: "sent", "gone" (its row deleted here), "failed" or "unsent" (out of time)."""
    if deadline is not None and time.monotonic() >= deadline:
        return "unsent"
    delivered = _send_or_false(connection_id, payload)
    if delivered is False:
        try:
            connections.delete(connection_id)
        except Exception:
            logger.exception("deleting gone connection %s failed", connection_id)
        return "gone"
    return "sent" if delivered else "failed"


def _send_or_false(connection_id: str, payload: dict) -> bool | None:
    """`send`, but an unexpected failure for one connection is logged, not raised (None)."""
    try:
        return send(connection_id, payload)
    except Exception:
        logger.exception("sending to %s failed", connection_id)
        return None
