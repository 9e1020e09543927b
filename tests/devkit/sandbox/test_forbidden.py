"""With no `$default` route, an unmatched message gets API Gateway's Forbidden frame.

Architect's manifest always declares `$default`, so this runs the sandbox in-process on the faults
fixture with that route taken out of the inventory.
"""

import asyncio
import dataclasses
import json
import threading

import websocket

from devkit import manifest
from devkit.sandbox.log import Log
from devkit.sandbox.server import Sandbox
from tests.support.sandbox import copy_fixture


def test_an_unmatched_message_without_default_gets_forbidden_and_the_socket_stays_open(tmp_path):
    app = manifest.load(copy_fixture("faults", tmp_path) / "app.arc")
    app = dataclasses.replace(app, functions=tuple(f for f in app.functions if f.route_key != "$default"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    sandbox = Sandbox(app, port=0, log=Log(quiet=True), reload=False)
    asyncio.run_coroutine_threadsafe(sandbox.start(), loop).result(30)
    try:
        ws = websocket.create_connection(f"ws://127.0.0.1:{sandbox.port}/", timeout=10)
        ws.send('{"action": "nothing-here"}')
        forbidden = json.loads(ws.recv())
        assert forbidden["message"] == "Forbidden" and forbidden["connectionId"].endswith("=")
        assert len(forbidden["requestId"]) == 16
        ws.send('{"action": "record"}')
        assert json.loads(ws.recv())["route"] == "record", "the socket stays open and custom routes still work"
        ws.close()
    finally:
        asyncio.run_coroutine_threadsafe(sandbox.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
