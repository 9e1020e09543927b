"""deliver: post each queue message's payload to its connections (the `broadcast` fan-out's second half).

Each message is `{"payload": {...}, "to": [connection ids]}` (src/ws/broadcast), or `{"payload",
"scan_from": key}`: read the table on from there and enqueue, as broadcast does (shared.fanout). Rows of gone
connections (410) are deleted, 25 per BatchWriteItem. A message whose posts failed in a retryable way (429, 5xx, throttling,
no answer) is reported in `batchItemFailures`, so only it comes back after the queue's visibility
timeout, and after `maxReceives` it goes to the dead-letter queue; so does a malformed message.
Connections of a retried message that were reached already get the payload again: the page shows a
broadcast `id` once. One log line per failed post (shared.sender) and one summary per batch.
Under `arc sandbox` a record has only `body` (no `messageId`): failures are then only logged.
"""

import json
from collections import Counter

from aws_lambda_powertools import Logger

from shared import connections, fanout, lambda_context, sender

logger = Logger()


@lambda_context.accepts_dict_context
@logger.inject_lambda_context
def handler(event, context):
    failed: list[str] = []
    posts: list[tuple[str, bytes]] = []
    owners: list[str] = []  # the message id of each post
    for record in event.get("Records", []):
        message_id = record.get("messageId", "")
        try:
            body = json.loads(record["body"])
            if isinstance(body, dict) and isinstance(body.get("scan_from"), dict) and isinstance(body.get("payload"), dict):
                reached, queued, _ = fanout.enqueue(body["payload"], body["scan_from"], context.get_remaining_time_in_millis)
                logger.info("read on: %d more connections queued in %d messages", reached, queued)
                continue
            ids, payload = body["to"], body["payload"]
            if not (isinstance(ids, list) and all(isinstance(i, str) for i in ids) and isinstance(payload, dict)):
                raise ValueError('expected {"payload": {...}, "to": [connection ids]}')
        except (KeyError, TypeError, ValueError) as problem:
            logger.warning("malformed message %s: %s", message_id, problem)
            failed.append(message_id)
            continue
        except Exception as problem:  # reading on failed (the table or the queue): the message comes back
            logger.warning("message %s: reading on failed: %s", message_id, problem)
            failed.append(message_id)
            continue
        data = json.dumps(payload).encode()
        posts += [(cid, data) for cid in dict.fromkeys(ids)]
        owners += [message_id] * len(dict.fromkeys(ids))
    outcomes = sender.post_each(posts)
    retry = {owner for owner, outcome in zip(owners, outcomes, strict=True) if outcome == "retry"}
    failed += [m for m in dict.fromkeys(owners) if m in retry]
    totals = Counter(outcomes)
    gone = [cid for (cid, _), outcome in zip(posts, outcomes, strict=True) if outcome == "gone"]
    try:
        connections.delete_all(gone)
    except Exception as error:  # the rows expire by their TTL anyway; the next broadcast tries again
        logger.warning("deleting %d gone connection(s) failed: %s", len(gone), error)
    logger.info(
        "delivered %d message(s): %d sent, %d gone, %d to retry, %d failed; %d message(s) reported failed",
        len(event.get("Records", [])),
        totals["sent"],
        totals["gone"],
        totals["retry"],
        totals["failed"],
        len(failed),
    )
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed if m]}
