"""Frame-level limits on what a client sends: API Gateway's 32 KB frame, and one budget for the bytes of
unfinished messages across every socket.

aiohttp limits whole messages only, and holds each message's frames until its last one arrives: ten
thousand sockets each holding an unfinished 127 KB message would hold 1.2 GB. `FrameSizeGuard` reads the
frame headers as the bytes pass by (every byte goes on to aiohttp's parser unchanged), closes with 1009
a frame over the limit, and charges each unfinished message's bytes to a `BufferBudget` shared by all
sockets; a socket whose bytes would take the budget past its total is closed with 1013 "Try Again
Later" (RFC 6455 7.4.1). API Gateway publishes no such total (its quotas name only the 32 KB frame and
128 KB message), so this bound is the sandbox's own.
"""

from __future__ import annotations

import zlib

from aiohttp import WSCloseCode
from aiohttp.http_websocket import WebSocketError

from devkit.sandbox.aiohttp_internals import FrameParserHookResponse


class BufferBudget:
    """Bytes of unfinished client messages held across every socket, at most `total`."""

    def __init__(self, total: int):
        self.total, self.used = total, 0

    def take(self, size: int) -> bool:
        """Charge `size` bytes; False (nothing charged) when that would pass `total`."""
        if self.used + size > self.total:
            return False
        self.used += size
        return True

    def give(self, size: int) -> None:
        self.used -= size


class FrameSizeGuard:
    """Wraps aiohttp's frame parser to close with 1009 when one frame's payload exceeds `limit`, and
    with 1013 when its unfinished message's bytes would take `budget` past its total.

    aiohttp limits whole messages only; API Gateway also limits each frame (32 KB). This reads the
    frame headers as bytes pass by, and hands every byte on to the real parser unchanged. With
    permessage-deflate (`inflate=True`) a frame's size is what it inflates to, not its compressed
    bytes: the guard inflates each compressed frame with its own decompressor, stopping one byte past
    the limit. It also holds a compressed message to `message_limit` inflated bytes: aiohttp refuses a
    plain message *of* its `max_msg_size` but a compressed one only *over* it, so with the `max_msg_size`
    that lets a plain message of exactly 128 KB through, a compressed one of 128 KB + 1 would pass.
    """

    def __init__(self, parser, queue, limit: int, inflate: bool = False, budget: BufferBudget | None = None, message_limit: int | None = None):
        self.parser, self.queue, self.limit = parser, queue, limit
        self.message_limit = message_limit
        self.budget = budget or BufferBudget(1 << 62)
        self.held = 0  # bytes of the current unfinished data message, charged to `budget`
        self._data = False  # the current frame belongs to a data message (not a control frame)
        self._header = b""
        self._skip = 0  # payload bytes of the current frame still to pass
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS) if inflate else None
        self._compressed_message = False  # the current data message was sent compressed (RSV1)
        self._inflating = False  # the current frame's payload goes through the inflater
        self._inflated = 0  # bytes the current frame has inflated to so far
        self._message_inflated = 0  # bytes the current compressed message has inflated to so far
        self._fin = False  # the current frame ends its message
        self._mask = b""
        self._offset = 0  # position in the current frame's payload (for unmasking)

    def feed_data(self, data: bytes):
        view = memoryview(data)
        position = 0
        while position < len(view):
            if self._skip:
                step = min(self._skip, len(view) - position)
                if self._data and not self._charge(step):
                    return self._overloaded()
                if self._inflating and not self._inflate(bytes(view[position : position + step])):
                    return self._inflated_too_far()
                self._skip -= step
                position += step
                if not self._skip and self._inflating and not self._end_frame():
                    return self._inflated_too_far()
                if not self._skip and self._data and self._fin:
                    self.release()
                continue
            needed = self._header_size() or 2  # the first two bytes tell the header's full size
            take = min(len(view) - position, needed - len(self._header))
            self._header += bytes(view[position : position + take])
            position += take
            needed = self._header_size() or 0
            if needed and len(self._header) >= needed:
                if not self._header[1] & 0x80:  # RFC 6455 §5.1: a server must close on an unmasked client frame
                    self.queue.set_exception(WebSocketError(WSCloseCode.PROTOCOL_ERROR, "Client frames must be masked"))
                    return True, b""
                length = self._payload_length()
                if length > self.limit:
                    return self._too_big(length)
                self._start_frame()
                self._skip = length
                self._header = b""
                if not length and self._inflating and not self._end_frame():
                    return self._inflated_too_far()
                if not length and self._data and self._fin:
                    self.release()
        return self.parser.feed_data(data)

    def release(self) -> None:
        """Give back what the unfinished message holds (it ended, or so did its socket)."""
        self.budget.give(self.held)
        self.held = 0

    def _charge(self, size: int) -> bool:
        if not self.budget.take(size):
            return False
        self.held += size
        return True

    def _overloaded(self):
        self.release()
        self.queue.set_exception(
            WebSocketError(WSCloseCode.TRY_AGAIN_LATER, f"Unfinished messages of all sockets would pass the sandbox's {self.budget.total} bytes")
        )
        return True, b""

    def _too_big(self, length: int, what: str = "Frame", limit: int | None = None):
        limit = self.limit if limit is None else limit
        self.queue.set_exception(WebSocketError(WSCloseCode.MESSAGE_TOO_BIG, f"{what} of {length} bytes exceeds {limit}"))
        return True, b""

    def _inflated_too_far(self):
        if self._inflated > self.limit:
            return self._too_big(self._inflated)
        return self._too_big(self._message_inflated, "Message", self.message_limit)

    def _start_frame(self) -> None:
        opcode, compressed = self._header[0] & 0x0F, bool(self._header[0] & 0x40)
        if opcode in (0x1, 0x2):  # a new data message; continuations (0x0) keep its compression
            self._compressed_message, self._message_inflated = compressed, 0
        self._inflating = self._inflater is not None and opcode < 0x8 and self._compressed_message
        self._fin = bool(self._header[0] & 0x80)
        self._data = opcode < 0x8
        self._mask = self._header[-4:] if self._header[1] & 0x80 else b""
        self._offset, self._inflated = 0, 0

    def _inflate(self, payload: bytes) -> bool:
        """Inflate part of the current frame; False once it has inflated past the limit."""
        if self._mask:
            payload = _unmask(payload, self._mask, self._offset)
        self._offset += len(payload)
        return self._inflate_within_limits(payload)

    def _end_frame(self) -> bool:
        """The frame is complete; a message's last frame ends its deflate block (RFC 7692 7.2.2)."""
        return self._inflate_within_limits(b"\x00\x00\xff\xff") if self._fin else True

    def _inflate_within_limits(self, payload: bytes) -> bool:
        """Inflate at most one byte past the frame's or the message's limit; False once past either."""
        assert self._inflater is not None, "only compressed frames are inflated"
        allowed = self.limit - self._inflated
        if self.message_limit is not None:
            allowed = min(allowed, self.message_limit - self._message_inflated)
        inflated = len(self._inflater.decompress(payload, allowed + 1))
        self._inflated += inflated
        self._message_inflated += inflated
        return inflated <= allowed

    def _header_size(self) -> int | None:
        if len(self._header) < 2:
            return None
        size = 2 + {126: 2, 127: 8}.get(self._header[1] & 0x7F, 0)
        return size + (4 if self._header[1] & 0x80 else 0)

    def _payload_length(self) -> int:
        length = self._header[1] & 0x7F
        if length == 126:
            return int.from_bytes(self._header[2:4], "big")
        if length == 127:
            return int.from_bytes(self._header[2:10], "big")
        return length

    def __getattr__(self, name):
        return getattr(self.parser, name)


