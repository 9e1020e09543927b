"""The `$connect` authorizer (app.arc `@ws-authorizer`): let in only a visitor with a valid token.

API Gateway calls it before `$connect` with the handshake's headers. A missing or invalid token (see
`shared.tokens`) raises `Unauthorized`, which API Gateway answers with 401; a valid one returns a policy
allowing this `$connect` and the guest's name as context, which API Gateway then adds to every event of
the connection as `requestContext.authorizer`. The token is never logged.
"""

from aws_lambda_powertools import Logger

from shared import lambda_context, tokens

logger = Logger()


@lambda_context.accepts_dict_context
@logger.inject_lambda_context(correlation_id_path="requestContext.connectionId")
def handler(event, context):
    try:
        claims = tokens.identify(event)
    except tokens.Refused as problem:
        logger.info("refused a connection: %s", problem)
        raise Exception("Unauthorized") from None  # API Gateway's word for 401
    return {
        "principalId": claims["sub"],
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}],
        },
        "context": {"name": claims["name"]},
    }
