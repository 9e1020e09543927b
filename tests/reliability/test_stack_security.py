"""Security review of the deployed stack, as checks on the generated template and packages (no AWS).

tests/app/test_stack_template.py already pins each role's exact actions, the SourceArn of every
permission, no `*` resource and the connections table resource; these fill the gaps and hold for any
app the starter grows into: every function, table and role the template has, whatever their names.
"""

from __future__ import annotations

import json
import re
import zipfile

import pytest

from devkit import manifest as manifest_module
from devkit.deploy import package, template
from tests.support.repo import ROOT

SECRET = re.compile(
    r"AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|aws_secret_access_key\s*=|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|xox[bp]-[0-9A-Za-z-]+|ghp_[0-9A-Za-z]{36}|sk_live_[0-9A-Za-z]+",
    re.IGNORECASE,
)


@pytest.fixture(scope="module", params=["staging", "production"])
def document(request):
    app = manifest_module.load(ROOT / "app.arc")
    keys = {f.id: f"{app.app}/{f.id}/{'0' * 64}.zip" for f in app.functions} | {template.STATIC_ID: "s/static.zip"}
    return template.build(app, request.param, keys)


def of_type(document, kind):
    return {k: v for k, v in document["Resources"].items() if v["Type"] == kind}


def test_every_role_is_assumable_by_lambda_only_and_has_no_managed_or_admin_policy(document):
    for name, role in of_type(document, "AWS::IAM::Role").items():
        properties = role["Properties"]
        [trust] = properties["AssumeRolePolicyDocument"]["Statement"]
        assert trust == {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}, name
        assert "ManagedPolicyArns" not in properties and "PermissionsBoundary" not in properties, name
        for policy in properties["Policies"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
                assert not any(a.split(":")[0] in ("iam", "sts", "s3", "kms", "lambda") for a in actions), (name, actions)


def test_each_role_belongs_to_exactly_one_function_and_reaches_only_its_own_log_group(document):
    functions = of_type(document, "AWS::Lambda::Function")
    roles = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()]
    assert sorted(roles) == sorted(of_type(document, "AWS::IAM::Role")), "one role per function, none shared"
    for name in functions:
        base = name[: -len("Function")]
        statements = document["Resources"][base + "Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        logs = [s for s in statements if any(str(a).startswith("logs:") for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))]
        assert [s["Resource"] for s in logs] == [{"Fn::GetAtt": [base + "LogGroup", "Arn"]}]


def test_every_function_logs_to_a_log_group_with_retention(document):
    for name, function in of_type(document, "AWS::Lambda::Function").items():
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        retention = document["Resources"][group]["Properties"].get("RetentionInDays")
        assert isinstance(retention, int) and 1 <= retention <= 365, (name, retention)
    access_logs = {
        s["Properties"]["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
        for s in of_type(document, "AWS::ApiGatewayV2::Stage").values()
        if "AccessLogSettings" in s["Properties"]
    }
    assert len(of_type(document, "AWS::Logs::LogGroup")) == len(of_type(document, "AWS::Lambda::Function")) + len(access_logs)


def test_every_table_is_encrypted_on_demand_and_expires_rows(document):
    tables = of_type(document, "AWS::DynamoDB::Table")
    assert tables
    for name, table in tables.items():
        properties = table["Properties"]
        assert properties["SSESpecification"] == {"SSEEnabled": True}, name
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["TimeToLiveSpecification"]["Enabled"] is True


def test_no_public_bucket_no_resource_policy_opening_anything_to_everyone(document):
    text = json.dumps(document)
    assert not of_type(document, "AWS::S3::BucketPolicy") and not of_type(document, "AWS::S3::Bucket"), (
        "packages live in the private deployment bucket made by stack.ensure_bucket, not in the stack"
    )
    assert '"Principal": "*"' not in text and '"AWS": "*"' not in text
    for permission in of_type(document, "AWS::Lambda::Permission").values():
        properties = permission["Properties"]
        assert properties["Principal"] == "apigateway.amazonaws.com" and "SourceArn" in properties
        assert not properties["SourceArn"]["Fn::Sub"].endswith(":*"), "scoped to an API, not to every API"


def test_no_function_url_and_no_api_without_its_routes(document):
    assert not of_type(document, "AWS::Lambda::Url"), "functions are reached only through the APIs"
    for route in of_type(document, "AWS::ApiGatewayV2::Route").values():
        if route["Properties"]["RouteKey"] == "$connect":  # the app's @ws-authorizer guards every socket
            assert route["Properties"]["AuthorizationType"] == "CUSTOM" and "AuthorizerId" in route["Properties"]
        else:  # API Gateway allows an authorizer on $connect only
            assert route["Properties"].get("AuthorizationType", "NONE") == "NONE"


def test_no_secret_in_the_template_or_its_environment(document):
    text = json.dumps(document)
    assert not SECRET.search(text)
    for function in of_type(document, "AWS::Lambda::Function").values():
        for name, value in function["Properties"].get("Environment", {}).get("Variables", {}).items():
            if name.startswith("ARC_SECRET_"):  # the secret's name (a Ref to the stack's secret), never its value
                assert document["Resources"][value["Ref"]]["Type"] == "AWS::SecretsManager::Secret"
                continue
            assert not re.search(r"SECRET|PASSWORD|TOKEN|PRIVATE|ACCESS_KEY", name), name
            assert isinstance(value, dict) or not SECRET.search(str(value))


def test_no_secret_and_no_credentials_file_in_any_package(tmp_path):
    app = manifest_module.load(ROOT / "app.arc")

    def fake_pip(requirements, platform, target):
        (target / "jinja2").mkdir()
        (target / "jinja2" / "__init__.py").write_text("")

    packages = package.build_all(app, tmp_path / "build", installer=fake_pip)
    assert packages
    for built in packages.values():
        with zipfile.ZipFile(built.path) as archive:
            for name in archive.namelist():
                assert not re.search(r"(^|/)(\.env|\.aws/|credentials|id_rsa|.*\.pem)$", name), name
                assert not SECRET.search(archive.read(name).decode("utf-8", "replace")), name
