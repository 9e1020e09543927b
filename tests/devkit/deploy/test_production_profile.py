"""What production gets by default and what app.arc changes: reserved concurrency, alarms, access
logs and tags (whole properties compared; cfn-lint and checkov run in test_scanners.py), on a copy of
the fixture app tests/fixtures/relay."""

import pytest

from devkit import manifest as manifest_module
from devkit.deploy import concurrency, stack, tags, template
from devkit.errors import ManifestError
from tests.support.deploy import APP as RELAY_ARC


def build(app_dir, keys, stage, app_lines="", config=None):
    arc = app_dir / "app.arc"
    arc.write_text(arc.read_text() + "\n" + app_lines)
    if config:
        (app_dir / "src/ws/default/config.arc").write_text(config)
    return template.build(manifest_module.load(arc), stage, keys)["Resources"]


def reserved(resources) -> dict[str, int | None]:
    return {k: r["Properties"].get("ReservedConcurrentExecutions") for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}


def test_production_reserves_the_default_for_every_function_staging_none(relay_copy, relay_keys):
    """Lambda's ReservedConcurrentExecutions (AWS::Lambda::Function); the numbers: docs/deploy.md, Concurrency."""
    assert set(reserved(build(relay_copy, relay_keys, "production")).values()) == {concurrency.PRODUCTION_RESERVED}
    assert set(reserved(build(relay_copy, relay_keys, "staging")).values()) == {None}


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_declared_concurrency_wins_app_wide_then_per_function(relay_copy, relay_keys, stage):
    resources = build(relay_copy, relay_keys, stage, "concurrency 20\n", "@aws\nconcurrency 3\n")
    assert reserved(resources) == {
        "HttpGetIndexFunction": 20,
        "StaticFunction": 20,
        "WsConnectFunction": 20,
        "WsDefaultFunction": 3,
        "WsDisconnectFunction": 20,
        "WsAnnounceFunction": 20,
        "AuthorizerGateFunction": 20,
        "QueueOutboxFunction": 20,
    }


def test_unthrottled_opts_a_function_out_even_in_production(relay_copy, relay_keys):
    resources = build(relay_copy, relay_keys, "production", "", "@aws\nconcurrency unthrottled\n")
    assert reserved(resources)["WsDefaultFunction"] is None
    assert reserved(resources)["WsConnectFunction"] == concurrency.PRODUCTION_RESERVED


@pytest.mark.parametrize(
    "value, error",
    [
        ("0", "concurrency (reserved executions; or `unthrottled`) '0': expected a whole number from 1 to 10000"),
        ("10001", "expected a whole number from 1 to 10000"),
        ("none", "expected a whole number from 1 to 10000"),
    ],
)
def test_concurrency_out_of_range_is_a_manifest_error_at_its_line(relay_copy, value, error):
    arc = relay_copy / "app.arc"
    lines = arc.read_text().count("\n")
    arc.write_text(arc.read_text() + f"concurrency {value}\n")
    with pytest.raises(ManifestError, match=f":{lines + 1}: .*" + error.replace("(", r"\(").replace(")", r"\)")):
        manifest_module.load(arc)


def test_concurrency_at_its_bounds_is_accepted(relay_copy):
    arc = relay_copy / "app.arc"
    text = arc.read_text()
    for value in ("1", "10000"):
        arc.write_text(text + f"concurrency {value}\n")
        assert manifest_module.load(arc).aws.concurrency == int(value)


# Errors and throttles of each function (public/'s static one too), 5xx of both APIs, each dead-letter queue's depth.
APP = manifest_module.load(RELAY_ARC)
ALARMS = (len(APP.functions) + 1) * 2 + 2 + len(APP.queues)


