"""API Gateway's WebSocket API: `$connect` before the upgrade, route selection, limits, `$disconnect`.

The rules (AWS's, checked by tests/devkit/sandbox/test_websocket_api.py):
- `$connect` runs before the upgrade: 2xx upgrades; any other status refuses the handshake with that
  status; an exception, timeout or missing `statusCode` refuses with 502.
- A text message goes to the route named by `$request.body.action`, else `$default`; with no `$default`
  the client gets a `Forbidden` frame. A failing handler sends an `Internal server error` frame; one
  still running after the integration timeout (29 s) an `Endpoint request timed out` frame, and runs
  on. The socket stays open. Binary frames close the socket with 1003.
- Over the frame or message size limit: close 1009; an unmasked client frame: close 1002 (RFC 6455
  §5.1). Idle or too old: close 1001 "Going away". A close frame without a status: 1005.
- A socket with `connection_in_flight` messages waiting or running is not read until one is done;
  a function's full queue throttles (devkit/sandbox/workers.py): the client gets `Internal server error`.
- A ping is answered with a pong, which counts toward the socket's write cap (`send_buffer_bytes`): a
  ping from a client with more than that unread closes it with 1008 (the sandbox's rule; AWS documents
  none). Unfinished messages share one budget (devkit/sandbox/frames.py): past it, close 1013.
- `$disconnect` runs exactly once for every socket that was accepted, whatever ended it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.http_websocket import WebSocketError

from devkit.manifest import Function
from devkit.sandbox import events
from devkit.sandbox.authorizer import SandboxAuthorizer
from devkit.sandbox.connections import ClientBufferFull, Connection, Registry
from devkit.sandbox.frames import BufferBudget, LimitedWebSocketResponse
from devkit.sandbox.limits import Limits
from devkit.sandbox.log import Log
from devkit.sandbox.workers import Functions, IntegrationTimeout, InvocationError

GOING_AWAY = (1001, "Going away")
NOT_READING = (1008, "Client not reading")  # the sandbox's own: AWS documents no close for a client that never reads
NO_STATUS_REASON = "Client-side close frame status not set"  # AWS's disconnectReason for close code 1005


UNLIMITED_WRITES = 1 << 62  # aiohttp's writer_limit: bytes written before it waits for the client to read


class RateLimiter:
    """A token bucket: `rate` new connections per second, bursting to `rate`."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic):
        self.rate, self.clock = rate, clock
        self.tokens, self.updated = rate, clock()

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class WebSocketApi:
    def __init__(
        self,
        functions: Functions,
        routes: dict[str, Function],
        registry: Registry,
        limits: Limits,
        log: Log,
        api_id: str,
        stage: str,
        authorizer: SandboxAuthorizer | None = None,
    ):
        self.functions, self.routes, self.registry, self.authorizer = functions, routes, registry, authorizer
        self.limits, self.log, self.api_id, self.stage = limits, log, api_id, stage
        self.rate = RateLimiter(limits.new_connections_per_second)
        self.budget = BufferBudget(limits.unfinished_messages_bytes)  # every socket's unfinished messages
        self.pending: set[asyncio.Task] = set()  # $disconnect invocations still running
        self.closing: set[asyncio.Task] = set()  # closes for idleness or age still running
        self.accepting = True

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if not self.accepting:
            return web.json_response({"message": "Service Unavailable"}, status=503)
        if not self.rate.allow():
            self.log.event("WS  refused: new-connection rate limit")
            return web.json_response({"message": "Limit Exceeded"}, status=429)
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        if not web.WebSocketResponse(protocols=offered).can_prepare(request).ok:
            # API Gateway checks the handshake before `$connect`: a refused upgrade must leave no row.
            self.log.event("WS  refused: not a valid WebSocket handshake: 400")
            return web.json_response({"message": "Bad Request"}, status=400)
        now_ms = _now_ms()
        peer = events.Peer(
            connection_id=events.new_id(),
            connected_at_ms=now_ms,
            source_ip=request.remote or "127.0.0.1",
            user_agent=request.headers.get("User-Agent"),
            domain_name=request.host,
            stage=self.stage,
            api_id=self.api_id,
            server_port=request.url.port or 80,
            scheme=request.scheme,
        )
        if self.authorizer is not None:  # API Gateway runs it before `$connect`
            peer, refused = await self.authorizer.admit(request, peer, now_ms)
            if refused is not None:
                return refused
        accepted, refusal, protocols = await self._connect(request, peer, now_ms)
        if not accepted:
            return refusal
        socket = LimitedWebSocketResponse(  # AWS allows a message of 128 KB exactly, plain or compressed
            frame_bytes=self.limits.frame_bytes,
            message_bytes=self.limits.message_bytes,
            budget=self.budget,
            protocols=protocols,
            autoping=False,  # pongs go through _receive_until_closed, under the write cap
            writer_limit=UNLIMITED_WRITES,  # never wait for a slow reader: Connection caps what is queued instead
        )
        connection = Connection(peer, socket, request.transport, self.limits.send_buffer_bytes, self.limits.frame_bytes)
        try:
            await socket.prepare(request)
        except BaseException:  # the client left between `$connect` and the upgrade: undo what `$connect` did
            connection.server_close = (1006, "")
            self._schedule_disconnect(connection)
            raise
        self.registry.add(connection)
        self.log.event(f"WS  $connect {peer.connection_id} accepted")
        try:
            await self._receive_until_closed(connection)
        finally:
            socket.release()
            self.registry.remove(connection)
            self._schedule_disconnect(connection)
        return socket

    def _schedule_disconnect(self, connection: Connection) -> None:
        code, reason = _close_status(connection)
        task = asyncio.create_task(self._disconnect(connection, code, reason))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _connect(self, request, peer, now_ms):
        """Run `$connect`: (accepted, refusal response, subprotocols to accept)."""
        function = self.routes.get("$connect")
        if function is None:
            return True, None, ()
        request_id = events.new_id()
        event = events.ws_connect(peer, list(request.headers.items()), list(request.query.items()), request_id, now_ms)
        try:
            result = await self.functions.invoke_within(function, request_id, event, self.limits.ws_integration_timeout_seconds, may_throttle=False)
        except (InvocationError, IntegrationTimeout) as error:
            self.log.info(f"WS  $connect {peer.connection_id} failed ({error}): 502 requestId={request_id}")
            return False, web.json_response({"message": "Internal server error"}, status=502), ()
        status = result.get("statusCode") if isinstance(result, dict) else None
        if not isinstance(status, int) or isinstance(status, bool):
            self.log.event(f"WS  $connect {peer.connection_id}: the handler returned no statusCode: 502")
            return False, web.json_response({"message": "Internal server error"}, status=502), ()
        if not 200 <= status < 300:
            self.log.event(f"WS  $connect {peer.connection_id} refused with {status}")
            body = result.get("body") if isinstance(result.get("body"), str) else None
            headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
            return False, web.Response(status=status, text=body, headers=headers), ()
        headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        protocol = headers.get("sec-websocket-protocol")
        return True, None, (protocol,) if isinstance(protocol, str) else ()

    async def _receive_until_closed(self, connection: Connection) -> None:
        socket = connection.socket
        while True:
            message = await socket.receive()
            if message.type is WSMsgType.TEXT:
                connection.touch()
                if len(connection.tasks) >= self.limits.connection_in_flight:
                    # Back-pressure: stop reading this socket until one of its messages is done, so
                    # aiohttp pauses the transport and a flooding client waits on its own TCP window.
                    await asyncio.wait(set(connection.tasks), return_when=asyncio.FIRST_COMPLETED)
                task = asyncio.create_task(self._route(connection, message.data))
                connection.tasks.add(task)
                task.add_done_callback(connection.tasks.discard)
            elif message.type is WSMsgType.PING:
                if connection.queued_bytes() > connection.buffer_bytes:
                    # Pings from a client that reads nothing would queue pongs without end: closed as
                    # any stalled client is (a close frame, then the TCP connection cut after a wait).
                    self.log.info(
                        f"WS  {connection.id}: pings from a client that reads nothing ({connection.queued_bytes()} bytes wait unread): closed {NOT_READING[0]}"
                    )
                    await connection.close(*NOT_READING)
                    return
                await socket.pong(message.data)
            elif message.type is WSMsgType.PONG:
                pass  # an answer to nothing the sandbox sent, or a heartbeat: RFC 6455 5.5.3 allows it
            elif message.type is WSMsgType.BINARY:
                await connection.close(1003, "Binary frames are not supported")
            elif message.type is WSMsgType.CLOSE:
                connection.client_close = (message.data, message.extra or "")
            elif message.type is WSMsgType.ERROR and isinstance(message.data, WebSocketError):
                # aiohttp has closed it for breaking a rule: 1009 too big, 1007 bad UTF-8, 1002 protocol
                reason = "Message too big" if message.data.code == WSCloseCode.MESSAGE_TOO_BIG else str(message.data)
                connection.server_close = connection.server_close or (message.data.code, reason)
                return
            else:  # CLOSING, CLOSED, or the connection failed: the socket is done
                return

    def select_route(self, body: str) -> Function | None:
        """`$request.body.action` when it names a custom route, else `$default` (None if absent)."""
        try:
            action = json.loads(body).get("action")
        except (ValueError, RecursionError, AttributeError):
            action = None
        if isinstance(action, str) and not action.startswith("$") and action in self.routes:
            return self.routes[action]
        return self.routes.get("$default")

    async def _route(self, connection: Connection, body: str) -> None:
        request_id = events.new_id()
        function = self.select_route(body)
        if function is None:
            self.log.event(f"WS  message {connection.id}: no route and no $default: Forbidden")
            await self._send_error(connection, "Forbidden", request_id)
            return
        event = events.ws_message(connection.peer, function.route_key, body, events.new_id(), request_id, _now_ms())
        started = time.perf_counter()
        try:
            await self.functions.invoke_within(function, request_id, event, self.limits.ws_integration_timeout_seconds)
        except InvocationError as error:
            self.log.info(f"WS  {function.route_key} {connection.id} failed ({error}) requestId={request_id}")
            await self._send_error(connection, "Internal server error", request_id)
            return
        except IntegrationTimeout as timeout:
            self.log.info(f"WS  {function.route_key} {connection.id}: {timeout}; the function runs on requestId={request_id}")
            await self._send_error(connection, "Endpoint request timed out", request_id)
            return
        self.log.event(f"WS  {function.route_key} {connection.id} {1000 * (time.perf_counter() - started):.1f} ms")

    async def _send_error(self, connection: Connection, message: str, request_id: str) -> None:
        if connection.open:
            payload = {"message": message, "connectionId": connection.id, "requestId": request_id}
            try:
                await connection.send(json.dumps(payload))
            except (ConnectionError, ClientBufferFull):
                pass  # gone, or not reading: as on AWS, the error frame is lost

    async def _disconnect(self, connection: Connection, code: int, reason: str) -> None:
        for task in list(connection.tasks):  # messages still in flight finish first, as on AWS
            await asyncio.wait([task], timeout=connection_task_grace(self.routes))
        self.log.event(f"WS  $disconnect {connection.id} ({code}{' ' + reason if reason else ''})")
        function = self.routes.get("$disconnect")
        if function is None:
            return
        request_id = events.new_id()
        event = events.ws_disconnect(connection.peer, code, reason, request_id, _now_ms())
        try:
            await self.functions.invoke(function, request_id, event, may_throttle=False)
        except InvocationError as error:
            self.log.info(f"WS  $disconnect {connection.id} failed ({error}) requestId={request_id}")

    async def enforce_time_limits(self, now: float | None = None) -> None:
        """Close sockets idle longer than `idle_seconds` or older than `max_connection_seconds`."""
        now = time.time() if now is None else now
        for connection in self.registry.all():
            idle = now - connection.last_active
            age = now - connection.peer.connected_at_ms / 1000
            if connection.open and (idle >= self.limits.idle_seconds or age >= self.limits.max_connection_seconds):
                task = asyncio.create_task(connection.close(*GOING_AWAY))
                self.closing.add(task)  # kept until done, so it is never collected half-way
                task.add_done_callback(self.closing.discard)

    async def close_all(self) -> None:
        """Shutdown: refuse new sockets, close every open one with 1001, wait for each `$disconnect`."""
        self.accepting = False
        await asyncio.gather(*(c.close(*GOING_AWAY) for c in self.registry.all()), return_exceptions=True)
        for _ in range(100):  # the handlers' finally blocks schedule $disconnect
            if not len(self.registry):
                break
            await asyncio.sleep(0.01)
        if self.pending:
            await asyncio.wait(list(self.pending), timeout=15)


def connection_task_grace(routes: dict[str, Function]) -> float:
    """How long `$disconnect` waits for the socket's in-flight messages: the longest route timeout."""
    return max((f.timeout for f in routes.values()), default=10) + 1


def _close_status(connection: Connection) -> tuple[int, str]:
    """What API Gateway reports in `disconnectStatusCode` and `disconnectReason`."""
    if connection.server_close is not None:
        return connection.server_close
    if connection.client_close is not None:
        code, reason = connection.client_close
        return (code, reason) if code else (1005, NO_STATUS_REASON)
    return 1006, ""  # the TCP connection ended without a close frame


def _now_ms() -> int:
    return int(time.time() * 1000)
