"""Send to connections through API Gateway's Management API (`POST @connections/{id}`).

A connection that went away answers 410 `GoneException`: that is normal, not an error. `send` reports
it by returning False. `post_each` posts to a batch of connections (the `deliver` queue's
consumer): each post ends as sent, gone, `retry` (429,
5xx, throttling, a connection error or timeout: worth another try, through the queue) or `failed`
(anything else). botocore does not retry in-line: a socket that stops reading answers 429 at once,
and its message goes back through the queue instead of holding a thread through botocore's backoff.
Each failed post is one log line, never a traceback.
"""

import json
import logging
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from shared import config

FAN_OUT_THREADS = 16
# One attempt: a retryable failure is retried through the queue (after its visibility timeout), not here.
CLIENT_CONFIG = Config(max_pool_connections=FAN_OUT_THREADS, connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 1})
# API Gateway's throttling and server-side errors (the Management API's error codes, and the HTTP status).
RETRYABLE_CODES = {
    "LimitExceededException",
    "ThrottlingException",
    "TooManyRequestsException",
    "Throttling",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
}
logger = logging.getLogger(__name__)
_client = None


def _management_api():
    global _client
    if _client is None:
        _client = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=config.management_endpoint(),
            region_name=config.region(),
            config=CLIENT_CONFIG,
        )
    return _client


def send(connection_id: str, payload: dict) -> bool:
    """Post `payload` as JSON to one connection; False if the connection is gone (410)."""
    return _post(connection_id, json.dumps(payload).encode())


def _post(connection_id: str, data: bytes) -> bool:
    try:
        _management_api().post_to_connection(ConnectionId=connection_id, Data=data)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "GoneException":
            return False
        raise
    return True


def post_each(posts: list[tuple[str, bytes]]) -> list[str]:
    """Post each (connection id, data) pair, FAN_OUT_THREADS at once; for each, in order: "sent",
    "gone" (the caller deletes the rows, `connections.delete_all`), "retry" or "failed" (one log line each)."""
    if not posts:
        return []
    with ThreadPoolExecutor(max_workers=min(FAN_OUT_THREADS, len(posts))) as pool:
        return list(pool.map(lambda post: _deliver(*post), posts))


def _deliver(connection_id: str, data: bytes) -> str:
    try:
        if _post(connection_id, data):
            return "sent"
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        retry = status == 429 or status >= 500 or code in RETRYABLE_CODES
        logger.warning("post to %s failed: %s %s (%s)", connection_id, status, code, "will retry" if retry else "not retried")
        return "retry" if retry else "failed"
    except BotoCoreError as error:  # no answer: connection refused or reset, a timeout
        logger.warning("post to %s failed: %s (will retry)", connection_id, error)
        return "retry"
    return "gone"