def alarms(resources) -> dict[str, dict]:
    return {k: r for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def test_production_alarms_on_every_function_and_both_apis_without_a_topic(relay_copy, relay_keys):
    resources = build(relay_copy, relay_keys, "production")
    assert len(alarms(resources)) == ALARMS
    assert "AlarmTopic" not in resources
    assert all("AlarmActions" not in a["Properties"] for a in alarms(resources).values()), "nobody to notify"
    ws = resources["WsApiErrorsAlarm"]["Properties"]
    assert (ws["Namespace"], ws["MetricName"], ws["Dimensions"]) == (
        "AWS/ApiGateway",
        "ExecutionError",
        [{"Name": "ApiId", "Value": {"Ref": "WsApi"}}, {"Name": "Stage", "Value": "production"}],
    )
    assert {a["Properties"]["MetricName"] for a in alarms(resources).values()} == {
        "Errors",
        "Throttles",
        "5xx",
        "ExecutionError",
        "ApproximateNumberOfMessagesVisible",
    }
    assert all("AccessLogSettings" in resources[s]["Properties"] for s in ("HttpApiStage", "WsStage"))


@pytest.mark.parametrize(
    "line, stage, count, topic",
    [
        ("", "staging", 0, False),
        ("alarms true", "staging", ALARMS, False),
        ("alarms you@example.com", "staging", ALARMS, True),
        ("alarms you@example.com", "production", ALARMS, True),
        ("alarms false", "production", 0, False),
    ],
)
def test_alarms_setting(relay_copy, relay_keys, line, stage, count, topic):
    resources = build(relay_copy, relay_keys, stage, line + "\n")
    assert len(alarms(resources)) == count
    assert ("AlarmTopic" in resources) == topic
    if topic:
        assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms(resources).values())


def test_access_logs_false_turns_production_logs_off(relay_copy, relay_keys):
    resources = build(relay_copy, relay_keys, "production", "access-logs false\n")
    assert not any("AccessLogSettings" in resources[s]["Properties"] for s in ("HttpApiStage", "WsStage"))


def test_every_taggable_resource_carries_app_stage_and_the_users_tags(relay_copy, relay_keys):
    resources = build(relay_copy, relay_keys, "production", "\n@tags\nteam chat ops\ncost-centre 42\n")
    expected = {"devkit:app": "relay", "devkit:stage": "production", "team": "chat ops", "cost-centre": "42"}
    taggable = {k: r for k, r in resources.items() if r["Type"] in tags.TAGGED}
    assert {r["Type"] for r in taggable.values()} >= {
        "AWS::Lambda::Function",
        "AWS::IAM::Role",
        "AWS::Logs::LogGroup",
        "AWS::DynamoDB::Table",
        "AWS::CloudWatch::Alarm",
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Stage",
    }
    for name, resource in taggable.items():
        written = resource["Properties"]["Tags"]
        as_map = written if isinstance(written, dict) else {t["Key"]: t["Value"] for t in written}
        assert as_map == expected, name
    untagged = {r["Type"] for r in resources.values() if "Tags" not in r["Properties"]}
    assert untagged == {
        "AWS::Lambda::Permission",
        "AWS::ApiGatewayV2::Route",
        "AWS::ApiGatewayV2::Integration",
        "AWS::ApiGatewayV2::Deployment",
        "AWS::ApiGatewayV2::Authorizer",
        "AWS::Lambda::EventSourceMapping",
    }, "types CloudFormation gives no Tags property"


def test_the_stack_carries_the_same_tags_and_its_name():
    assert stack._tags("RelayProduction", "relay", tags.resource_tags("relay", "production", (("team", "chat"),))) == [
        {"Key": "devkit:stack", "Value": "RelayProduction"},
        {"Key": "devkit:app", "Value": "relay"},
        {"Key": "devkit:stage", "Value": "production"},
        {"Key": "team", "Value": "chat"},
    ]


@pytest.mark.parametrize(
    "line, error",
    [
        ("devkit:app other", "tag 'devkit:app': aws:\\* tags are AWS's and devkit:\\* the kit's"),
        ("aws:owner me", "tag 'aws:owner'"),
        ("lonely", "@tags expects '<key> <value>' on one line"),
        ("k" * 129 + " v", "a tag key is 1-128"),
        ("team <b>", "a tag key is 1-128"),
    ],
)
def test_bad_tags_are_manifest_errors_at_their_line(relay_copy, line, error):
    arc = relay_copy / "app.arc"
    lines = arc.read_text().count("\n")
    arc.write_text(arc.read_text() + f"\n@tags\n{line}\n")
    with pytest.raises(ManifestError, match=f":{lines + 3}: {error}"):
        manifest_module.load(arc)


def test_a_tag_key_of_128_and_a_value_of_256_are_accepted(relay_copy):
    arc = relay_copy / "app.arc"
    arc.write_text(arc.read_text() + "\n@tags\n" + "k" * 128 + " " + "v" * 256 + "\n")
    assert manifest_module.load(arc).tags == (("k" * 128, "v" * 256),)
