"""IAM in the sandbox: each function's calls are judged against the policy deploy writes as its role.

AWS sources: a denied DynamoDB call answers HTTP 400 with `__type`
`com.amazon.coral.service#AccessDeniedException` and the message "User: <assumed-role ARN> is not
authorized to perform: dynamodb:<Action> on resource: <table ARN> because no identity-based policy
allows the dynamodb:<Action> action" (the DynamoDB developer guide, "Troubleshooting access denied
errors in Amazon DynamoDB"); an explicit Deny reads "... with an explicit deny in an identity-based
policy" (the IAM user guide, "Troubleshoot access denied error messages"). A denied Management API
call is `ForbiddenException` 403 (botocore's apigatewaymanagementapi model). A failing WebSocket
integration sends `{"message": "Internal server error", ...}` (FACTS: API Gateway WebSocket errors).
"""

import pytest

from tests.support.iam import TABLE, TABLE_ARN, as_function, denied, role
from tests.support.sandbox import RunningSandbox, copy_fixture
from tests.support.sockets import ask, connect


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    return copy_fixture("permissions", tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="module")
def grants(app_dir):
    sandbox = RunningSandbox(app_dir, args=("--no-reload",))
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_an_ungranted_scan_fails_with_access_denied_the_client_gets_the_error_frame_and_the_log_says_what_to_add(grants):
    ws = connect(grants)
    reply = ask(ws, {"action": "count"})
    ws.close()
    assert reply["message"] == "Internal server error" and set(reply) == {"message", "connectionId", "requestId"}
    grants.wait_for_output("IAM denied count (ws-count): dynamodb:Scan")
    [line] = [text for text in grants.output().splitlines() if "IAM denied count" in text]
    assert line.endswith(f'dynamodb:Scan on {TABLE_ARN}; add "table things Scan" under @permissions in src/ws/count/config.arc')
    assert "AccessDeniedException" in grants.output()  # the handler's own traceback names it


def test_the_denial_is_aws_s_answer_exactly(grants):
    response = denied(lambda: as_function(grants, "dynamodb", "ws-count").scan(TableName=TABLE))
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert response["Error"]["Message"] == (
        f"User: {role('ws-count')} is not authorized to perform: dynamodb:Scan on resource: {TABLE_ARN} "
        "because no identity-based policy allows the dynamodb:Scan action"
    )


def test_granting_the_scan_makes_the_same_handler_work(app_dir, tmp_path):
    config = app_dir / "src/ws/count/config.arc"
    original = config.read_text()
    config.write_text(original + "table things Scan\n")
    sandbox = RunningSandbox(app_dir, args=("--no-reload",), log_dir=tmp_path)
    try:
        sandbox.dynamodb().put_item(TableName=TABLE, Item={"id": {"S": "one"}})
        ws = connect(sandbox)
        assert ask(ws, {"action": "count"}) == {"count": 1}
        ws.close()
        assert "IAM denied" not in sandbox.output()
    finally:
        sandbox.stop()
        config.write_text(original)


def test_an_explicit_deny_in_a_statements_file_wins_over_a_grant(grants):
    client = as_function(grants, "dynamodb", "ws-audit")
    assert client.scan(TableName=TABLE)["Count"] >= 0  # granted by its `table things Scan GetItem` line
    response = denied(lambda: client.get_item(TableName=TABLE, Key={"id": {"S": "x"}}))
    assert response["Error"]["Code"] == "AccessDeniedException"
    assert response["Error"]["Message"].endswith("dynamodb:GetItem on resource: " + TABLE_ARN + " with an explicit deny in an identity-based policy")


def test_a_denied_management_api_post_raises_forbidden_and_is_logged(grants):
    ws = connect(grants)
    connection_id = ask(ws, {"say": "who am i"})["connectionId"]  # $default may reply: the default
    response = denied(lambda: as_function(grants, "apigatewaymanagementapi", "ws-audit").post_to_connection(ConnectionId=connection_id, Data=b"x"))
    ws.close()
    assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == ("ForbiddenException", 403)
    grants.wait_for_output("IAM denied audit (ws-audit): execute-api:ManageConnections")
    assert '"manage-connections POST" under @permissions in src/ws/audit/config.arc' in grants.output()


class TestDefaults:
    """A function without `@permissions`: a WebSocket one may reply (POST only), an HTTP one only logs."""

    def test_an_undeclared_websocket_function_may_post_but_not_get_delete_or_use_tables(self, grants):
        ws = connect(grants)
        connection_id = ask(ws, {"say": "hello"})["connectionId"]
        management = as_function(grants, "apigatewaymanagementapi", "ws-default")
        management.post_to_connection(ConnectionId=connection_id, Data=b'"posted"')
        assert ws.recv() == '"posted"'
        for call in (management.get_connection, management.delete_connection):
            assert denied(lambda call=call: call(ConnectionId=connection_id))["Error"]["Code"] == "ForbiddenException"
        ws.close()
        table = denied(lambda: as_function(grants, "dynamodb", "ws-default").put_item(TableName=TABLE, Item={"id": {"S": "x"}}))
        assert table["Error"]["Code"] == "AccessDeniedException"
        grants.wait_for_output("IAM denied $default (ws-default): dynamodb:PutItem")
        assert (
            'add @permissions to src/ws/default/config.arc with the lines "table things PutItem" and "manage-connections POST" (the default it replaces)'
        ) in grants.output()

    def test_an_undeclared_http_function_may_only_log(self, grants):
        status, _, _ = grants.get("/")
        assert status == 500
        grants.wait_for_output("IAM denied GET / (http-get-index): dynamodb:Scan")
        ws = connect(grants)
        connection_id = ask(ws, {"say": "hello"})["connectionId"]
        management = as_function(grants, "apigatewaymanagementapi", "http-get-index")
        assert denied(lambda: management.post_to_connection(ConnectionId=connection_id, Data=b"x"))["Error"]["Code"] == "ForbiddenException"
        ws.close()


def test_calls_signed_with_other_keys_are_not_restricted(grants):
    """The sandbox's own set-up and TTL sweep, tests and scripts sign with the plain dummy key."""
    assert grants.dynamodb().scan(TableName=TABLE)["Count"] >= 0
    ws = connect(grants)
    connection_id = ask(ws, {"say": "hello"})["connectionId"]
    grants.management().get_connection(ConnectionId=connection_id)
    ws.close()


@pytest.mark.parametrize("args, env", [(("--no-iam",), {}), ((), {"SANDBOX_IAM": "off"})])
def test_no_iam_and_sandbox_iam_off_turn_enforcement_off_and_the_banner_says_so(app_dir, tmp_path, args, env):
    sandbox = RunningSandbox(app_dir, args=("--no-reload", *args), env=env, log_dir=tmp_path)
    try:
        assert "iam         off (--no-iam or SANDBOX_IAM=off)" in sandbox.output()
        ws = connect(sandbox)
        assert ask(ws, {"action": "count"}) == {"count": 0}
        ws.close()
    finally:
        sandbox.stop()


def test_the_banner_says_iam_is_on_by_default(grants):
    assert "iam         on: each function's config.arc @permissions" in grants.output()


def test_a_bad_sandbox_iam_value_is_a_one_line_error(app_dir, tmp_path):
    sandbox = RunningSandbox(app_dir, env={"SANDBOX_IAM": "maybe"}, log_dir=tmp_path, wait=False)
    assert sandbox.process.wait(30) == 2
    sandbox.stop()
    assert sandbox.output().strip() == "error: SANDBOX_IAM='maybe': expected on or off"
