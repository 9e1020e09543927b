"""broadcast: send the sender's text, timestamped, to every open connection.

`{"action": "broadcast", "text": ...}` reaches every row of the connections table, naming its sender (`from`); rows of connections
that are gone (410) are deleted; posting stops two seconds before the function's timeout. A message that breaks the rules gets `{"error": ...}` back to its
sender only. Always returns 200.
"""

from datetime import datetime, timezone

from aws_lambda_powertools import Logger

from shared import connections, lambda_context, messages, sender, tokens

logger = Logger()


@lambda_context.accepts_dict_context
@logger.inject_lambda_context(correlation_id_path="requestContext.connectionId")
def handler(event, context):
    try:
        text = messages.parse_text(event.get("body"))
    except messages.InvalidMessage as problem:
        sender.send(event["requestContext"]["connectionId"], messages.error(str(problem)))
        return {"statusCode": 200}
    done = sender.send_to_all(connections.pages(), messages.broadcast(text, datetime.now(timezone.utc), tokens.sender_name(event)),
                              remaining_ms=context.get_remaining_time_in_millis)
    logger.info("broadcast to %d connections, %d gone, %d failed, %d not reached in time", *done)
    return {"statusCode": 200}
