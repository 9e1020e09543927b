"""Send to connections through API Gateway's Management API (`POST @connections/{id}`).

A connection that went away answers 410 `GoneException`: that is normal, not an error. `send` reports
it by returning False; `send_to_all` deletes each gone connection's row and carries on.
"""

import json
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from shared import config, connections

FAN_OUT_THREADS = 16
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


def send_to_all(connection_ids: Iterable[str], payload: dict) -> tuple[int, int]:
    """Post `payload` to every id concurrently; delete the rows of gone ones. Returns (sent, gone)."""
    sent = gone = 0
    with ThreadPoolExecutor(max_workers=FAN_OUT_THREADS) as pool:
        for connection_id, delivered in pool.map(lambda cid: (cid, _send_or_false(cid, payload)), connection_ids):
            if delivered:
                sent += 1
            elif delivered is False:
                gone += 1
                connections.delete(connection_id)
    return sent, gone


def _send_or_false(connection_id: str, payload: dict) -> bool | None:
    """`send`, but an unexpected failure for one connection is logged, not raised (None)."""
    try:
        return send(connection_id, payload)
    except Exception:
        logger.exception("sending to %s failed", connection_id)
        return None
