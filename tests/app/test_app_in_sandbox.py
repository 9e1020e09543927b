"""The echo-chat app itself, served by the real sandbox and driven over real sockets, through
devkit.testing's `sandbox` fixture (each test starts with an empty connections table)."""

import re

import pytest
import websocket

from devkit.testing import ReceiveTimeout
from tests.app.support import ISO_MILLIS


def test_the_page_carries_its_socket_url_and_a_content_security_policy(sandbox):
    page = sandbox.get("/")
    assert page.status == 200
    assert f'data-wss-url="{sandbox.ws_url}"' in page.text
    socket_origin = "/".join(sandbox.ws_url.split("/")[:3])  # wss://host, without a deployed stage's path
    assert f"connect-src {socket_origin};" in page.headers["Content-Security-Policy"]
    assert all(sandbox.get(f"/_static/{name}").status == 200 for name in ("index.mjs", "backoff.mjs", "seen.mjs", "index.css"))


def test_a_message_is_echoed_with_a_timestamp(sandbox):
    with sandbox.connect() as ws:
        ws.send_json({"text": "hello <script>"})
        assert re.fullmatch(ISO_MILLIS + " - Echoing hello <script>", ws.receive_json()["text"])


@pytest.mark.parametrize("body, problem", [("not json", "not valid JSON"), ('{"text": ""}', "is empty"), ("{}", 'no "text"')])
def test_bad_input_gets_an_error_reply_and_the_socket_stays_open(sandbox, body, problem):
    with sandbox.connect() as ws:
        ws.send_text(body)
        assert problem in ws.receive_json()["error"]
        ws.send_json({"text": "still here"})
        assert "Echoing still here" in ws.receive_json()["text"]


def test_connect_stores_the_connection_and_disconnect_deletes_it(sandbox):
    connections = sandbox.table("connections")
    with sandbox.connect():
        [row] = connections.scan()["Items"]
        assert row["expires"] > row["connectedAt"]
    sandbox.wait_for(lambda: not connections.scan()["Items"], what="$disconnect to delete the row")


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:1", "{origin}.evil.example"])
def test_a_page_from_another_origin_is_refused_with_403(sandbox, origin):
    """A look-alike of the page's own origin (`http://localhost:PORT.evil.example`) included."""
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        sandbox.connect(origin=origin.format(origin=sandbox.origin))
    assert refused.value.status_code == 403


def test_a_refused_socket_stores_no_row(sandbox):
    with pytest.raises(websocket.WebSocketBadStatusException):
        sandbox.connect(origin=sandbox.origin + ".evil.example")  # a look-alike of the page's own origin
    assert sandbox.table("connections").scan()["Items"] == []


def test_broadcast_reaches_everyone_exactly_once(sandbox):
    """Through the deliver queue: at least once on AWS, so each broadcast carries one id (the page shows an id once)."""
    sockets = [sandbox.connect() for _ in range(3)]
    sockets[0].send_json({"action": "broadcast", "text": "hi all"})
    broadcast_ids = set()
    for ws in sockets:
        reply = ws.receive_json(timeout=15)
        assert re.fullmatch(ISO_MILLIS + " - hi all", reply["text"]) and reply["broadcast"] is True
        broadcast_ids.add(reply["id"])
    assert len(broadcast_ids) == 1, "one broadcast, one id"
    for ws in sockets:
        with pytest.raises(ReceiveTimeout):
            ws.receive_json(timeout=0.3)


def test_broadcast_deletes_the_rows_of_gone_connections(sandbox):
    """A row whose $disconnect never ran is deleted when the Management API answers 410 for it."""
    connections = sandbox.table("connections")
    stale = [f"staleStaleStal{i}=" for i in range(2)]
    for connection_id in stale:
        connections.put_item(Item={"connectionId": connection_id, "expires": 2**31})
    with sandbox.connect() as ws:
        ws.send_json({"action": "broadcast", "text": "anyone?"})
        assert ws.receive_json()["broadcast"] is True
        sandbox.wait_for(lambda: not {row["connectionId"] for row in connections.scan()["Items"]} & set(stale), what="the stale rows to be deleted")