def _unmask(payload: bytes, mask: bytes, offset: int) -> bytes:
    """RFC 6455 5.3: XOR with the 4-byte key, starting `offset` bytes into the frame's payload."""
    key = (mask[offset % 4 :] + mask[: offset % 4]) * (len(payload) // 4 + 1)
    mixed = int.from_bytes(payload, "little") ^ int.from_bytes(key[: len(payload)], "little")
    return mixed.to_bytes(len(payload), "little")


class LimitedWebSocketResponse(FrameParserHookResponse):
    """aiohttp's WebSocketResponse with API Gateway's per-frame limit (inflated size when compressed)
    and the shared budget for unfinished messages; `release()` once the socket is done."""

    def __init__(self, *, frame_bytes: int, message_bytes: int, budget: BufferBudget, **kwargs):
        super().__init__(max_msg_size=message_bytes + 1, **kwargs)  # aiohttp refuses a plain message *of* max_msg_size
        self._frame_bytes, self._message_bytes, self._budget = frame_bytes, message_bytes, budget
        self._guard: FrameSizeGuard | None = None

    def wrap_frame_parser(self, parser, queue):
        self._guard = FrameSizeGuard(parser, queue, self._frame_bytes, inflate=bool(self.compress), budget=self._budget, message_limit=self._message_bytes)
        return self._guard

    def release(self) -> None:
        """Give back what this socket's unfinished message held."""
        if self._guard is not None:
            self._guard.release()
