"""The handlers under Architect: a dict `context`, and the runtime contract found from Architect's variables.

Sources (no AWS page covers these; they are Architect's own, read in Architect 12.0.1 / sandbox 9.0.0 /
package 9): the dict context and `ARC_SANDBOX`'s `ports` (`http`, `tables`, `_arc`) in
`@architect/sandbox` `src/invoke-lambda/env/context.js` and `env/index.js`; `ARC_WSS_URL =
ws://localhost:<http>` in `src/lib/user-env-vars.js`; local table names `<app>-staging-<name>` in
`src/tables/create-table/index.js`; the Management API at `/_arc/ws` on the `_arc` port; under deploy,
`ARC_STACK_NAME` in `@architect/package` `visitors/utils/get-lambda-env.js` and the SSM parameters
`/<stack>/tables/<name>` with `ssm:GetParametersByPath` on `/<stack>/*` in `visitors/globals/ssm.js`.
The end-to-end check against a real `arc sandbox` is tests/architect/.
"""

import json
import sys

import boto3
import pytest
from moto import mock_aws

from tests.app.support import connect_event, rows

PORTS = {"http": 43001, "tables": 43002, "_arc": 43003}
PROJECT_VARIABLES = (
    "ARC_TABLE_CONNECTIONS",
    "ARC_ALLOWED_ORIGINS",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_DEFAULT_REGION",
    "ARC_STACK_NAME",
    "ARC_SANDBOX",
    "ARC_QUEUE_DELIVER",
)


@pytest.fixture
def config(handler):
    """`shared.config` as the handlers import it (loading a handler puts `shared` on the path)."""
    handler("ws/connect")
    return sys.modules["shared.config"]


@pytest.fixture
def architect_sandbox(monkeypatch):
    """The variables `arc sandbox` gives a function, and none of the project's own."""
    for name in PROJECT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARC_SANDBOX", json.dumps({"cwd": "/app", "ports": PORTS, "version": "9.0.0"}))
    monkeypatch.setenv("ARC_APP_NAME", "mywsapp")
    monkeypatch.setenv("ARC_ENV", "testing")
    monkeypatch.setenv("ARC_WSS_URL", f"ws://localhost:{PORTS['http']}")
    monkeypatch.setenv("AWS_REGION", "us-west-2")


ARCHITECT_CONTEXT = {  # exactly the keys Architect's sandbox passes to a Python handler
    "aws_request_id": "R1kmxc2VNjMCFIA=",
    "function_name": "sandbox-connect",
    "function_version": "$LATEST",
    "invoked_function_arn": "sandbox",
    "memory_limit_in_mb": 256,
}


def test_a_handler_accepts_architects_dict_context(aws, handler):
    """Powertools' inject_lambda_context reads `context.function_name`; a dict has no such attribute."""
    assert handler("ws/connect")(connect_event(), dict(ARCHITECT_CONTEXT)) == {"statusCode": 200}
    assert list(rows(aws)) == ["R1kmxc2VNjMCFIA="]


def test_the_adapted_context_has_lambdas_attributes(handler):
    handler("ws/connect")
    adapted = sys.modules["shared.lambda_context"].from_dict(ARCHITECT_CONTEXT)
    assert (adapted.function_name, adapted.aws_request_id, adapted.memory_limit_in_mb) == ("sandbox-connect", "R1kmxc2VNjMCFIA=", 256)
    assert 0 < adapted.get_remaining_time_in_millis() <= 10_000


def test_under_arc_sandbox_the_contract_comes_from_its_variables(architect_sandbox, config):
    assert config.region() == "us-west-2"
    assert config.table_name("connections") == "mywsapp-staging-connections"
    assert config.dynamodb_endpoint() == "http://localhost:43002"
    assert config.management_endpoint() == "http://localhost:43003/_arc/ws"
    assert config.allowed_origins() == {"http://localhost:43001", "http://127.0.0.1:43001"}


