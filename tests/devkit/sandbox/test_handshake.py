"""A WebSocket handshake is checked before `$connect` runs, so a refused upgrade leaves no row.

Source: RFC 6455 section 4.2.1 (what a server must find in an opening handshake: `Upgrade: websocket`,
`Connection: Upgrade`, a `Sec-WebSocket-Key` that is 16 bytes in base64, `Sec-WebSocket-Version: 13`;
otherwise 400) and the API Gateway developer guide, "Working with routes for WebSocket APIs": `$connect`
runs "when a persistent connection between the client and a WebSocket API is being initiated", i.e. for
a valid upgrade. API Gateway does not document the body of its 400; the sandbox sends
`{"message": "Bad Request"}`.
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import time

import pytest
import websocket

from tests.app.support import protocols
from tests.support.sandbox import RunningSandbox, app_fixture, copy_fixture, wait_until

TABLE = "mywsapp-testing-connections"


app = app_fixture("module")


def upgrade(sandbox, **overrides) -> int:
    headers = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Origin": f"http://localhost:{sandbox.port}",
        "Sec-WebSocket-Protocol": ", ".join(protocols(sandbox.page_token())),  # the app's authorizer lets it by
    }
    for name, value in overrides.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    connection.request("GET", "/", headers=headers)
    status = connection.getresponse().status
    connection.close()
    return status


def control_rows(app, before: set[str]) -> set[str]:
    """Open a valid socket and return the rows added since `before` while it is open (then close it)."""
    client = websocket.create_connection(app.ws_url, timeout=10, origin=f"http://localhost:{app.port}", subprotocols=protocols(app.page_token()))
    try:
        return wait_until(lambda: app.connection_ids(TABLE) - before, 10, "the control row")
    finally:
        client.close()


def test_a_valid_upgrade_writes_its_row(app):
    """The control: the same request with a proper handshake runs `$connect`, which stores a row."""
    assert upgrade(app) == 101
    assert len(control_rows(app, app.connection_ids(TABLE))) == 1


@pytest.mark.parametrize(
    "overrides",
    [
        {"Sec-WebSocket-Key": None},
        {"Sec-WebSocket-Key": "c2hvcnQ="},  # 5 bytes, not 16
        {"Sec-WebSocket-Version": "12"},
        {"Sec-WebSocket-Version": None},
        {"Connection": "keep-alive"},
    ],
    ids=["no key", "short key", "version 12", "no version", "no Connection: Upgrade"],
)
def test_a_bad_handshake_is_refused_with_400_before_connect_runs(app, overrides):
    before = app.connection_ids(TABLE)
    statuses = [upgrade(app, **overrides) for _ in range(5)]
    assert statuses == [400] * 5
    app.wait_for_output("not a valid WebSocket handshake")
    # $connect would have written its row before the 400 was sent; the control's row shows the table
    # is read after that, and it is the only new one.
    assert len(control_rows(app, before)) == 1


def test_a_client_gone_before_the_upgrade_gets_its_disconnect(tmp_path):
    """`$connect` accepted, then the client left before the 101 was written: `$disconnect` undoes it."""
    sandbox = RunningSandbox(copy_fixture("faults", tmp_path), args=("--no-reload",))
    try:
        raw = socket.create_connection(("127.0.0.1", sandbox.port))
        key = base64.b64encode(os.urandom(16)).decode()
        raw.sendall(
            (
                f"GET /?sleep=0.5 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
            ).encode()
        )
        time.sleep(0.1)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        raw.close()  # reset while $connect sleeps
        [record] = wait_until(lambda: list(sandbox.records.glob("connect-*.jsonl")), 10, "$connect's record")
        connection_id = record.name[len("connect-") : -len(".jsonl")]
        wait_until(lambda: (sandbox.records / f"disconnect-{connection_id}.jsonl").exists(), 10, "$disconnect")
    finally:
        sandbox.stop()
