"""$disconnect: forget the connection. API Gateway ignores the status; it is 200 for the logs."""

from aws_lambda_powertools import Logger

from shared import connections, lambda_context

logger = Logger()


@lambda_context.accepts_dict_context
@logger.inject_lambda_context(correlation_id_path="requestContext.connectionId")
def handler(event, context):
    context_ = event["requestContext"]
    logger.info("closed with %s %s", context_.get("disconnectStatusCode"), context_.get("disconnectReason"))
    connections.delete(context_["connectionId"])
    return {"statusCode": 200}
