"""Who is connected: the app's `$connect` authorizer and tokens, in the real sandbox over real sockets.

A handshake without its identity source gets 401 from API Gateway with no invocation (botocore
apigatewayv2 `CreateAuthorizerRequest.IdentitySource`); a token the authorizer refuses raises
`Unauthorized`, which API Gateway answers with 401 (the API Gateway guide, "Control access to WebSocket
APIs with AWS Lambda REQUEST authorizers"). Either way `$connect` never runs, so no row is stored.
"""

import json
import re
import time

import jwt
import pytest
import websocket

from tests.app.support import ISO_MILLIS, SIGNING_KEY, TABLE, protocols
from tests.support.sandbox import app_fixture, holds, wait_until

chat = app_fixture("module")
NOT_INVOKED = "identity source route.request.header.Sec-WebSocket-Protocol missing or empty; not invoked"


def open_socket(chat, offered=None, **options):
    return websocket.create_connection(
        chat.ws_url,
        timeout=10,
        origin=f"http://localhost:{chat.port}",
        subprotocols=offered if offered is not None else protocols(chat.page_token()),
        **options,
    )


def refused_status(chat, offered=None, header=None) -> int:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        if header is not None:
            open_socket(chat, offered=[], header=header)
        else:
            open_socket(chat, offered=offered)
    return refused.value.status_code


def signed(chat, **changes) -> str:
    """A token signed with the sandbox's own key: a valid one, with `changes` to its claims."""
    now = int(time.time())
    claims = {"sub": "guest-0badc0de", "name": "guest-0badc0de", "aud": f"ws://localhost:{chat.port}", "iat": now, "exp": now + 300} | changes
    return jwt.encode(claims, chat.secret(SIGNING_KEY), algorithm="HS256")


def flipped(token: str) -> str:
    """The token with the first character of its signature changed (a whole 6-bit group, never padding)."""
    head, signature = token.rsplit(".", 1)
    return f"{head}.{'B' if signature[0] == 'A' else 'A'}{signature[1:]}"


def test_a_raw_client_without_the_token_gets_401_and_the_authorizer_is_never_invoked(chat):
    rows = chat.connection_ids(TABLE)
    invocations = chat.output().count("authorizer-authorize |")
    assert refused_status(chat, offered=[]) == 401
    chat.wait_for_output(NOT_INVOKED)
    holds(lambda: chat.output().count("authorizer-authorize |") == invocations, 0.5, "no authorizer invocation")
    assert chat.connection_ids(TABLE) == rows


@pytest.mark.parametrize("case", ["empty", "only the token", "flipped byte", "expired", "other audience", "4 KB", "two tokens", "unsigned", "two headers"])
def test_each_bad_token_is_refused_with_401_and_nothing_is_stored(chat, case):
    good = chat.page_token()
    offered, header = {
        "empty": (["chat", ""], None),
        "only the token": ([good], None),
        "flipped byte": (protocols(flipped(good)), None),
        "expired": (protocols(signed(chat, iat=int(time.time()) - 900, exp=int(time.time()) - 60)), None),
        "other audience": (protocols(signed(chat, aud="wss://other.example/production")), None),
        "4 KB": (protocols(signed(chat, pad="x" * 3 * 1024)), None),  # over the app's 2,048, under the parser's limit
        "two tokens": (["chat", good, good], None),
        "unsigned": (
            protocols(
                jwt.encode(
                    {
                        "sub": "guest-00000000",
                        "name": "guest-00000000",
                        "aud": f"ws://localhost:{chat.port}",
                        "iat": int(time.time()),
                        "exp": int(time.time()) + 60,
                    },
                    "",
                    algorithm="none",
                )
            ),
            None,
        ),
        "two headers": (None, [f"Sec-WebSocket-Protocol: chat, {good}", f"Sec-WebSocket-Protocol: chat, {good}"]),
    }[case]
    rows = chat.connection_ids(TABLE)
    assert refused_status(chat, offered=offered, header=header) == 401
    assert chat.connection_ids(TABLE) == rows


def test_a_10_kb_token_is_refused_before_anything_runs(chat):
    """AWS documents no header size limit for WebSocket handshakes (its REST quota is 10,240 bytes of
    request line and headers together); the sandbox's HTTP parser refuses a header line over 8,190 bytes
    with 400, so neither the authorizer nor `$connect` runs, and nothing is stored."""
    rows = chat.connection_ids(TABLE)
    invocations = chat.output().count("authorizer-authorize |")
    assert refused_status(chat, offered=protocols(signed(chat, pad="x" * 10 * 1024))) == 400
    assert chat.connection_ids(TABLE) == rows and chat.output().count("authorizer-authorize |") == invocations


def test_a_token_signed_here_for_this_socket_is_accepted(chat):
    """The test's own token construction is sound: the refusals above are the changes', not its."""
    ws = open_socket(chat, offered=protocols(signed(chat)))
    assert ws.getsubprotocol() == "chat"
    ws.close()


def test_connect_names_chat_and_never_echoes_the_token(chat):
    ws = open_socket(chat)
    assert ws.getsubprotocol() == "chat"
    ws.close()


def test_echo_and_broadcast_name_their_sender(chat):
    token, name = chat.page_token(), None
    claims = jwt.decode(token, options={"verify_signature": False})
    name = claims["name"]
    sender = open_socket(chat, offered=protocols(token))
    other = open_socket(chat)
    sender.send(json.dumps({"text": "hello"}))
    echo = json.loads(sender.recv())
    assert re.fullmatch(ISO_MILLIS + " - Echoing hello", echo["text"]) and echo["from"] == name
    sender.send(json.dumps({"action": "broadcast", "text": "hi all"}))
    for ws in (sender, other):
        reply = wait_until(lambda ws=ws: json.loads(ws.recv()), what="the broadcast")
        assert reply["broadcast"] is True and reply["from"] == name
    sender.close()
    other.close()


def test_the_log_never_shows_a_token(chat):
    token = chat.page_token()
    open_socket(chat, offered=protocols(token)).close()
    chat.wait_for_output("allowed principalId=guest-")
    assert token.rsplit(".", 1)[1] not in chat.output()
