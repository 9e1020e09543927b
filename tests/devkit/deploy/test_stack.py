"""The AWS side of deploy and destroy, against moto's `mock_aws` and a scripted CloudFormation.

What moto cannot show, and where it is checked instead:
- moto's CloudFormation SILENTLY SKIPS every AWS::ApiGatewayV2::* resource (APIs, routes,
  integrations, stages, the deployment) and still reports CREATE_COMPLETE: those resources are checked
  in tests/app/test_stack_template.py, on the template itself (whole-resource comparisons and cfn-lint).
- moto's change sets record only stack-level events, never per-resource ones, leave the stack without
  Outputs, and never fail or roll back: event streaming, outputs, failed resources and rollback are
  played back by `ScriptedCloudFormation` below.

The app deployed is the fixture tests/fixtures/relay (one of each kind of function, a table, a queue).
"""

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from devkit.deploy import package, stack, template
from devkit.manifest import load
from tests.support.deploy import APP

REGION = "us-east-1"
NAME = "RelayStaging"
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..ApiGatewayV2:UserWarning")  # see the module docstring


@pytest.fixture
def aws(fake_aws):
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        yield session


@pytest.fixture
def deployable(aws, tmp_path, fake_pip, no_tls_deny):
    """The fixture app packaged (fake pip), bucket made, packages uploaded: (s3, cfn, bucket, template)."""
    app_manifest = load(APP)
    account = stack.account_id(aws)
    s3, cfn = aws.client("s3"), aws.client("cloudformation")
    bucket = stack.bucket_name(account, REGION)
    stack.ensure_bucket(s3, bucket, REGION, account)
    packages = package.build_all(app_manifest, tmp_path / "build")
    for built in packages.values():
        stack.upload(s3, bucket, account, built.key, built.path.read_bytes())
    document = template.build(app_manifest, "staging", {k: p.key for k, p in packages.items()})
    return s3, cfn, bucket, document


def run(cfn, bucket, document, events=None):
    body = json.dumps(document, separators=(",", ":"))
    return stack.deploy(
        cfn, NAME, {"TemplateBody": body}, {"DeploymentBucket": bucket}, on_event=(events.append if events is not None else lambda e: None), poll_seconds=0
    )


def test_account_id_comes_from_sts(aws):
    assert stack.account_id(aws) == "123456789012"


