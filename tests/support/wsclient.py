"""A minimal WebSocket client on asyncio streams: light enough for thousands of sockets, and low-level
enough to misbehave on purpose (half frames, TCP resets, never reading).

Only what the tests need: the RFC 6455 handshake, masked client frames, and reading server frames.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
# port -> the `Sec-WebSocket-Protocol` a page on that port offers (`chat, <its token>`), registered by
# the fixture that starts the starter app (its `$connect` authorizer refuses a handshake without one).
PAGE_PROTOCOLS: dict[int, str] = {}


class Refused(Exception):
    """The handshake was answered with a status other than 101."""

    def __init__(self, status: int):
        super().__init__(f"handshake refused with {status}")
        self.status = status


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One masked client frame."""
    mask = os.urandom(4)
    length = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack(">H", length)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if length < 4096 else _mask_fast(payload, mask)
    return head + mask + masked


def _mask_fast(payload: bytes, mask: bytes) -> bytes:
    key = int.from_bytes((mask * (len(payload) // 4 + 1))[: len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(len(payload), "big")


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, path: str = "/", headers: dict[str, str] | None = None, receive_buffer: int | None = None, timeout: float = 15) -> Client:
        """Open a socket to 127.0.0.1:port and upgrade it; raises Refused on a non-101 answer."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if receive_buffer:  # before connecting, so the advertised window stays small
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), timeout)
            reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
        except BaseException:
            sock.close()
            raise
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        headers = dict(headers or {})
        if port in PAGE_PROTOCOLS and not any(k.lower() == "sec-websocket-protocol" for k in headers):
            headers["Sec-WebSocket-Protocol"] = PAGE_PROTOCOLS[port]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except BaseException:
            writer.transport.abort()
            raise
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            writer.transport.abort()
            raise Refused(status)
        return cls(reader, writer)

    async def send_text(self, text: str | dict) -> None:
        self.writer.write(frame(TEXT, (json.dumps(text) if isinstance(text, dict) else text).encode()))
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def receive(self, timeout: float = 15) -> tuple[int, bytes]:
        """The next data or close frame as (opcode, payload); pings are answered."""
        while True:
            first, second = await asyncio.wait_for(self.reader.readexactly(2), timeout)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", await self.reader.readexactly(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", await self.reader.readexactly(8))[0]
            payload = await asyncio.wait_for(self.reader.readexactly(length), timeout)
            opcode = first & 0x0F
            if opcode == PING:
                await self.send_raw(frame(PONG, payload))
                continue
            return opcode, payload

    async def receive_json(self, timeout: float = 15) -> dict:
        opcode, payload = await self.receive(timeout)
        if opcode == CLOSE:
            raise ConnectionError(f"closed with {close_code(payload)}")
        return json.loads(payload)

    async def ask(self, message: str | dict, timeout: float = 15) -> dict:
        await self.send_text(message)
        return await self.receive_json(timeout)

    async def close(self, code: int = 1000, timeout: float = 10) -> int | None:
        """The clean way: a close frame, then wait for the server's close frame; its code."""
        try:
            await self.send_raw(frame(CLOSE, struct.pack(">H", code)))
            while True:
                opcode, payload = await self.receive(timeout)
                if opcode == CLOSE:
                    return close_code(payload)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            return None
        finally:
            self.writer.close()

    def reset(self) -> None:
        """Vanish with a TCP RST: SO_LINGER 0, then close."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    def abort(self) -> None:
        self.writer.transport.abort()


def close_code(payload: bytes) -> int:
    return struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005


async def connect_retrying(port: int, attempts: int = 50, **options) -> Client:
    """Connect, waiting out 429 (the new-connection rate limit) a bounded number of times."""
    for attempt in range(attempts):
        try:
            return await Client.connect(port, **options)
        except Refused as refused:
            if refused.status != 429 or attempt == attempts - 1:
                raise
            await asyncio.sleep(0.05 + 0.01 * attempt)
    raise AssertionError("unreachable")
