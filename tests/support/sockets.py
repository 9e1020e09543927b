"""Raw WebSocket helpers for the kit's tests (websocket-client): open, ask, read a close, probe a handshake."""

import base64
import http.client
import json
import os

import websocket


def handshake_status(sandbox, query="") -> int:
    """The HTTP status answering a raw WebSocket upgrade request."""
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    connection.request(
        "GET",
        "/" + query,
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        },
    )
    status = connection.getresponse().status
    connection.close()
    return status


def read_close(ws) -> tuple[int, str]:
    """Read frames until the server's close frame; its code and reason."""
    while True:
        opcode, frame = ws.recv_data_frame(True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(frame.data[:2], "big"), frame.data[2:].decode()


def connect(sandbox, query="", **options):
    options.setdefault("timeout", 10)
    return websocket.create_connection(sandbox.ws_url + query, **options)


def ask(ws, message) -> dict:
    ws.send(message if isinstance(message, str) else json.dumps(message))
    return json.loads(ws.recv())


def connection_id(ws) -> str:
    return ask(ws, {"do": "echo"})["event"]["requestContext"]["connectionId"]
