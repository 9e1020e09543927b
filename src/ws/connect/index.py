"""$connect: record the new connection.

Returns 200 to accept the WebSocket upgrade, or 403 to refuse a page from an origin that is not in
`ARC_ALLOWED_ORIGINS` (API Gateway then answers the handshake with 403 and no row is written).
"""

from datetime import datetime, timezone

from aws_lambda_powertools import Logger

from shared import connections, lambda_context, origins

logger = Logger()


@lambda_context.accepts_dict_context
@logger.inject_lambda_context(correlation_id_path="requestContext.connectionId")
def handler(event, context):
    if not origins.is_allowed(event):
        logger.warning("refused a socket from origin %s", origins.origin_of(event))
        return {"statusCode": 403}
    connections.save(event["requestContext"]["connectionId"], datetime.now(timezone.utc))
    return {"statusCode": 200}
