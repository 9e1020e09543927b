"""The `$connect` Lambda REQUEST authorizer in the real sandbox, on tests/fixtures/authorizer.

AWS sources: the API Gateway guide's "Control access to WebSocket APIs with AWS Lambda REQUEST
authorizers" (the sample input: `type`, `methodArn` ending in `/$connect`, the client's headers with
`Connection` and `Upgrade`, `multiValueHeaders`, the query in both forms, `stageVariables`,
`requestContext`; "If you attempt to connect without a valid identity value, you'll receive a 401");
botocore's apigatewayv2 model, `CreateAuthorizerRequest.IdentitySource` (a missing, null or empty
identity source: 401 "without calling the Lambda function") and `AuthorizerResultTtlInSeconds` (caching
"Supported only for HTTP API Lambda authorizers": a WebSocket authorizer runs on every upgrade);
"Output from an API Gateway Lambda authorizer" (principalId, policyDocument, a context of string, number
and boolean values, shown reaching the backend as strings); the WebSocket quotas ("AWS Lambda authorizer
result size: 8 KB"); the gateway responses AUTHORIZER_FAILURE and AUTHORIZER_CONFIGURATION_ERROR (500)
for an authorizer that fails or returns what API Gateway cannot use.
"""

import re

import pytest
import websocket

from tests.support.sandbox import RunningSandbox, copy_fixture, wait_until
from tests.support.sockets import ask

AUTHORIZER_LINE = "authorizer-authorize | authorizer invoked"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    with RunningSandbox(copy_fixture("authorizer", tmp_path_factory.mktemp("app")), args=("--no-reload",)) as sandbox:
        yield sandbox


def open_socket(sandbox, token: str | None = "allow:ana", key: str | None = "k", query: str = "", **options):
    """A socket with the `Auth` header and the `key` query parameter (either left out when None)."""
    headers = [] if token is None else [f"Auth: {token}"]
    params = "&".join(p for p in ([f"key={key}"] if key is not None else []) + ([query] if query else []))
    return websocket.create_connection(sandbox.ws_url + ("?" + params if params else ""), header=headers, timeout=10, **options)


def refused(sandbox, **kwargs) -> int:
    with pytest.raises(websocket.WebSocketBadStatusException) as error:
        open_socket(sandbox, **kwargs)
    return error.value.status_code


def authorizer_events(sandbox) -> list[dict]:
    return [
        event for path in sorted(sandbox.records.glob("authorizer-*.jsonl")) for event in sandbox.read_records("authorizer", path.stem.split("-", 1)[1] + "=")
    ]


def last_authorizer_event(sandbox, token: str) -> dict:
    return wait_until(
        lambda: next((e for e in reversed(authorizer_events(sandbox)) if e["headers"].get("Auth") == token), None), what=f"the authorizer's event for {token!r}"
    )


@pytest.mark.parametrize(
    ("token", "key", "missing"),
    [
        (None, "k", "route.request.header.Auth"),
        ("", "k", "route.request.header.Auth"),
        ("   ", "k", "route.request.header.Auth"),
        ("allow:ana", None, "route.request.querystring.key"),
        ("allow:ana", "", "route.request.querystring.key"),
    ],
)
def test_a_missing_or_empty_identity_source_is_401_and_the_authorizer_is_never_invoked(guarded, token, key, missing):
    invocations = guarded.output().count(AUTHORIZER_LINE)
    assert refused(guarded, token=token, key=key) == 401
    guarded.wait_for_output(f"401, identity source {missing} missing or empty; not invoked")
    assert guarded.output().count(AUTHORIZER_LINE) == invocations


