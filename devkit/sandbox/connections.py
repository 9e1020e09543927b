"""The open WebSocket connections, by connection id: what the Management API reaches."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web

from devkit.sandbox.events import Peer


@dataclass(eq=False)
class Connection:
    peer: Peer
    socket: web.WebSocketResponse
    transport: asyncio.Transport | None = None  # to cut off a client that stopped reading
    send_timeout: float = 5.0  # how long a send or close may wait for the client to read
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

        A client that stopped reading cannot take the close frame: after `send_timeout` its TCP
        connection is cut instead, so no close (and no shutdown) waits on it forever.
        """
        if self.server_close is None:
            self.server_close = (code, reason)
        try:
            await asyncio.wait_for(self.socket.close(code=code, message=reason.encode()), self.send_timeout)
        except asyncio.TimeoutError:
            self.abort()

    async def send(self, data: str | bytes) -> bool:
        """Send one message; False when the client has not read it within `send_timeout`.

        That client is cut off (its `$disconnect` reports 1006): waiting for it would hold the
        Management API request, and with it the handler that posted, until the function timed out.
        """
        try:
            if isinstance(data, bytes):
                await asyncio.wait_for(self.socket.send_bytes(data), self.send_timeout)
            else:
                await asyncio.wait_for(self.socket.send_str(data), self.send_timeout)
        except asyncio.TimeoutError:
            if self.server_close is None:
                self.server_close = (1006, "Client stopped reading")
            self.abort()
            return False
        self.touch()
        return True

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
