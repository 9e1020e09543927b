"""With no `$default` route, an unmatched message gets API Gateway's Forbidden frame.

Architect's manifest always declares `$default`, so this runs the sandbox in-process on the faults
fixture with that route taken out of the inventory.
"""

import dataclasses
import json

import websocket

from devkit import manifest
from tests.support.sandbox import InProcess, copy_fixture


def test_an_unmatched_message_without_default_gets_forbidden_and_the_socket_stays_open(tmp_path):
    app = manifest.load(copy_fixture("faults", tmp_path) / "app.arc")
    app = dataclasses.replace(app, functions=tuple(f for f in app.functions if f.route_key != "$default"))
    with InProcess(app) as running:
        ws = websocket.create_connection(running.ws_url, timeout=10)
        ws.send('{"action": "nothing-here"}')
        forbidden = json.loads(ws.recv())
        assert forbidden["message"] == "Forbidden" and forbidden["connectionId"].endswith("=")
        assert len(forbidden["requestId"]) == 16
        ws.send('{"action": "record"}')
        assert json.loads(ws.recv())["route"] == "record", "the socket stays open and custom routes still work"
        ws.close()
