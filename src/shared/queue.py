"""Send messages to a queue declared under `@queues`: SendMessageBatch, 10 messages a call (SQS's limit).

The queue's URL comes from the runtime contract (`ARC_QUEUE_<NAME>`). Under `arc sandbox`, which runs
no SQS, each message goes to Architect's own queue endpoint instead (`shared.architect`), which invokes
the consumer at once with `{"Records": [{"body": ...}]}`.
"""

import json

import boto3
from botocore.config import Config

from shared import architect, config

BATCH = 10  # SendMessageBatch's maximum entries (SQS quotas: "Message batch")
_client = None


class QueueError(RuntimeError):
    """Some messages could not be sent; `str()` says how many and SQS's reason."""


def _sqs():
    global _client
    if _client is None:
        _client = boto3.client(
            "sqs", region_name=config.region(), config=Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 3})
        )
    return _client


def send_all(name: str, bodies: list[dict]) -> int:
    """Send each body (as JSON) to queue `name`; returns how many. Entries SQS refuses are sent once
    more; any still refused raise QueueError."""
    url = config.queue_url(name)
    if url is None:  # under arc sandbox
        for body in bodies:
            architect.sandbox_publish(name, body)
        return len(bodies)
    texts = [json.dumps(body) for body in bodies]
    for start in range(0, len(texts), BATCH):
        entries = [{"Id": str(i), "MessageBody": text} for i, text in enumerate(texts[start : start + BATCH])]
        for attempt in (1, 2):
            failed = _sqs().send_message_batch(QueueUrl=url, Entries=entries).get("Failed") or []
            if not failed:
                break
            if attempt == 2:
                raise QueueError(f"{len(failed)} message(s) not accepted by queue {name}: {failed[0].get('Message', failed[0].get('Code'))}")
            refused = {f["Id"] for f in failed}
            entries = [e for e in entries if e["Id"] in refused]
    return len(texts)
