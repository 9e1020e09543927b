"""The private aiohttp parts devkit/sandbox/aiohttp_internals.py relies on still behave as it expects.

When this fails after an aiohttp upgrade, update devkit/sandbox/aiohttp_internals.py (and the pin in
requirements.txt), not the sandbox's callers.
"""

import asyncio
import threading

import websocket
from aiohttp import web

from devkit.sandbox.aiohttp_internals import FrameParserHookResponse, send_fragmented

MODULE = "devkit/sandbox/aiohttp_internals.py"


class Recording(FrameParserHookResponse):
    seen: list = []

    def wrap_frame_parser(self, parser, queue):
        Recording.seen.append((parser, queue))
        return Passthrough(parser)


class Passthrough:
    fed = 0

    def __init__(self, parser):
        self.parser = parser

    def feed_data(self, data):
        Passthrough.fed += len(data)
        return self.parser.feed_data(data)

    def __getattr__(self, name):
        return getattr(self.parser, name)


def test_the_frame_parser_hook_sees_every_byte_and_fragmented_messages_still_flow():
    ready, stop = threading.Event(), None
    port: list[int] = []

    async def echo(request):
        socket = Recording()
        await socket.prepare(request)
        async for message in socket:
            await send_fragmented(socket, message.data.encode(), binary=False, fragment_bytes=2)
        return socket

    async def serve():
        nonlocal stop
        stop = asyncio.Event()
        app = web.Application()
        app.router.add_get("/", echo)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port.append(site._server.sockets[0].getsockname()[1])
        ready.set()
        await stop.wait()
        await runner.cleanup()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        client = websocket.create_connection(f"ws://127.0.0.1:{port[0]}/", timeout=5)
        client.send("hello")
        assert client.recv() == "hello", f"messages no longer pass through the wrapped parser, or fragments are not written: see {MODULE}"
        client.close()
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
    assert Recording.seen, f"aiohttp no longer calls WebSocketResponse._post_start: update {MODULE}"
    parser, queue = Recording.seen[0]
    assert hasattr(parser, "feed_data"), f"aiohttp's protocol._payload_parser changed shape: update {MODULE}"
    assert hasattr(queue, "set_exception"), f"aiohttp's WebSocketResponse._reader changed shape: update {MODULE}"
    assert Passthrough.fed >= len("hello"), f"aiohttp no longer feeds request.protocol._payload_parser: update {MODULE}"
