"""broadcast: hand the sender's text, timestamped, to the `deliver` queue for every open connection.

`{"action": "broadcast", "text": ...}` is read here (the connections table, page by page) and sent on
in queue messages of IDS_PER_MESSAGE connection ids each, ten messages per SendMessageBatch; the
`deliver` queue's function posts them (src/queues/deliver). One invocation only reads and enqueues, so
it reaches any number of connections (docs/deploy.md, "Where broadcast ends"). The sender hears back
only on error: a message that breaks the rules, or a broadcast that could not be queued. Always returns 200.
"""

import uuid
from datetime import datetime, timezone

from aws_lambda_powertools import Logger

from shared import connections, lambda_context, messages, queue, sender

IDS_PER_MESSAGE = 25  # deliver's batch of 10 messages is then 250 posts: ~2.7 s of CPU at 256 MB (docs/deploy.md)
logger = Logger()


@lambda_context.accepts_dict_context
@logger.inject_lambda_context(correlation_id_path="requestContext.connectionId")
def handler(event, context):
    me = event["requestContext"]["connectionId"]
    try:
        text = messages.parse_text(event.get("body"))
    except messages.InvalidMessage as problem:
        sender.send(me, messages.error(str(problem)))
        return {"statusCode": 200}
    payload = messages.broadcast(text, datetime.now(timezone.utc), str(uuid.uuid4()))
    reached = queued = 0
    try:
        for page in connections.pages():
            chunks = [page[i:i + IDS_PER_MESSAGE] for i in range(0, len(page), IDS_PER_MESSAGE)]
            queued += queue.send_all("deliver", [{"payload": payload, "to": chunk} for chunk in chunks])
            reached += len(page)
    except Exception as error:  # the table or the queue failed: tell the sender, once, in words
        logger.error("broadcast %s queued for %d connections, then stopped: %s", payload["id"], reached, error)
        sender.send(me, messages.error("the broadcast did not reach everyone: please try again"))
        return {"statusCode": 200}
    logger.info("broadcast %s queued for %d connections in %d messages", payload["id"], reached, queued)
    return {"statusCode": 200}
