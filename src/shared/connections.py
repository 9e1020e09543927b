"""The connections table: one row per open WebSocket, keyed by API Gateway's connection id.

Rows carry `expires` (epoch seconds) two hours after connecting, API Gateway's maximum connection
time, so DynamoDB's TTL removes any row whose `$disconnect` never ran.
"""

from collections.abc import Iterator
from datetime import datetime

import boto3
from botocore.config import Config

from shared import config

MAX_CONNECTION_SECONDS = 2 * 60 * 60  # API Gateway closes every connection after 2 hours
# Fail fast and say why when the table does not answer. botocore's defaults (60 s connect and read
# timeouts, then retries) outlast the functions' 10 s timeout, so a stalled database would end as
# "Task timed out" with no word about DynamoDB. Two attempts of at most 2 s to connect and 3 s to
# read stay inside it and raise botocore's ConnectTimeoutError / ReadTimeoutError naming the endpoint;
# a healthy DynamoDB answers in milliseconds.
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"mode": "standard", "total_max_attempts": 2})

_client = None


def _dynamodb():
    global _client
    if _client is None:
        _client = boto3.client("dynamodb", region_name=config.region(), endpoint_url=config.dynamodb_endpoint(), config=CLIENT_CONFIG)
    return _client


def _table() -> str:
    return config.table_name("connections")


def save(connection_id: str, now: datetime) -> None:
    """Record an open connection."""
    connected_at = int(now.timestamp())
    _dynamodb().put_item(
        TableName=_table(),
        Item={
            "connectionId": {"S": connection_id},
            "connectedAt": {"N": str(connected_at)},
            "expires": {"N": str(connected_at + MAX_CONNECTION_SECONDS)},
        },
    )


def delete(connection_id: str) -> None:
    """Forget a connection; deleting one that is not there is not an error."""
    _dynamodb().delete_item(TableName=_table(), Key={"connectionId": {"S": connection_id}})


def delete_all(connection_ids: list[str]) -> int:
    """Forget many connections, 25 per BatchWriteItem (DynamoDB's limit); unprocessed items are tried
    once more. Returns how many were left undeleted (their rows expire by TTL anyway)."""
    left = 0
    for start in range(0, len(connection_ids), 25):
        requests = [{"DeleteRequest": {"Key": {"connectionId": {"S": cid}}}} for cid in dict.fromkeys(connection_ids[start : start + 25])]
        for _ in range(2):
            unprocessed = _dynamodb().batch_write_item(RequestItems={_table(): requests}).get("UnprocessedItems", {})
            requests = unprocessed.get(_table(), [])
            if not requests:
                break
        left += len(requests)
    return left


def all_ids() -> Iterator[str]:
    """Every recorded connection id, following `Scan` pagination to the end."""
    for page in pages():
        yield from page


def pages_from(start: dict | None, size: int = 500) -> Iterator[tuple[list[str], dict | None]]:
    """(ids, the key to go on from or None at the end), one `Scan` page (at most `size`) at a time from `start`."""
    key = start
    while True:
        extra = {"ExclusiveStartKey": key} if key else {}
        page = _dynamodb().scan(TableName=_table(), ProjectionExpression="connectionId", Limit=size, **extra)
        key = page.get("LastEvaluatedKey")
        yield [item["connectionId"]["S"] for item in page["Items"]], key
        if not key:
            return


def pages(size: int = 500) -> Iterator[list[str]]:
    """The recorded connection ids, one `Scan` page (at most `size`) at a time, read as they are asked for."""
    paginator = _dynamodb().get_paginator("scan")
    for page in paginator.paginate(TableName=_table(), ProjectionExpression="connectionId", PaginationConfig={"PageSize": size}):
        yield [item["connectionId"]["S"] for item in page["Items"]]
