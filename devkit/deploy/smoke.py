"""`python -m devkit smoke --url <page URL>`: prove a running copy of the starter app works, end to end.

It checks the starter's own contract (README, "What the app does"), the way a browser meets it, in
steps: the page and its Content-Security-Policy; the socket URL in the page's `data-wss-url`; an echo
on a socket opened with the page's Origin; a broadcast from that socket reaching a second one; an
error reply to a malformed message; and a socket from a foreign Origin being refused. It prints one
line per step with its time, stops at the first failure, and returns 0 only when every step passed.

Only the standard library and websocket-client: it runs against the sandbox and a deployed stack alike.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

import websocket

DEFAULT_TIMEOUT_SECONDS = 10.0
FOREIGN_ORIGIN = "https://smoke-test.invalid"
ISO_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"


class StepFailed(Exception):
    """A step's check did not hold; the message says what was expected and what came instead."""


@dataclass
class Smoke:
    """The state carried from step to step."""

    url: str
    timeout: float
    page: str = ""
    csp: str = ""
    wss_url: str = ""
    sockets: list = field(default_factory=list)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def open(self, origin: str) -> websocket.WebSocket:
        sock = websocket.create_connection(self.wss_url, timeout=self.timeout, origin=origin)
        self.sockets.append(sock)
        return sock

    def close(self) -> None:
        for sock in self.sockets:
            try:
                sock.close(timeout=1)
            except Exception:  # noqa: BLE001 - closing is best effort; the verdict is already made
                pass


def run(url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS, out: Callable[[str], None] = print) -> int:
    """Run every step against the page at `url`; each step may wait up to `timeout` seconds."""
    smoke = Smoke(url, timeout)
    out(f"smoke test of {url}")
    try:
        for name, step in STEPS:
            started = time.monotonic()
            try:
                detail = step(smoke)
            except (StepFailed, OSError, ValueError, websocket.WebSocketException) as error:
                out(f"  FAIL  {name:<15} {_ms(started):>7}  {_describe(error, smoke.timeout)}")
                out(f"smoke test failed at step '{name}'")
                return 1
            out(f"  ok    {name:<15} {_ms(started):>7}  {detail}")
    finally:
        smoke.close()
    out(f"smoke test passed: {len(STEPS)} steps")
    return 0


def page(smoke: Smoke) -> str:
    request = urllib.request.Request(smoke.url, headers={"Accept": "text/html"})
    try:
        with urllib.request.urlopen(request, timeout=smoke.timeout) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        raise StepFailed(f"GET {smoke.url} answered {error.code}, expected 200") from None
    if status != 200 or not headers.get("content-type", "").startswith("text/html"):
        raise StepFailed(f"expected 200 text/html, got {status} {headers.get('content-type')}")
    smoke.csp = headers.get("content-security-policy", "")
    if "default-src" not in smoke.csp:
        raise StepFailed("the page has no Content-Security-Policy header with a default-src")
    smoke.page = body.decode("utf-8", errors="replace")
    return f"200, {len(body)} bytes, with a Content-Security-Policy"


def socket_url(smoke: Smoke) -> str:
    finder = _WssUrl()
    finder.feed(smoke.page)
    if not finder.url:
        raise StepFailed("the page has no data-wss-url attribute")
    parts = urlsplit(finder.url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise StepFailed(f"data-wss-url {finder.url!r} is not a ws:// or wss:// URL")
    allowed = re.search(r"connect-src ([^;]*)", smoke.csp)
    if not allowed or f"{parts.scheme}://{parts.netloc}" not in allowed[1].split():
        raise StepFailed(f"the Content-Security-Policy's connect-src does not allow {parts.scheme}://{parts.netloc}")
    smoke.wss_url = finder.url
    return finder.url


def echo(smoke: Smoke) -> str:
    text = f"smoke {uuid.uuid4().hex[:8]}"
    sock = smoke.open(smoke.origin)
    sock.send(json.dumps({"text": text}))
    reply = _receive(sock, smoke.timeout, lambda m: "text" in m and m["text"].endswith(" - Echoing " + text))
    if not re.fullmatch(ISO_TIME + " - Echoing " + re.escape(text), reply["text"]):
        raise StepFailed(f"expected '<ISO time> - Echoing {text}', got {reply['text']!r}")
    return reply["text"]


def broadcast(smoke: Smoke) -> str:
    text = f"smoke broadcast {uuid.uuid4().hex[:8]}"
    listener = smoke.open(smoke.origin)
    smoke.sockets[0].send(json.dumps({"action": "broadcast", "text": text}))
    reply = _receive(listener, smoke.timeout, lambda m: m.get("broadcast") is True and m.get("text", "").endswith(" - " + text))
    return f"the second socket got {reply['text']!r}"


def malformed(smoke: Smoke) -> str:
    sock = smoke.sockets[-1]
    sock.send("this is not JSON")
    reply = _receive(sock, smoke.timeout, lambda m: "error" in m or "message" in m)
    if not isinstance(reply.get("error"), str):
        raise StepFailed(f"expected {{\"error\": ...}}, got {reply}")
    return f"error: {reply['error']}"


def foreign_origin(smoke: Smoke) -> str:
    try:
        smoke.open(FOREIGN_ORIGIN)
    except websocket.WebSocketBadStatusException as refused:
        return f"refused with {refused.status_code}"
    raise StepFailed(f"a socket with Origin {FOREIGN_ORIGIN} was accepted; expected it refused")


STEPS: list[tuple[str, Callable[[Smoke], str]]] = [
    ("page", page),
    ("socket url", socket_url),
    ("echo", echo),
    ("broadcast", broadcast),
    ("malformed", malformed),
    ("foreign origin", foreign_origin),
]


class _WssUrl(HTMLParser):
    """The first `data-wss-url` attribute in a page."""

    def __init__(self):
        super().__init__()
        self.url = ""

    def handle_starttag(self, tag, attrs):
        self.url = self.url or dict(attrs).get("data-wss-url") or ""


def _receive(sock: websocket.WebSocket, timeout: float, wanted: Callable[[dict], bool]) -> dict:
    """The first JSON object from `sock` that `wanted` accepts; others (say, strangers' broadcasts) are
    skipped. Raises StepFailed when none comes within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    seen = []
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            frame = sock.recv()
        except websocket.WebSocketTimeoutException:
            break
        try:
            message = json.loads(frame)
        except (TypeError, ValueError):
            message = None
        if isinstance(message, dict) and wanted(message):
            return message
        seen.append(frame)
    got = f"; got only {seen[:3]}" if seen else ""
    raise StepFailed(f"no matching reply within {timeout:g} s{got}")


def _describe(error: Exception, timeout: float) -> str:
    if isinstance(error, websocket.WebSocketBadStatusException):
        return f"the socket was refused with {error.status_code}"
    if isinstance(error, (TimeoutError, websocket.WebSocketTimeoutException)):
        return f"no answer within {timeout:g} s"
    return str(error) or type(error).__name__


def _ms(started: float) -> str:
    return f"{(time.monotonic() - started) * 1000:.0f} ms"