@pytest.mark.parametrize(
    "variable, value, read, expected",
    [
        ("ARC_TABLE_CONNECTIONS", "mine", lambda c: c.table_name("connections"), "mine"),
        ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9", lambda c: c.dynamodb_endpoint(), "http://127.0.0.1:9"),
        ("ARC_ALLOWED_ORIGINS", "https://chat.example.com", lambda c: c.allowed_origins(), {"https://chat.example.com"}),
        ("ARC_ALLOWED_ORIGINS", "", lambda c: c.allowed_origins(), frozenset()),
        ("AWS_DEFAULT_REGION", "eu-west-1", lambda c: c.region(), "eu-west-1"),
        ("ARC_WSS_URL", "ws://127.0.0.1:3333", lambda c: c.management_endpoint(), "http://127.0.0.1:3333"),
    ],
)
def test_the_projects_own_variables_win_even_under_arc_sandbox(architect_sandbox, config, monkeypatch, variable, value, read, expected):
    monkeypatch.setenv(variable, value)
    assert read(config) == expected


def test_without_architect_or_the_project_variables_a_table_is_a_config_error(config, monkeypatch):
    for name in PROJECT_VARIABLES + ("ARC_APP_NAME",):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(config.ConfigError, match="ARC_TABLE_CONNECTIONS is not set"):
        config.table_name("connections")
    assert config.allowed_origins() == frozenset()


@pytest.fixture
def arc_deploy(monkeypatch, config):
    """`arc deploy`'s variables, and moto's SSM holding the stack's table parameters."""
    for name in PROJECT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "ARC_STACK_NAME": "MywsappStaging",
        "ARC_APP_NAME": "mywsapp",
        "ARC_ENV": "staging",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "ARC_WSS_URL": "wss://abc123.execute-api.us-east-1.amazonaws.com/staging",
    }.items():
        monkeypatch.setenv(name, value)
    architect = sys.modules["shared.architect"]
    monkeypatch.setattr(architect, "_deployed", None)  # a cold start
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def test_under_arc_deploy_table_names_come_from_ssm_once_per_cold_start(arc_deploy, config):
    # 12 parameters: GetParametersByPath returns at most 10 a page, so the last ones need pagination
    for index in range(11):
        arc_deploy.put_parameter(Name=f"/MywsappStaging/tables/other{index:02d}", Value=f"Other{index}", Type="String")
    arc_deploy.put_parameter(Name="/MywsappStaging/tables/connections", Value="MywsappStaging-ConnectionsTable-X1", Type="String")
    assert config.table_name("connections") == "MywsappStaging-ConnectionsTable-X1"
    assert config.table_name("other10") == "Other10"
    arc_deploy.delete_parameter(Name="/MywsappStaging/tables/connections")
    assert config.table_name("connections") == "MywsappStaging-ConnectionsTable-X1"  # not read again


def test_under_arc_deploy_queue_urls_come_from_ssm_with_the_tables(arc_deploy, config):
    """architect/functions `src/discovery`: every `/<stack>/<type>/<name>` parameter, read recursively;
    queues hold their URL (architect/functions `src/queues` publishes with it as `QueueUrl`)."""
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/MywsappStaging-DeliverQueue-X1"
    arc_deploy.put_parameter(Name="/MywsappStaging/queues/deliver", Value=url, Type="String")
    arc_deploy.put_parameter(Name="/MywsappStaging/tables/connections", Value="MywsappStaging-ConnectionsTable-X1", Type="String")
    assert config.queue_url("deliver") == url
    assert config.table_name("connections") == "MywsappStaging-ConnectionsTable-X1"


def test_under_arc_sandbox_a_queue_has_no_url_and_publishes_to_its_events_port(architect_sandbox, config):
    """Architect's sandbox has no SQS (architect/sandbox `src/events/_listener.js`: POST /queues)."""
    assert config.queue_url("deliver") is None


def test_under_arc_deploy_the_management_api_is_the_wss_url_and_no_origin_is_allowed_unless_set(arc_deploy, config):
    assert config.management_endpoint() == "https://abc123.execute-api.us-east-1.amazonaws.com/staging"
    assert config.allowed_origins() == frozenset()


def test_under_arc_deploy_a_table_missing_from_ssm_is_a_config_error(arc_deploy, config):
    with pytest.raises(config.ConfigError, match="ARC_TABLE_CONNECTIONS"):
        config.table_name("connections")
