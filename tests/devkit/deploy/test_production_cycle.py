"""Destroying and redeploying production safely, against moto: the question before termination
protection goes off, protection restored when the delete fails, the kept tables refused or adopted by
the next deploy, and the shared bucket's documents written only when they differ. The app is the fixture
tests/fixtures/relay (stack RelayProduction, table peers).

What moto cannot show: it has no UpdateTerminationProtection (the calls are recorded; test_stack.py
checks them against botocore's model), and it runs an IMPORT change set by creating a new table
rather than adopting the named one, so only the requests are checked here: that CloudFormation then
adopts the very table is shown only by AWS (its resource import guide).
"""

import json

import boto3
import pytest

from devkit.deploy import adopt, command, stack, template
from devkit.manifest import load
from tests.support.deploy import APP, give_api_gateway_a_cloudwatch_role, main

pytestmark = [
    pytest.mark.filterwarnings("ignore:Tried to parse AWS..ApiGatewayV2:UserWarning"),
    pytest.mark.filterwarnings("ignore:Tried to parse AWS..CloudWatch..Alarm:UserWarning"),
]


@pytest.fixture
def protection(monkeypatch):
    """The termination-protection calls, in order (moto has no UpdateTerminationProtection)."""
    calls: list[bool] = []
    monkeypatch.setattr(stack, "set_termination_protection", lambda cfn, name, on: calls.append(on))
    return calls


@pytest.fixture
def deployed(moto, protection, capsys):
    give_api_gateway_a_cloudwatch_role()
    assert main("deploy", "--stage", "production", "--no-smoke") == 0
    capsys.readouterr()
    protection.clear()


@pytest.fixture
def change_sets(monkeypatch):
    """Every CreateChangeSet request the command makes, as sent."""
    sent: list[dict] = []
    real = stack.session

    def recording(region):
        session = real(region)
        session.events.register("provide-client-params.cloudformation.CreateChangeSet", lambda params, **kwargs: sent.append(dict(params)))
        return session

    monkeypatch.setattr(stack, "session", recording)
    return sent


def test_destroying_production_asks_before_turning_protection_off_and_no_leaves_it_on(deployed, protection, monkeypatch, capsys):
    questions = []
    monkeypatch.setattr(command, "confirm", lambda question: questions.append(question) or False)
    assert main("destroy", "--stage", "production") == 1
    assert protection == [], "not touched without consent"
    [question] = questions
    assert question.startswith("Stack RelayProduction in us-east-1 (account 123456789012): turn its termination protection off")
    assert "Nothing deleted." in capsys.readouterr().out
    assert stack.stack_status(boto3.client("cloudformation", region_name="us-east-1"), "RelayProduction") == "CREATE_COMPLETE"


def test_a_failed_production_delete_turns_termination_protection_back_on_and_says_so(deployed, protection, monkeypatch, capsys):
    def failing(*args, **kwargs):
        raise stack.DeployError("stack RelayProduction ended DELETE_FAILED")

    monkeypatch.setattr(stack, "destroy", failing)
    assert main("destroy", "--stage", "production", "--yes") == 1  # --yes: consent, protection included
    assert protection == [False, True]
    out = capsys.readouterr().out
    assert "Deploy failed: stack RelayProduction ended DELETE_FAILED" in out
    assert "Turned termination protection back on for RelayProduction" in out


def test_after_a_production_destroy_the_next_deploy_refuses_beside_the_kept_table_in_one_line(deployed, capsys, fake_pip):
    assert main("destroy", "--stage", "production", "--yes") == 0
    kept = next(line.split()[2] for line in capsys.readouterr().out.splitlines() if line.startswith("Kept table "))
    assert kept in boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"]
    assert main("deploy", "--stage", "production", "--no-smoke") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        f"error: stack RelayProduction does not exist, but its tables from an earlier deploy do: {kept} "
        "(TablePeers); a new stack would start empty tables beside them."
    )
    assert err.endswith("To take them into the new stack: python -m devkit deploy --stage production --adopt\n")
    assert not stack.stack_status(boto3.client("cloudformation", region_name="us-east-1"), "RelayProduction")


def test_adopt_imports_the_kept_tables_then_adds_everything_else(deployed, capsys, change_sets, protection):
    assert main("destroy", "--stage", "production", "--yes") == 0
    kept = next(line.split()[2] for line in capsys.readouterr().out.splitlines() if line.startswith("Kept table "))
    change_sets.clear()
    protection.clear()
    assert main("deploy", "--stage", "production", "--no-smoke", "--adopt") == 0
    out = capsys.readouterr().out
    assert f"adopting the kept tables {kept} (CloudFormation resource import)" in out
    assert "Stack RelayProduction updated (UPDATE_COMPLETE)." in out
    imported, update = change_sets
    assert imported["ChangeSetType"] == "IMPORT" and update["ChangeSetType"] == "UPDATE"
    assert imported["ResourcesToImport"] == [
        {"ResourceType": "AWS::DynamoDB::Table", "LogicalResourceId": "TablePeers", "ResourceIdentifier": {"TableName": kept}}
    ]
    body = json.loads(imported["TemplateBody"])
    full = json.loads(update["TemplateBody"])
    assert body["Resources"] == {"TablePeers": full["Resources"]["TablePeers"]}, "the table as the stack will have it"
    assert body["Resources"]["TablePeers"]["DeletionPolicy"] == "Retain"  # an import needs one
    assert {"Key": "devkit:stage", "Value": "production"} in imported["Tags"]
    assert protection == [True]


def test_a_kept_table_with_other_keys_is_refused_by_name(moto):
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="RelayProduction-TablePeers-OLD1",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )
    document = template.build(load(APP), "production", _code_keys())
    with pytest.raises(
        stack.DeployError, match="RelayProduction-TablePeers-OLD1, kept from an earlier RelayProduction, has another key schema than TablePeers"
    ):
        adopt.kept_tables(dynamodb, "RelayProduction", document)
    assert adopt.kept_tables(dynamodb, "RelayStaging", document) == {}


def _code_keys():
    manifest = load(APP)
    return {**{f.id: f"k/{f.id}.zip" for f in manifest.functions}, template.STATIC_ID: "k/static.zip"}


def test_the_bucket_policy_and_lifecycle_are_written_only_when_they_differ(moto):
    s3 = boto3.client("s3", region_name="us-east-1")
    writes: list[str] = []
    for operation in ("PutBucketPolicy", "PutBucketLifecycleConfiguration"):
        s3.meta.events.register(f"before-call.s3.{operation}", lambda model, **kwargs: writes.append(model.name))
    bucket = stack.bucket_name("123456789012", "us-east-1")
    assert stack.ensure_bucket(s3, bucket, "us-east-1", "123456789012") is True
    assert writes == ["PutBucketPolicy", "PutBucketLifecycleConfiguration"]
    assert stack.ensure_bucket(s3, bucket, "us-east-1", "123456789012") is False
    assert writes == ["PutBucketPolicy", "PutBucketLifecycleConfiguration"], "unchanged: not written again"
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [{"ID": "someone-else", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}]}
    )
    s3.delete_bucket_policy(Bucket=bucket)
    writes.clear()
    stack.ensure_bucket(s3, bucket, "us-east-1", "123456789012")
    assert writes == ["PutBucketPolicy", "PutBucketLifecycleConfiguration"], "changed or gone: put back"
