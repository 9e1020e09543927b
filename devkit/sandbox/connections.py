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
        """Close from the sandbox's side (idle, maximum age, DELETE, shutdown, limits)."""
        if self.server_close is None:
            self.server_close = (code, reason)
        await self.socket.close(code=code, message=reason.encode())

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
