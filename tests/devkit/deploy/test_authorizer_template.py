"""`@ws-authorizer` in the template: the authorizer, `CUSTOM` on `$connect`, the scoped permission, its role.

Sources: the CloudFormation reference for AWS::ApiGatewayV2::Authorizer (`AuthorizerType` REQUEST,
`IdentitySource` as `route.request.header.<Name>` for WebSocket APIs, `AuthorizerResultTtlInSeconds`
"Supported only for HTTP API Lambda authorizers") and AWS::ApiGatewayV2::Route (`AuthorizationType`
CUSTOM with `AuthorizerId`); the API Gateway guide's Lambda authorizer permission, whose source is
`arn:aws:execute-api:<region>:<account>:<api>/authorizers/<authorizer id>`. moto skips ApiGatewayV2
resources, so these are checked on the template itself, and by cfn-lint.
"""

import pytest

from devkit import manifest
from devkit.deploy import template
from tests.support.deploy import lint_findings, of_type
from tests.support.sandbox import FIXTURES


@pytest.fixture
def guarded():
    return manifest.load(FIXTURES / "authorizer" / "app.arc")


def build(app, stage="staging"):
    keys = {f.id: f"{app.app}/{f.id}/{'0' * 64}.zip" for f in app.functions} | {template.STATIC_ID: "static.zip"}
    return template.build(app, stage, keys)


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_cfn_lint_finds_nothing_with_an_authorizer(guarded, stage):
    assert lint_findings(build(guarded, stage)) == []


def test_the_authorizer_is_a_request_authorizer_on_the_websocket_api_with_its_identity_sources(guarded):
    [(name, resource)] = of_type(build(guarded), "AWS::ApiGatewayV2::Authorizer").items()
    assert resource["Properties"] == {
        "ApiId": {"Ref": "WsApi"},
        "Name": "AuthorizerAuthorize",
        "AuthorizerType": "REQUEST",
        "AuthorizerUri": {
            "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${AuthorizerAuthorizeFunction.Arn}/invocations"
        },
        "IdentitySource": ["route.request.header.Auth", "route.request.querystring.key"],
    }


def test_only_connect_is_guarded_by_it(guarded):
    routes = of_type(build(guarded), "AWS::ApiGatewayV2::Route")
    connect = routes.pop("WsConnectRoute")["Properties"]
    assert (connect["AuthorizationType"], connect["AuthorizerId"]) == ("CUSTOM", {"Ref": "WsAuthorizer"})
    assert routes and not any("AuthorizationType" in r["Properties"] for r in routes.values())


def test_api_gateway_may_invoke_the_function_from_this_authorizer_only(guarded):
    permission = build(guarded)["Resources"]["AuthorizerAuthorizePermission"]["Properties"]
    assert permission == {
        "Action": "lambda:InvokeFunction",
        "FunctionName": {"Ref": "AuthorizerAuthorizeFunction"},
        "Principal": "apigateway.amazonaws.com",
        "SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WsApi}/authorizers/${WsAuthorizer}"},
    }


def test_the_authorizer_has_its_own_role_with_its_declared_grants_and_nothing_else(guarded):
    document = build(guarded)
    function = document["Resources"]["AuthorizerAuthorizeFunction"]["Properties"]
    assert function["Role"] == {"Fn::GetAtt": ["AuthorizerAuthorizeRole", "Arn"]} and function["Timeout"] == 1
    policy = document["Resources"]["AuthorizerAuthorizeRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    assert [s["Action"] for s in policy["Statement"]] == [["logs:CreateLogStream", "logs:PutLogEvents"], ["dynamodb:GetItem"], "secretsmanager:GetSecretValue"]
    assert policy["Statement"][2]["Resource"] == {"Ref": "SecretSigningKey"}


def test_a_granted_secret_is_generated_by_the_stack_and_named_to_every_function(guarded):
    """AWS::SecretsManager::Secret `GenerateSecretString`: CloudFormation makes the value, so it is in no
    file; functions get its ARN (`Ref`) as ARC_SECRET_<NAME>, and only the granted one may read it."""
    document = build(guarded)
    assert document["Resources"]["SecretSigningKey"]["Properties"]["GenerateSecretString"] == {"PasswordLength": 64, "ExcludePunctuation": True}
    for function in of_type(document, "AWS::Lambda::Function").values():
        assert function["Properties"]["Environment"]["Variables"]["ARC_SECRET_SIGNING_KEY"] == {"Ref": "SecretSigningKey"}
    readers = [name for name, role in of_type(document, "AWS::IAM::Role").items() if "secretsmanager" in str(role["Properties"]["Policies"])]
    assert readers == ["AuthorizerAuthorizeRole"]


def test_a_changed_identity_source_gets_a_new_deployment(guarded, tmp_path):
    import shutil

    copy = tmp_path / "app"
    shutil.copytree(FIXTURES / "authorizer", copy)
    arc = copy / "app.arc"
    arc.write_text(arc.read_text().replace("querystring.key", "querystring.other"))
    deployments = [set(of_type(build(app), "AWS::ApiGatewayV2::Deployment")) for app in (guarded, manifest.load(arc))]
    assert deployments[0] != deployments[1]


def test_an_app_without_one_has_no_authorizer():
    document = build(manifest.load(FIXTURES / "faults" / "app.arc"))
    assert not of_type(document, "AWS::ApiGatewayV2::Authorizer")
    assert "AuthorizationType" not in document["Resources"]["WsConnectRoute"]["Properties"]
    assert not of_type(document, "AWS::SecretsManager::Secret")


def test_the_starter_app_guards_connect_with_its_authorizer_on_the_subprotocol_header(staging):
    [authorizer] = of_type(staging, "AWS::ApiGatewayV2::Authorizer").values()
    assert authorizer["Properties"]["IdentitySource"] == ["route.request.header.Sec-WebSocket-Protocol"]
    assert staging["Resources"]["WsConnectRoute"]["Properties"]["AuthorizationType"] == "CUSTOM"
