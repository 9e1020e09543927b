"""broadcast: hand the sender's text, timestamped, to the `deliver` queue for every open connection.

`{"action": "broadcast", "text": ...}` is read here (the connections table, page by page) and sent on,
naming its sender (`from`), in queue messages of 25 connection ids each, ten messages per
SendMessageBatch (shared.fanout); the `deliver` queue's function posts them (src/queues/deliver). Near
its timeout it hands the rest of the table on in one message and `deliver` reads on, so it reaches any
number of connections (docs/deploy.md, "Where broadcast ends"). The sender hears back only on error: a
message that breaks the rules, or a broadcast that could not be queued. Always returns 200.
"""

import uuid
from datetime import datetime, timezone

from aws_lambda_powertools import Logger

from shared import fanout, lambda_context, messages, sender, tokens

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
    payload = messages.broadcast(text, datetime.now(timezone.utc), str(uuid.uuid4()), tokens.sender_name(event))
    try:
        reached, queued, handed_on = fanout.enqueue(payload, None, context.get_remaining_time_in_millis)
    except Exception as error:  # the table or the queue failed: tell the sender, once, in words
        logger.error("broadcast %s could not be queued: %s", payload["id"], error)
        sender.send(me, messages.error("the broadcast did not reach everyone: please try again"))
        return {"statusCode": 200}
    logger.info(
        "broadcast %s queued for %d connections in %d messages%s",
        payload["id"],
        reached,
        queued,
        "; the rest of the table handed on to deliver" if handed_on else "",
    )
    return {"statusCode": 200}
