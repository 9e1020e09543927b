"""The floor: the least a server on aiohttp (the sandbox's own library) can do for the echo app.

No handler processes, no Management API, no DynamoDB: the same frames, answered in the server's own
event loop. `GET /` answers 200 (the readiness probe); a WebSocket on `/` gets
`{"text": "<ISO time> - Echoing <text>"}` for `{"text": ...}` and, for
`{"action": "broadcast", "text": ...}`, every open socket gets `{"text": "<ISO time> - <text>",
"broadcast": true}`. Run it with `python -m bench.floor --port P` (binds 127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime, timezone

from aiohttp import WSMsgType, web


def _timestamp() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def reply_to(body: str) -> tuple[str, dict]:
    """("echo" | "broadcast" | "error", payload) for one client frame."""
    try:
        message = json.loads(body)
        text = message["text"]
    except (ValueError, KeyError, TypeError):
        return "error", {"error": 'send JSON such as {"text": "hello"}'}
    if message.get("action") == "broadcast":
        return "broadcast", {"text": f"{_timestamp()} - {text}", "broadcast": True}
    return "echo", {"text": f"{_timestamp()} - Echoing {text}"}


def build_app() -> web.Application:
    app = web.Application()
    sockets: set[web.WebSocketResponse] = set()

    async def index(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(text="floor echo server\n")
        ws = web.WebSocketResponse(max_msg_size=128 * 1024)
        await ws.prepare(request)
        sockets.add(ws)
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                kind, payload = reply_to(message.data)
                if kind == "broadcast":
                    frame = json.dumps(payload)
                    await asyncio.gather(*(peer.send_str(frame) for peer in list(sockets)), return_exceptions=True)
                else:
                    await ws.send_str(json.dumps(payload))
        finally:
            sockets.discard(ws)
        return ws

    app.router.add_get("/", index)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    web.run_app(build_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
