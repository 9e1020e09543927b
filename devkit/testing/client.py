"""What a test holds: an HTTP `Response`, and a WebSocket client (`Socket`, on websocket-client) whose
failures say what was waited for, what came instead, and what the app printed meanwhile."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Any
from urllib.parse import urlencode

import websocket

DEFAULT_TIMEOUT = 5.0
LAST_LOG_LINES = 20


@dataclass
class Response:
    """An HTTP answer: `status`, `headers` (case-insensitive), `text`; `json()` decodes the body."""

    status: int
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    method: str, url: str, *, headers: dict[str, str] | None = None, json_body: Any = None, data: bytes | str | None = None, timeout: float = 10
) -> Response:
    """One HTTP request; an error status is an answer like any other, not an exception."""
    headers = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body)
        headers.setdefault("Content-Type", "application/json")
    body = data.encode() if isinstance(data, str) else data
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers, method=method), timeout=timeout) as answer:
            return Response(answer.status, answer.headers, answer.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, error.headers, error.read())


class ReceiveTimeout(AssertionError):
    """No message came on a socket within the time a test gave it."""


class SocketClosed(AssertionError):
    """The server closed the socket while a test waited for a message."""


@dataclass
class Socket:
    """A WebSocket client connected to the app. Use it as a context manager (it closes on leaving).

    `received` holds every message it has received, in order, so a failing test can show them.
    `close_code` is the code of the close frame the server sent (None until one came).
    """

    ws: websocket.WebSocket
    url: str
    log_tail: Callable[[], list[str]] = field(default=lambda: [], repr=False)
    received: list[str] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def send_text(self, text: str) -> None:
        self.ws.send(text)

    def send_json(self, message: Any) -> None:
        self.ws.send(json.dumps(message))

    def receive_text(self, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The next text message; fails after `timeout` seconds, or when the server closes the socket."""
        __tracebackhide__ = True  # pytest shows the test's line and this message, not the client's insides
        return self._receive(timeout, "a message")

    def receive_json(self, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """The next message, decoded as JSON; fails (showing the text) when it is not JSON."""
        __tracebackhide__ = True
        text = self._receive(timeout, "a JSON message")
        try:
            return json.loads(text)
        except ValueError:
            raise AssertionError(f"expected a JSON message on {self.url}, received {text!r}") from None

    def wait_closed(self, timeout: float = DEFAULT_TIMEOUT) -> int | None:
        """Read until the server's close frame (messages before it go to `received`); its code."""
        __tracebackhide__ = True
        try:
            while True:
                self._receive(timeout, "the server to close the socket")
        except SocketClosed:
            return self.close_code

    def close(self, code: int = 1000) -> None:
        """Close the socket with `code` (idempotent)."""
        if self.ws.connected:
            try:
                self.ws.close(status=code, timeout=1)
            except (OSError, websocket.WebSocketException):
                self.ws.shutdown()

    def __repr__(self) -> str:
        return f"<socket {self.url}, {len(self.received)} received>"

    def _receive(self, timeout: float, what: str) -> str:
        __tracebackhide__ = True
        if self.close_code is not None or not self.ws.connected:
            raise SocketClosed(f"waited for {what} on {self.url}, but the socket is closed (code {self.close_code}){self._context()}")
        self.ws.settimeout(timeout)
        while True:
            try:
                opcode, frame = self.ws.recv_data_frame(True)
            except websocket.WebSocketTimeoutException:
                raise ReceiveTimeout(f"waited {timeout:g} s for {what} on {self.url}; none came{self._context()}") from None
            except (OSError, websocket.WebSocketConnectionClosedException) as error:
                raise SocketClosed(f"waited for {what} on {self.url}; the connection dropped ({error}){self._context()}") from None
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self.close_code = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else 1005
                self.close_reason = frame.data[2:].decode(errors="replace")
                self.ws.shutdown()
                raise SocketClosed(
                    f"waited for {what} on {self.url}; the server closed the socket with {self.close_code} {self.close_reason!r}{self._context()}"
                )
            if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
                text = frame.data.decode("utf-8", errors="replace")
                self.received.append(text)
                return text

    def _context(self) -> str:
        before = "".join(f"\n    {m[:500]!r}" for m in self.received[-5:]) or " nothing"
        lines = self.log_tail()
        log = ("\n  the app's last log lines:\n" + "\n".join(f"    {line}" for line in lines)) if lines else ""
        return f".\n  received before:{before}{log}"


def open_socket(
    ws_url: str,
    *,
    origin: str | None,
    headers: dict[str, str] | None = None,
    query: dict | str | None = None,
    subprotocols: list[str] | None = None,
    timeout: float = 10,
    log_tail: Callable[[], list[str]] = lambda: [],
) -> Socket:
    """A connected `Socket` to `ws_url` with this handshake (no Origin header when `origin` is None); raises websocket.WebSocketBadStatusException
    (its `status_code` says which) when the app refuses it."""
    if query:
        ws_url = ws_url + ("&" if "?" in ws_url else "?") + (query if isinstance(query, str) else urlencode(query, doseq=True))
    header = [f"{name}: {value}" for name, value in (headers or {}).items()]
    ws = websocket.create_connection(
        ws_url, timeout=timeout, origin=origin, suppress_origin=origin is None, header=header, subprotocols=subprotocols, skip_utf8_validation=True
    )
    return Socket(ws, ws_url, log_tail)
