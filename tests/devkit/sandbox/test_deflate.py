"""With permessage-deflate, the 32 KB frame limit applies to what a frame inflates to.

Source: the API Gateway developer guide, "Amazon API Gateway quotas ... for WebSocket APIs": "Frame
size: 32 KB" and "Message payload size: 128 KB". RFC 7692 (permessage-deflate) for the framing: the
first frame of a compressed message has RSV1 set, its continuations share the deflate stream, and the
receiver appends 00 00 ff ff to a message's last frame before inflating. AWS does not say whether the
limit counts compressed or inflated bytes; the sandbox takes the stricter reading (inflated), as the
frame handed to the integration is the inflated one.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.support.sandbox import fixture_app

FRAME = 32 * 1024


sandbox = fixture_app("faults")

def body_of(size: int) -> str:
    """An echo request of exactly `size` characters (highly compressible)."""
    head = json.dumps({"do": "echo", "pad": ""})
    return json.dumps({"do": "echo", "pad": "a" * (size - len(head))})


async def send_compressed(sandbox, text: str) -> tuple[str, object]:
    """Send `text` in one compressed frame; ("reply", route) or ("closed", close code)."""
    async with aiohttp.ClientSession() as session, session.ws_connect(sandbox.ws_url, compress=15, max_msg_size=0) as ws:
        assert ws.compress == 15  # the sandbox agreed to permessage-deflate
        await ws.send_str(text)
        message = await asyncio.wait_for(ws.receive(), 10)
        if message.type is aiohttp.WSMsgType.TEXT:
            return "reply", json.loads(message.data)["route"]
        assert message.type is aiohttp.WSMsgType.CLOSE
        return "closed", message.data


@pytest.mark.parametrize("size, outcome", [
    (FRAME, ("reply", "$default")),
    (FRAME + 1, ("closed", 1009)),
    (127 * 1024, ("closed", 1009)),  # under the 128 KB message limit, a few hundred bytes on the wire
])
def test_a_compressed_frame_is_limited_by_its_inflated_size(sandbox, size, outcome):
    text = body_of(size)
    assert len(text) == size
    assert asyncio.run(send_compressed(sandbox, text)) == outcome


def test_the_inflater_follows_the_stream_across_messages(sandbox):
    """Context takeover: later messages refer back to earlier ones; each is still measured right."""
    async def several() -> list:
        async with aiohttp.ClientSession() as session, session.ws_connect(sandbox.ws_url, compress=15) as ws:
            routes = []
            for size in (1000, FRAME, 2000, FRAME):
                await ws.send_str(body_of(size))
                routes.append(json.loads((await asyncio.wait_for(ws.receive(), 10)).data)["route"])
            await ws.send_str(body_of(FRAME + 1))
            closing = await asyncio.wait_for(ws.receive(), 10)
            return routes + [closing.type, closing.data]
    assert asyncio.run(several()) == ["$default"] * 4 + [aiohttp.WSMsgType.CLOSE, 1009]
