"""The only private parts of aiohttp the sandbox touches, in one place.

API Gateway limits each WebSocket frame (32 KB); aiohttp limits only whole messages. To see frame
headers, the sandbox wraps the frame parser aiohttp installs on the connection when the upgrade
completes: `WebSocketResponse._post_start` (private) sets `request.protocol._payload_parser` (private)
to a parser whose `feed_data(bytes)` takes the raw stream, and the response's `_reader` (private) is
the queue a failure is reported to.

API Gateway also splits what it sends over 32 KB into frames of at most 32 KB; aiohttp's writer sets FIN
on every frame it writes. `send_fragmented` writes the frames itself to the transport of the response's
writer (`WebSocketResponse._writer`, private), holding the writer's `_send_lock` (private), which
aiohttp holds while it compresses and writes a message. requirements.txt pins aiohttp to the minor version these were
checked against; tests/devkit/sandbox/test_aiohttp_internals.py fails, naming this module, when an
aiohttp release changes any of them.
"""

from __future__ import annotations

import struct
from typing import Any

from aiohttp import web

TEXT, BINARY, CONTINUATION, FIN = 0x1, 0x2, 0x0, 0x80


class FrameParserHookResponse(web.WebSocketResponse):
    """A WebSocketResponse whose subclass may wrap aiohttp's frame parser once the upgrade is done."""

    def wrap_frame_parser(self, parser: Any, queue: Any) -> Any:
        """Return the parser to install in place of `parser`; `queue.set_exception(...)` fails the socket."""
        return parser

    def _post_start(self, request, protocol, writer):
        super()._post_start(request, protocol, writer)
        handler = request.protocol
        handler._payload_parser = self.wrap_frame_parser(handler._payload_parser, self._reader)


async def send_fragmented(socket: web.WebSocketResponse, payload: bytes, *, binary: bool, fragment_bytes: int) -> None:
    """Send one message as uncompressed frames of at most `fragment_bytes` each (RFC 6455 §5.4).

    Raises ConnectionResetError when the socket is closing. The frames are written in one go, with no
    await between them, so no other message's frame can land inside this message.
    """
    writer = socket._writer
    if writer is None or writer.transport is None or writer.transport.is_closing():
        raise ConnectionResetError("Cannot write to closing transport")
    async with writer._send_lock:
        if writer.transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        for offset in range(0, len(payload), fragment_bytes):
            chunk = payload[offset : offset + fragment_bytes]
            opcode = (BINARY if binary else TEXT) if offset == 0 else CONTINUATION
            last = offset + fragment_bytes >= len(payload)
            writer.transport.write(_server_frame_header((FIN if last else 0) | opcode, len(chunk)) + chunk)


def _server_frame_header(first_byte: int, length: int) -> bytes:
    """A server frame's header: servers never mask (RFC 6455 §5.1)."""
    if length < 126:
        return struct.pack("!BB", first_byte, length)
    if length < 1 << 16:
        return struct.pack("!BBH", first_byte, 126, length)
    return struct.pack("!BBQ", first_byte, 127, length)
