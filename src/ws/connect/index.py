"""$connect: record the new connection.

Returns 200 to accept the WebSocket upgrade, naming the `chat` subprotocol when the client offered it
(the browser drops a socket whose offered subprotocols get no answer); 403 to refuse a page from an
origin that is not in `ARC_ALLOWED_ORIGINS`; 401 when no authorizer vouched for the visitor (Architect's
sandbox runs none) and the handshake's own token does not hold (`shared.tokens`). No row is written
for a refused handshake.
"""

from datetime import datetime, timezone

from aws_lambda_powertools import Logger

from shared import connections, lambda_context, origins, tokens

logger = Logger()


@lambda_context.accepts_dict_context
@logger.inject_lambda_context(correlation_id_path="requestContext.connectionId")
def handler(event, context):
    if not origins.is_allowed(event):
        logger.warning("refused a socket from origin %s", origins.origin_of(event))
        return {"statusCode": 403}
    if tokens.sender_name(event) is None:  # no authorizer ran: check the token here
        try:
            tokens.identify(event)
        except (tokens.Refused, ValueError) as problem:
            logger.warning("refused a socket: %s", problem)
            return {"statusCode": 401}
    connections.save(event["requestContext"]["connectionId"], datetime.now(timezone.utc))
    if tokens.offers_protocol(event):
        return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": tokens.PROTOCOL}}
    return {"statusCode": 200}
