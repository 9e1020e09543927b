"""The open WebSocket connections, by connection id: what the Management API reaches."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web

from devkit.sandbox.aiohttp_internals import send_fragmented
from devkit.sandbox.events import Peer

CLOSE_TIMEOUT_SECONDS = 5.0  # how long a close may wait for a client that stopped reading


class ClientBufferFull(Exception):
    """The client is not reading: what is queued for it is over the limit (Management API: 429)."""


@dataclass(eq=False)
class Connection:
    """One open WebSocket connection.

    Sends never wait for the client to read. What the client has not read yet stays queued in the
    transport; while that is over `buffer_bytes`, `send` refuses (as API Gateway's POST answers 429
    "the WebSocket client side buffer is full") and the connection stays open. Memory per connection
    is so bounded by `buffer_bytes` plus one message.
    """

    peer: Peer
    socket: web.WebSocketResponse
    transport: asyncio.WriteTransport | None
    buffer_bytes: int  # the most queued for the client before sends are refused (Limits.send_buffer_bytes)
    frame_bytes: int  # longer messages go out as fragments of at most this size (Limits.frame_bytes)
    last_active: float = field(default_factory=time.time)  # epoch seconds, either direction
    server_close: tuple[int, str] | None = None  # set when the sandbox closes it, with code and reason
    client_close: tuple[int, str] | None = None  # the close frame the client sent, if any
    tasks: set[asyncio.Task] = field(default_factory=set)

    @property
    def id(self) -> str:
        return self.peer.connection_id

    def touch(self) -> None:
        self.last_active = time.time()

    async def close(self, code: int, reason: str) -> None:
        """Close from the sandbox's side (idle, maximum age, DELETE, shutdown, limits).

        A client that stopped reading cannot take the close frame: after `CLOSE_TIMEOUT_SECONDS` its
        TCP connection is cut instead, so no close (and no shutdown) waits on it forever.
        """
        if self.server_close is None:
            self.server_close = (code, reason)
        try:
            await asyncio.wait_for(self.socket.close(code=code, message=reason.encode()), CLOSE_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            self.abort()

    def queued_bytes(self) -> int:
        """Bytes written for the client that it has not read yet (beyond what the kernel holds)."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    async def send(self, data: str | bytes) -> None:
        """Queue one message for the client, in fragments of `frame_bytes` when longer.

        Raises ClientBufferFull while more than `buffer_bytes` wait unread (nothing is sent), and
        ConnectionError when the connection is closing.
        """
        if self.queued_bytes() > self.buffer_bytes:
            raise ClientBufferFull(f"{self.queued_bytes()} bytes wait unread")
        payload = data if isinstance(data, bytes) else data.encode()
        if len(payload) > self.frame_bytes:
            await send_fragmented(self.socket, payload, binary=isinstance(data, bytes), fragment_bytes=self.frame_bytes)
        elif isinstance(data, bytes):
            await self.socket.send_bytes(data)
        else:
            await self.socket.send_str(data)
        self.touch()

    def abort(self) -> None:
        """Drop the TCP connection now, discarding whatever the client has not read."""
        if self.transport is not None:
            self.transport.abort()

    @property
    def open(self) -> bool:
        return self.server_close is None and not self.socket.closed


class Registry:
    def __init__(self):
        self._by_id: dict[str, Connection] = {}

    def add(self, connection: Connection) -> None:
        self._by_id[connection.id] = connection

    def remove(self, connection: Connection) -> None:
        self._by_id.pop(connection.id, None)

    def get(self, connection_id: str) -> Connection | None:
        connection = self._by_id.get(connection_id)
        return connection if connection is not None and connection.open else None

    def all(self) -> list[Connection]:
        return list(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)
