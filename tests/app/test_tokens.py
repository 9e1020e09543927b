"""The app's tokens, in-process under moto: the authorizer, `$connect` without one (Architect), senders."""

import json
import time

import jwt
import pytest

from tests.app.support import WSS_URL, connect_event, load_event, message_event, rows, sent_to

KEY = "k" * 64  # the secret tests/app/conftest.py puts in moto's Secrets Manager
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/testing/$connect"


def token(key=KEY, **changes) -> str:
    now = int(time.time())
    claims = {"sub": "guest-1234abcd", "name": "guest-1234abcd", "aud": WSS_URL, "iat": now, "exp": now + 60} | changes
    return jwt.encode(claims, key, algorithm="HS256")


def with_protocols(event: dict, *values: str) -> dict:
    """`event` with `Sec-WebSocket-Protocol` carrying `values` (one header line each)."""
    event["headers"]["Sec-WebSocket-Protocol"] = values[0]
    event["multiValueHeaders"]["Sec-WebSocket-Protocol"] = list(values)
    return event


def authorizer_event(*values: str) -> dict:
    event = connect_event(authorizer=None)
    event = {"type": "REQUEST", "methodArn": METHOD_ARN, **event}
    return with_protocols(event, *values) if values else event


def test_the_authorizer_allows_a_valid_token_on_its_method_arn_with_the_guests_name(aws, handler, lambda_context):
    result = handler("ws/authorize")(authorizer_event(f"chat, {token()}"), lambda_context)
    assert result == {
        "principalId": "guest-1234abcd",
        "policyDocument": {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}]},
        "context": {"name": "guest-1234abcd"},
    }


@pytest.mark.parametrize(
    "values",
    [
        (),
        ("chat",),
        ("chat, ",),
        (token(),),
        ("chat, " + token() + ", " + token(),),
        (f"chat, {token()}", f"chat, {token()}"),
        (f"chat, {token(key='x' * 64)}",),
        (f"chat, {token(exp=int(time.time()) - 1)}",),
        (f"chat, {token(aud='wss://elsewhere')}",),
        (f"chat, {token(name='<b>admin</b>')}",),
        ("chat, " + "a" * 2049,),
        ("chat, not.a.token",),
    ],
)
def test_the_authorizer_answers_unauthorized_to_every_bad_handshake(aws, handler, lambda_context, values):
    with pytest.raises(Exception, match="^Unauthorized$"):
        handler("ws/authorize")(authorizer_event(*values), lambda_context)


def test_without_an_authorizer_connect_checks_the_token_itself_and_names_chat(aws, handler, lambda_context):
    """Architect's sandbox runs no authorizer: `$connect` must refuse on its own, and store nothing."""
    assert handler("ws/connect")(with_protocols(connect_event(authorizer=None), "chat, x.y.z"), lambda_context) == {"statusCode": 401}
    assert handler("ws/connect")(connect_event(authorizer=None), lambda_context) == {"statusCode": 401}
    assert rows(aws) == {}
    accepted = handler("ws/connect")(with_protocols(connect_event(authorizer=None), f"chat, {token()}"), lambda_context)
    assert accepted == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "chat"}}
    assert list(rows(aws)) == ["R1kmxc2VNjMCFIA="]


def test_echo_names_the_sender_the_authorizer_named(aws, handler, lambda_context):
    event = message_event(json.dumps({"text": "hi"}), "senderAAAAAAAA=")
    event["requestContext"]["authorizer"] = {"principalId": "guest-1234abcd", "name": "guest-1234abcd"}
    handler("ws/default")(event, lambda_context)
    [reply] = sent_to("senderAAAAAAAA=")
    assert reply["from"] == "guest-1234abcd"


def test_the_page_carries_a_token_for_this_socket_that_the_authorizer_accepts(aws, handler, lambda_context):
    page = handler("http/get-index")(load_event("http-get"), lambda_context)["body"]
    minted = page.split('data-token="', 1)[1].split('"', 1)[0]
    claims = jwt.decode(minted, KEY, algorithms=["HS256"], audience=WSS_URL)
    assert claims["exp"] - claims["iat"] == 15 * 60 and f'data-name="{claims["name"]}"' in page
    assert handler("ws/authorize")(authorizer_event(f"chat, {minted}"), lambda_context)["principalId"] == claims["sub"]
