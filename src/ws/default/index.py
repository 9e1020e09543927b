"""$default: echo the sender's text back with a timestamp.

Sends `{"text": "<ISO time> - Echoing <text>", "from": "<sender>"}` (the sender as the authorizer named
it; no `from` where none ran), or `{"error": "<what was wrong>"}` for a message that
breaks the rules in `shared.messages`. Always returns 200: bad input is answered, never raised.
"""

from datetime import datetime, timezone

from aws_lambda_powertools import Logger

from shared import lambda_context, messages, sender, tokens

logger = Logger()


@lambda_context.accepts_dict_context
@logger.inject_lambda_context(correlation_id_path="requestContext.connectionId")
def handler(event, context):
    try:
        reply = messages.echo(messages.parse_text(event.get("body")), datetime.now(timezone.utc), tokens.sender_name(event))
    except messages.InvalidMessage as problem:
        logger.info("rejected a message: %s", problem)
        reply = messages.error(str(problem))
    sender.send(event["requestContext"]["connectionId"], reply)
    return {"statusCode": 200}
