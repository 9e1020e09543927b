"""The echo-chat app itself, served by the real sandbox and driven over real sockets."""

import json
import re
import time

import pytest
import websocket

from tests.support.app import ISO_MILLIS, TABLE
from tests.support.sandbox import app_fixture, wait_until

chat = app_fixture("module")


@pytest.fixture(scope="module")
def table(chat):
    return lambda: chat.connection_ids(TABLE), chat.dynamodb()


def open_socket(chat, origin=None):
    return websocket.create_connection(chat.ws_url, timeout=10, origin=origin or f"http://localhost:{chat.port}")


def test_the_page_carries_its_socket_url_and_a_content_security_policy(chat):
    status, headers, body = chat.get("/")
    assert status == 200
    assert f'data-wss-url="ws://localhost:{chat.port}"' in body.decode()
    assert f"connect-src ws://localhost:{chat.port}" in headers["Content-Security-Policy"]
    assert all(chat.get(f"/_static/{name}")[0] == 200 for name in ("index.mjs", "backoff.mjs", "seen.mjs", "index.css"))


def test_the_banner_shows_the_deliver_queue_and_its_consumer(chat):
    assert re.search(r"deliver +-> src/queues/deliver  batch 10, visibility 174 s, dead-letter queue after 5 receives", chat.output())


def test_a_message_is_echoed_with_a_timestamp(chat):
    ws = open_socket(chat)
    ws.send(json.dumps({"text": "hello <script>"}))
    reply = json.loads(ws.recv())
    ws.close()
    assert re.fullmatch(ISO_MILLIS + " - Echoing hello <script>", reply["text"])


@pytest.mark.parametrize("body, problem", [("not json", "not valid JSON"), ('{"text": ""}', "is empty"), ("{}", 'no "text"')])
def test_bad_input_gets_an_error_reply_and_the_socket_stays_open(chat, body, problem):
    ws = open_socket(chat)
    ws.send(body)
    assert problem in json.loads(ws.recv())["error"]
    ws.send(json.dumps({"text": "still here"}))
    assert "Echoing still here" in json.loads(ws.recv())["text"]
    ws.close()


def test_connect_stores_the_connection_and_disconnect_deletes_it(chat, table):
    ids, _ = table
    before = ids()
    ws = open_socket(chat)
    added = wait_until(lambda: ids() - before, what="the connection's row")
    ws.close()
    wait_until(lambda: not (added & ids()), what="the row to be deleted")


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:1"])
def test_a_page_from_another_origin_is_refused_with_403(chat, table, origin):
    ids, _ = table
    before = ids()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_socket(chat, origin=origin)
    assert refused.value.status_code == 403
    assert ids() <= before, "no row was stored (earlier tests' rows may still be leaving)"


def test_broadcast_reaches_everyone_once_and_deletes_stale_rows(chat, table):
    ids, client = table
    sockets = [open_socket(chat) for _ in range(3)]
    stale = [f"staleStaleStal{i}=" for i in range(2)]  # rows whose $disconnect never ran
    for cid in stale:
        client.put_item(TableName=TABLE, Item={"connectionId": {"S": cid}, "expires": {"N": str(int(time.time()) + 600)}})
    sockets[0].send(json.dumps({"action": "broadcast", "text": "hi all"}))
    broadcast_ids = set()
    for ws in sockets:
        reply = json.loads(ws.recv())
        assert re.fullmatch(ISO_MILLIS + " - hi all", reply["text"]) and reply["broadcast"] is True
        broadcast_ids.add(reply["id"])
        ws.settimeout(0.3)
        with pytest.raises(websocket.WebSocketTimeoutException):
            ws.recv()  # exactly once
    assert len(broadcast_ids) == 1, "one broadcast, one id"
    wait_until(lambda: not (set(stale) & ids()), 10, "the 410 answers to delete the stale rows")
    for ws in sockets:
        ws.close()
