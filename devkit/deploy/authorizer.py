"""`@ws-authorizer` -> the WebSocket API's Lambda REQUEST authorizer in the template.

`attach(resources, authorizer, function_logical, connect_logical)` adds the `AWS::ApiGatewayV2::Authorizer`
(REQUEST, its identity sources), makes `$connect` `AuthorizationType: CUSTOM` with its `AuthorizerId`, and
lets API Gateway invoke the function from this authorizer only: the `SourceArn` is
`arn:<partition>:execute-api:<region>:<account>:<api>/authorizers/<authorizer id>` (the form the API
Gateway guide gives for a Lambda authorizer's resource-based permission). The function, its log group and
its own least-privilege role (its config.arc's `@permissions`; logs alone by default) are made by
template.py as every function's are. WebSocket authorizers have no result cache, so no TTL is set.
"""

from __future__ import annotations

from devkit.authorizers import Authorizer

AUTHORIZER_ID = "WsAuthorizer"


def attach(resources: dict, authorizer: Authorizer, function_logical: str, connect_logical: str) -> None:
    """Add the authorizer and its invoke permission to `resources`, and guard `$connect`'s route with it."""
    resources[AUTHORIZER_ID] = {
        "Type": "AWS::ApiGatewayV2::Authorizer",
        "Properties": {
            "ApiId": {"Ref": "WsApi"},
            "Name": function_logical,
            "AuthorizerType": "REQUEST",
            "AuthorizerUri": {
                "Fn::Sub": (
                    "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${" + function_logical + "Function.Arn}/invocations"
                )
            },
            "IdentitySource": [source.expression for source in authorizer.identity_sources],
        },
    }
    resources[function_logical + "Permission"] = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": function_logical + "Function"},
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": {"Fn::Sub": ("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WsApi}/authorizers/${" + AUTHORIZER_ID + "}")},
        },
    }
    route = resources[connect_logical + "Route"]["Properties"]
    route.update(AuthorizationType="CUSTOM", AuthorizerId={"Ref": AUTHORIZER_ID})