def test_the_authorizers_event_is_api_gateways_request_shape(guarded):
    ws = open_socket(guarded, token="allow:shape", query="a=1&a=2")
    connection_id = ask(ws, {"do": "echo"})["event"]["requestContext"]["connectionId"]
    ws.close()
    event = last_authorizer_event(guarded, "allow:shape")
    assert event["type"] == "REQUEST"
    assert re.fullmatch(r"arn:aws:execute-api:us-east-1:123456789012:[a-z0-9]{10}/testing/\$connect", event["methodArn"])
    assert set(event) == {
        "type",
        "methodArn",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "stageVariables",
        "requestContext",
    }
    assert event["headers"]["Upgrade"] == "websocket" and event["headers"]["Connection"].lower() == "upgrade"
    assert event["multiValueHeaders"]["Auth"] == ["allow:shape"]
    assert {"X-Amzn-Trace-Id", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"} <= set(event["headers"])
    assert event["queryStringParameters"] == {"key": "k", "a": "2"}
    assert event["multiValueQueryStringParameters"] == {"key": ["k"], "a": ["1", "2"]}
    assert event["stageVariables"] == {}
    context = event["requestContext"]
    assert (context["routeKey"], context["eventType"], context["connectionId"]) == ("$connect", "CONNECT", connection_id)
    assert "authorizer" not in context


def test_principal_and_context_reach_connect_every_message_and_disconnect_as_strings(guarded):
    expected = {"principalId": "ana", "name": "ana", "count": "7", "admin": "false", "ratio": "1.5"}
    ws = open_socket(guarded, token="allow:ana")
    first = ask(ws, {"do": "echo"})["event"]["requestContext"]
    second = ask(ws, "not json")["event"]["requestContext"]
    connection_id = first["connectionId"]
    ws.close()
    assert first["authorizer"] == expected and second["authorizer"] == expected
    [connect] = guarded.read_records("connect", connection_id)
    assert connect["requestContext"]["authorizer"] == expected
    [disconnect] = wait_until(lambda: guarded.read_records("disconnect", connection_id), what="$disconnect's record")
    assert disconnect["requestContext"]["authorizer"] == expected


@pytest.mark.parametrize(
    ("token", "status", "why"),
    [
        ("unauthorized", 401, "the function answered Unauthorized"),
        ("deny", 403, "the policy denies execute-api:Invoke"),
        ("elsewhere", 403, "the policy does not allow execute-api:Invoke"),
        ("crash", 500, "the function failed (ValueError"),
        ("slow", 500, "the function failed (Sandbox.Timeout"),
        ("nested", 500, "unusable result: context value 'user' is not a string, number or boolean"),
        ("list", 500, "unusable result: context value 'roles' is not a string"),
        ("null", 500, "unusable result: context value 'nothing' is not a string"),
        ("malformed", 500, "unusable result: policyDocument needs Statement entries"),
        ("noprincipal", 500, "unusable result: no principalId string"),
        ("size:8193", 500, "unusable result: 8193 bytes, over the 8192-byte limit"),
    ],
)
def test_each_refusal_has_api_gateways_status_and_stores_nothing(guarded, token, status, why):
    assert refused(guarded, token=token) == status
    guarded.wait_for_output(f"{status}, {why}")
    event = last_authorizer_event(guarded, token)
    assert guarded.read_records("connect", event["requestContext"]["connectionId"]) == []  # `$connect` never ran


def test_a_result_of_exactly_8_kb_and_a_wildcard_resource_are_allowed(guarded):
    for token in ("size:8192", "star"):
        ws = open_socket(guarded, token=token)
        assert ask(ws, {"do": "echo"})["event"]["requestContext"]["authorizer"]["principalId"] == "me"
        ws.close()


def test_every_upgrade_invokes_the_authorizer_websocket_authorizers_have_no_cache(guarded):
    before = guarded.output().count(AUTHORIZER_LINE)
    for _ in range(3):
        open_socket(guarded, token="allow:again").close()
    wait_until(lambda: guarded.output().count(AUTHORIZER_LINE) == before + 3, what="three invocations")


def test_the_authorizer_runs_under_its_own_permissions(guarded):
    for token, outcome in (("get", "ok"), ("scan", "AccessDeniedException")):
        ws = open_socket(guarded, token=token)
        assert ask(ws, {"do": "echo"})["event"]["requestContext"]["authorizer"]["table"] == outcome
        ws.close()


def test_one_log_line_per_decision_and_never_the_token(guarded):
    ws = open_socket(guarded, token="allow:bo:SECRET-PART-42")
    connection_id = ask(ws, {"do": "echo"})["event"]["requestContext"]["connectionId"]
    ws.close()
    guarded.wait_for_output(f"authorizer {connection_id}: allowed principalId=bo")
    assert guarded.output().count(f"authorizer {connection_id}:") == 1
    assert "SECRET-PART-42" not in guarded.output()


def test_the_subprotocol_connect_chooses_is_echoed_after_the_authorizer_allows(guarded):
    ws = open_socket(guarded, token="allow:ana", query="protocol=chat", subprotocols=["chat", "other"])
    assert ws.getsubprotocol() == "chat"
    ws.close()


def test_a_secret_is_made_at_start_and_read_only_by_the_function_granted_it(guarded):
    """`secret <name>` under @permissions: the sandbox creates it in its embedded moto with a random value;
    a function without the grant gets AccessDeniedException (IAM's answer), and the log says so."""
    ws = open_socket(guarded, token="secret", query="peek=1")
    connection_id = ask(ws, {"do": "echo"})["event"]["requestContext"]["connectionId"]
    assert ask(ws, {"do": "echo"})["event"]["requestContext"]["authorizer"]["secret_length"] == "64"
    ws.close()
    [connect] = guarded.read_records("connect", connection_id)
    assert connect["peek"] == "AccessDeniedException"
    guarded.wait_for_output(
        "IAM denied $connect (ws-connect): secretsmanager:GetSecretValue on "
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:guarded-testing-signing-key-XXXXXX"
    )
