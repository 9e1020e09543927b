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
import zlib

import aiohttp
import pytest
import websocket

from tests.support.sandbox import fixture_app

FRAME = 32 * 1024
MESSAGE = 128 * 1024


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


@pytest.mark.parametrize(
    "size, outcome",
    [
        (FRAME, ("reply", "$default")),
        (FRAME + 1, ("closed", 1009)),
        (127 * 1024, ("closed", 1009)),  # under the 128 KB message limit, a few hundred bytes on the wire
    ],
)
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


def compressed_frames(text: str, inflated_per_frame: int) -> list[websocket.ABNF]:
    """`text` as one permessage-deflate message (RFC 7692 7.2.1): RSV1 on the first frame, each frame a
    flushed deflate block inflating to at most `inflated_per_frame` bytes, the last one's 00 00 ff ff
    removed."""
    deflater, data = zlib.compressobj(wbits=-zlib.MAX_WBITS), text.encode()
    chunks = [data[i : i + inflated_per_frame] for i in range(0, len(data), inflated_per_frame)]
    frames = []
    for index, chunk in enumerate(chunks):
        payload = deflater.compress(chunk) + deflater.flush(zlib.Z_SYNC_FLUSH)
        last = index == len(chunks) - 1
        frames.append(
            websocket.ABNF(
                fin=int(last),
                rsv1=int(index == 0),
                mask_value=1,
                data=payload[:-4] if last else payload,
                opcode=websocket.ABNF.OPCODE_TEXT if index == 0 else websocket.ABNF.OPCODE_CONT,
            )
        )
    return frames


def read_frame(ws) -> tuple[int, bytes]:
    """The next frame's opcode and payload, inflated when RSV1 says it is compressed (websocket-client
    itself refuses RSV1 frames). One message per frame: the sandbox's small replies are not fragmented."""

    def exactly(count: int) -> bytes:
        data = b""
        while len(data) < count:
            data += ws.sock.recv(count - len(data)) or b""  # "" only if the sandbox hung up without a close
        return data

    first, second = exactly(2)
    length = second & 0x7F
    if length >= 126:
        length = int.from_bytes(exactly(2 if length == 126 else 8), "big")
    payload = exactly(length)
    if first & 0x40:
        payload = zlib.decompressobj(-zlib.MAX_WBITS).decompress(payload + b"\x00\x00\xff\xff")
    return first & 0x0F, payload


@pytest.mark.parametrize("size, outcome", [(MESSAGE, "reply"), (MESSAGE + 1, 1009)])
def test_a_compressed_message_is_limited_to_128_kb_inflated_like_a_plain_one(sandbox, size, outcome):
    """A message of 128 KB passes and one of 128 KB + 1 closes with 1009, whether sent plain or
    compressed; here compressed, in frames of 16 KB inflated (each under the frame limit)."""
    head = json.dumps({"do": "pid", "pad": ""})
    text = json.dumps({"do": "pid", "pad": "a" * (size - len(head))})
    assert len(text) == size
    ws = websocket.create_connection(sandbox.ws_url, timeout=10, header=["Sec-WebSocket-Extensions: permessage-deflate"])
    try:
        assert "permessage-deflate" in ws.getheaders()["sec-websocket-extensions"]  # the sandbox agreed
        for frame in compressed_frames(text, 16 * 1024):
            ws.send_frame(frame)
        opcode, payload = read_frame(ws)
    finally:
        ws.sock.close()
    if opcode == websocket.ABNF.OPCODE_TEXT:
        assert "pid" in json.loads(payload)
        assert outcome == "reply"
    else:
        assert (opcode, int.from_bytes(payload[:2], "big")) == (websocket.ABNF.OPCODE_CLOSE, outcome)