def test_deployment_bucket_is_created_private_tls_only_encrypted_versioned_and_cleaned(aws):
    """S3's documented TLS-only policy (aws:SecureTransport, "Enforce encryption of data in transit")
    and lifecycle rules (PutBucketLifecycleConfiguration in the botocore model)."""
    s3 = aws.client("s3")
    name = stack.bucket_name("123456789012", REGION)
    assert name == "devkit-deploy-123456789012-us-east-1"
    assert stack.ensure_bucket(s3, name, REGION, "123456789012") is True
    assert stack.ensure_bucket(s3, name, REGION, "123456789012") is False
    assert s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    [rule] = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert json.loads(s3.get_bucket_policy(Bucket=name)["Policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]}
    assert rules["delete-unused-packages"]["Expiration"] == {"Days": stack.PACKAGE_DAYS}
    assert rules["delete-unused-packages"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    assert rules["delete-expired-markers"]["Expiration"] == {"ExpiredObjectDeleteMarker": True}


def test_bucket_outside_us_east_1_gets_its_location(fake_aws):
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        stack.ensure_bucket(s3, "devkit-deploy-123456789012-eu-west-1", "eu-west-1", "123456789012")
        assert s3.get_bucket_location(Bucket="devkit-deploy-123456789012-eu-west-1")["LocationConstraint"] == "eu-west-1"


def test_upload_skips_a_key_that_is_already_there(aws, no_tls_deny):
    s3 = aws.client("s3")
    stack.ensure_bucket(s3, "devkit-deploy-123456789012-us-east-1", REGION, "123456789012")
    args = (s3, "devkit-deploy-123456789012-us-east-1", "123456789012", "app/f/abc.zip")
    assert stack.upload(*args, b"zip bytes") is True
    assert stack.upload(*args, b"zip bytes") is False
    assert s3.get_object(Bucket=args[1], Key=args[3])["Body"].read() == b"zip bytes"


@pytest.mark.parametrize("age_days, refreshed", [(stack.REFRESH_AFTER_DAYS, False), (stack.REFRESH_AFTER_DAYS + 1, True)])
def test_refresh_restarts_the_lifecycle_clock_of_packages_in_use(aws, no_tls_deny, age_days, refreshed):
    s3 = aws.client("s3")
    bucket = "devkit-deploy-123456789012-us-east-1"
    stack.ensure_bucket(s3, bucket, REGION, "123456789012")
    stack.upload(s3, bucket, "123456789012", "app/f/abc.zip", b"zip bytes")
    uploaded = s3.head_object(Bucket=bucket, Key="app/f/abc.zip")["LastModified"]
    now = uploaded + timedelta(days=age_days, seconds=1 if refreshed else 0)
    assert stack.refresh(s3, bucket, "123456789012", {"app/f/abc.zip", "app/f/gone.zip"}, now=now) == ["app/f/gone.zip"]
    versions = s3.list_object_versions(Bucket=bucket, Prefix="app/f/abc.zip")["Versions"]
    assert len(versions) == (2 if refreshed else 1)
    assert s3.get_object(Bucket=bucket, Key="app/f/abc.zip")["Body"].read() == b"zip bytes"


def test_packages_in_use_are_read_from_the_deployed_template(deployable):
    _, cfn, bucket, document = deployable
    assert stack.packages_in_use(cfn, NAME, bucket) == set()
    run(cfn, bucket, document)
    keys = {r["Properties"]["Code"]["S3Key"] for r in document["Resources"].values() if r["Type"] == "AWS::Lambda::Function"}
    assert keys and stack.packages_in_use(cfn, NAME, bucket) == keys


@pytest.mark.parametrize("enabled", [True, False])
def test_termination_protection_is_one_call_checked_against_the_botocore_model(enabled):
    """moto has no UpdateTerminationProtection, so botocore's Stubber checks the call against the
    CloudFormation model instead; that AWS then refuses DeleteStack is AWS's documented behaviour."""
    from botocore.stub import Stubber

    cfn = boto3.client("cloudformation", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(cfn) as stubbed:
        stubbed.add_response(
            "update_termination_protection", {"StackId": "arn:aws:cloudformation:::stack/x"}, {"StackName": NAME, "EnableTerminationProtection": enabled}
        )
        stack.set_termination_protection(cfn, NAME, enabled)
        stubbed.assert_no_pending_responses()


def test_retained_tables_names_each_table_of_the_stack(deployable, aws):
    _, cfn, bucket, document = deployable
    run(cfn, bucket, document)
    [(logical_id, table)] = stack.retained_tables(cfn, NAME)
    assert logical_id == "TablePeers"
    assert aws.client("dynamodb").describe_table(TableName=table)["Table"]["TableName"] == table


def test_a_missing_api_gateway_cloudwatch_role_is_detected(aws):
    """`GetAccount` returns `cloudwatchRoleArn` only once one is set (botocore model, apigateway)."""
    apigateway = aws.client("apigateway")
    assert stack.cloudwatch_role_missing(apigateway) is True
    role = aws.client("iam").create_role(RoleName="apigw-logs", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    apigateway.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": role}])
    assert stack.cloudwatch_role_missing(apigateway) is False


def test_large_templates_go_through_the_bucket(aws, no_tls_deny):
    s3 = aws.client("s3")
    stack.ensure_bucket(s3, "devkit-deploy-123456789012-us-east-1", REGION, "123456789012")
    small = stack.template_source(s3, "devkit-deploy-123456789012-us-east-1", "123456789012", "app", "{}")
    large = stack.template_source(s3, "devkit-deploy-123456789012-us-east-1", "123456789012", "app", "x" * 60_000)
    assert small == {"TemplateBody": "{}"}
    assert large["TemplateURL"].startswith("https://s3.amazonaws.com/devkit-deploy-123456789012-us-east-1/app/templates/")


def test_create_then_no_change_then_update_then_destroy(deployable, aws):
    s3, cfn, bucket, document = deployable
    events = []
    created = run(cfn, bucket, document, events)
    assert (created.action, created.status) == ("created", "CREATE_COMPLETE")
    assert [(e.logical_id, e.status) for e in events][-1] == (NAME, "CREATE_COMPLETE")

    functions = {f["Description"]: f for f in aws.client("lambda").list_functions()["Functions"]}
    assert set(functions) == {
        "relay staging: GET /",
        "relay staging: GET /_static/{proxy+}",
        "relay staging: $connect",
        "relay staging: $default",
        "relay staging: $disconnect",
        "relay staging: announce",
        "relay staging: queue outbox",
        "relay staging: $connect authorizer",
    }
    variables = functions["relay staging: $connect"]["Environment"]["Variables"]
    table = variables["ARC_TABLE_PEERS"]
    assert aws.client("dynamodb").describe_table(TableName=table)["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert variables["ARC_ENV"] == "staging"

    assert run(cfn, bucket, document).action == "unchanged"

    document["Resources"]["WsConnectFunction"]["Properties"]["MemorySize"] = 512
    updated = run(cfn, bucket, document)
    assert (updated.action, updated.status) == ("updated", "UPDATE_COMPLETE")
    connect = next(f for f in aws.client("lambda").list_functions()["Functions"] if f["Description"].endswith("$connect"))
    assert connect["MemorySize"] == 512

    deleted = stack.destroy(cfn, NAME, poll_seconds=0)
    assert (deleted.action, deleted.status) == ("deleted", "DELETE_COMPLETE")
    assert aws.client("lambda").list_functions()["Functions"] == []
    assert stack.destroy(cfn, NAME, poll_seconds=0).action == "absent"


def test_a_template_aws_rejects_raises_its_error(deployable):
    _, cfn, bucket, document = deployable
    document["Resources"]["WsConnectFunction"]["Properties"]["Role"] = {"Fn::GetAtt": ["NoSuchRole", "Arn"]}
    with pytest.raises(ClientError, match="NoSuchRole"):
        run(cfn, bucket, document)


class ScriptedCloudFormation:
    """Plays back one stack operation poll by poll: each `describe_stacks` after the change set is
    executed moves to the next (status, new events) step. Only what `stack.deploy` calls exists."""

    def __init__(self, steps, existing="UPDATE_COMPLETE", change_set=("CREATE_COMPLETE", ""), outputs=None):
        self.steps = list(steps)
        self.status = existing
        self.change_set = change_set
        self.outputs = outputs or {}
        self.executed = False
        self.deleted_change_sets = []
        self.events = [self._event("before", NAME, "AWS::CloudFormation::Stack", existing, "")]

    def _event(self, event_id, logical, kind, status, reason):
        return {
            "EventId": event_id,
            "Timestamp": datetime(2025, 1, 1, tzinfo=timezone.utc),
            "LogicalResourceId": logical,
            "ResourceType": kind,
            "ResourceStatus": status,
            "ResourceStatusReason": reason,
        }

    def describe_stacks(self, StackName):
        if self.executed and self.steps:
            self.status, new = self.steps.pop(0)
            self.events[:0] = [self._event(f"e{len(self.events)}-{i}", *e) for i, e in reversed(list(enumerate(new)))]
        outputs = [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()]
        return {"Stacks": [{"StackId": "stack-id", "StackStatus": self.status, "Outputs": outputs}]}

    def create_change_set(self, **kwargs):
        return {"Id": "change-set-id", "StackId": "stack-id"}

    def describe_change_set(self, ChangeSetName):
        return {"Status": self.change_set[0], "StatusReason": self.change_set[1]}

    def delete_change_set(self, ChangeSetName):
        self.deleted_change_sets.append(ChangeSetName)

    def execute_change_set(self, ChangeSetName):
        self.executed = True

    def get_paginator(self, operation):
        assert operation == "describe_stack_events"
        cfn = self

        class Pages:
            def paginate(self, StackName):
                return iter([{"StackEvents": list(cfn.events)}])

        return Pages()


FUNCTION = "AWS::Lambda::Function"


def test_events_arrive_oldest_first_and_outputs_are_returned():
    cfn = ScriptedCloudFormation(
        [
            ("UPDATE_IN_PROGRESS", [(NAME, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", "User Initiated")]),
            ("UPDATE_IN_PROGRESS", [("WsConnectFunction", FUNCTION, "UPDATE_IN_PROGRESS", ""), ("WsConnectFunction", FUNCTION, "UPDATE_COMPLETE", "")]),
            ("UPDATE_COMPLETE", [(NAME, "AWS::CloudFormation::Stack", "UPDATE_COMPLETE", "")]),
        ],
        outputs={"PageUrl": "https://abc.execute-api.us-east-1.amazonaws.com/"},
    )
    events, waits = [], []
    result = stack.deploy(cfn, NAME, {"TemplateBody": "{}"}, {}, on_event=events.append, on_wait=lambda: waits.append(1), poll_seconds=0)
    assert [(e.logical_id, e.status) for e in events] == [
        (NAME, "UPDATE_IN_PROGRESS"),
        ("WsConnectFunction", "UPDATE_IN_PROGRESS"),
        ("WsConnectFunction", "UPDATE_COMPLETE"),
        (NAME, "UPDATE_COMPLETE"),
    ]
    assert waits  # the spinner was given its turns
    assert result == stack.Result("updated", "UPDATE_COMPLETE", {"PageUrl": "https://abc.execute-api.us-east-1.amazonaws.com/"})


def test_a_failed_update_names_the_failing_resources_and_says_it_rolled_back():
    cfn = ScriptedCloudFormation(
        [
            ("UPDATE_IN_PROGRESS", [("WsConnectFunction", FUNCTION, "UPDATE_FAILED", "Memory size 99 is not valid")]),
            ("UPDATE_ROLLBACK_IN_PROGRESS", [(NAME, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_IN_PROGRESS", "")]),
            ("UPDATE_ROLLBACK_COMPLETE", [(NAME, "AWS::CloudFormation::Stack", "UPDATE_ROLLBACK_COMPLETE", "")]),
        ]
    )
    with pytest.raises(stack.DeployError, match="ended UPDATE_ROLLBACK_COMPLETE") as raised:
        stack.deploy(cfn, NAME, {"TemplateBody": "{}"}, {}, poll_seconds=0)
    assert [(e.logical_id, e.reason) for e in raised.value.failures] == [("WsConnectFunction", "Memory size 99 is not valid")]
    assert raised.value.rolled_back is True


def test_a_rollback_that_fails_is_not_reported_as_rolled_back():
    cfn = ScriptedCloudFormation(
        [
            ("UPDATE_ROLLBACK_FAILED", [("TablePeers", "AWS::DynamoDB::Table", "UPDATE_FAILED", "Limit exceeded")]),
        ]
    )
    with pytest.raises(stack.DeployError) as raised:
        stack.deploy(cfn, NAME, {"TemplateBody": "{}"}, {}, poll_seconds=0)
    assert raised.value.rolled_back is False


def test_an_empty_change_set_means_no_change_and_is_deleted():
    """Real CloudFormation makes the change set and fails it; moto refuses it at once (tested above)."""
    reason = "The submitted information didn't contain changes. Submit different information to create a change set."
    cfn = ScriptedCloudFormation([], change_set=("FAILED", reason))
    assert stack.deploy(cfn, NAME, {"TemplateBody": "{}"}, {}, poll_seconds=0).action == "unchanged"
    assert cfn.deleted_change_sets == ["change-set-id"] and not cfn.executed


def test_another_change_set_failure_is_an_error():
    cfn = ScriptedCloudFormation([], change_set=("FAILED", "Template format error: unsupported structure"))
    with pytest.raises(stack.DeployError, match="rejected the change set: Template format error"):
        stack.deploy(cfn, NAME, {"TemplateBody": "{}"}, {}, poll_seconds=0)


def test_a_busy_stack_is_left_alone():
    cfn = ScriptedCloudFormation([], existing="UPDATE_IN_PROGRESS")
    with pytest.raises(stack.DeployError, match="busy"):
        stack.deploy(cfn, NAME, {"TemplateBody": "{}"}, {}, poll_seconds=0)
    assert not cfn.executed
