"""`python -m devkit smoke --url <page URL>`: prove a running copy of an app works, end to end.

It checks, the way a browser meets it, what the app declares in its `smoke.json`
(`devkit.deploy.smoke_declaration`), in steps: the page (200 `text/html`, and a Content-Security-Policy
whose `connect-src` allows the socket, when declared); the socket URL in the declared HTML attribute;
each declared step (a message sent on a socket opened with the page's Origin, and a JSON reply whose
fields match, on that socket or another); with declared subprotocols (a token from the page, say), a
socket offering none being refused; and a socket from a foreign Origin (offering them) being refused. It prints
one line per step with its time, stops at the first failure, and returns 0 only when every step passed.

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

from devkit.deploy import smoke_declaration
from devkit.deploy.smoke_declaration import Declaration, Step

DEFAULT_TIMEOUT_SECONDS = 10.0
FOREIGN_ORIGIN = "https://smoke-test.invalid"


class StepFailed(Exception):
    """A step's check did not hold; the message says what was expected and what came instead."""


@dataclass
class Smoke:
    """The state carried from step to step."""

    url: str
    declaration: Declaration
    timeout: float
    page: str = ""
    csp: str = ""
    wss_url: str = ""
    subprotocols: list[str] = field(default_factory=list)  # offered on every socket, read from the page
    sockets: dict[str, websocket.WebSocket] = field(default_factory=dict)
    opened: list[websocket.WebSocket] = field(default_factory=list)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def socket(self, name: str) -> websocket.WebSocket:
        """The socket a step calls `name`, opened with the page's Origin the first time it is named."""
        if name not in self.sockets:
            self.sockets[name] = self.open(self.origin)
        return self.sockets[name]

    def open(self, origin: str, offer: bool = True) -> websocket.WebSocket:
        protocols = self.subprotocols if offer and self.subprotocols else None
        sock = websocket.create_connection(self.wss_url, timeout=self.timeout, origin=origin, subprotocols=protocols)
        self.opened.append(sock)
        return sock

    def close(self) -> None:
        for sock in self.opened:
            try:
                sock.close(timeout=1)
            except Exception:
                pass


def run(url: str, declaration: Declaration, timeout: float = DEFAULT_TIMEOUT_SECONDS, out: Callable[[str], None] = print) -> int:
    """Run every step against the page at `url`; each step may wait up to `timeout` seconds."""
    smoke = Smoke(url, declaration, timeout)
    steps = _steps(declaration)
    out(f"smoke test of {url}")
    try:
        for name, step in steps:
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
    out(f"smoke test passed: {len(steps)} steps")
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
    if smoke.declaration.csp and "default-src" not in smoke.csp:
        raise StepFailed("the page has no Content-Security-Policy header with a default-src")
    smoke.page = body.decode("utf-8", errors="replace")
    return f"200, {len(body)} bytes" + (", with a Content-Security-Policy" if smoke.declaration.csp else "")


def socket_url(smoke: Smoke) -> str:
    attribute = smoke.declaration.socket_url_attribute
    finder = _Attribute(attribute)
    finder.feed(smoke.page)
    if not finder.value:
        raise StepFailed(f"the page has no {attribute} attribute")
    parts = urlsplit(finder.value)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise StepFailed(f"{attribute} {finder.value!r} is not a ws:// or wss:// URL")
    allowed = re.search(r"connect-src ([^;]*)", smoke.csp)
    if smoke.declaration.csp and (not allowed or f"{parts.scheme}://{parts.netloc}" not in allowed[1].split()):
        raise StepFailed(f"the Content-Security-Policy's connect-src does not allow {parts.scheme}://{parts.netloc}")
    smoke.wss_url = finder.value
    for entry in smoke.declaration.subprotocols:
        if isinstance(entry, str):
            smoke.subprotocols.append(entry)
            continue
        found = _Attribute(entry["html_attribute"])
        found.feed(smoke.page)
        if not found.value:
            raise StepFailed(f"the page has no {entry['html_attribute']} attribute (a declared subprotocol)")
        smoke.subprotocols.append(found.value)
    return finder.value + (f", offering {len(smoke.subprotocols)} subprotocol(s)" if smoke.subprotocols else "")


def no_subprotocols(smoke: Smoke) -> str:
    try:
        smoke.open(smoke.origin, offer=False)
    except websocket.WebSocketBadStatusException as refused:
        return f"refused with {refused.status_code}"
    raise StepFailed("a socket offering none of the declared subprotocols was accepted; expected it refused")


def exchange(step: Step) -> Callable[[Smoke], str]:
    """A declared step: send on `step.socket`, then wait on `step.listen_on` for a reply that matches."""

    def check(smoke: Smoke) -> str:
        token = uuid.uuid4().hex[:8]
        sender, listener = smoke.socket(step.socket), smoke.socket(step.listen_on)
        message = smoke_declaration.fill(step.send, token)
        sender.send(message if isinstance(message, str) else json.dumps(message))
        expected = {key: smoke_declaration.pattern(value, token) if isinstance(value, str) else value for key, value in step.expect.items()}
        reply = _receive(listener, smoke.timeout, lambda m: _matches(m, expected))
        where = "" if step.listen_on == step.socket else f"socket {step.listen_on} "
        return f"{where}got {json.dumps(reply, ensure_ascii=False)}"

    return check


def foreign_origin(smoke: Smoke) -> str:
    try:
        smoke.open(FOREIGN_ORIGIN)
    except websocket.WebSocketBadStatusException as refused:
        return f"refused with {refused.status_code}"
    raise StepFailed(f"a socket with Origin {FOREIGN_ORIGIN} was accepted; expected it refused")


def page_subprotocols(url: str, declaration: Declaration, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> list[str]:
    """The subprotocols the declaration says a socket offers, read from the page at `url` now."""
    smoke = Smoke(url, declaration, timeout)
    page(smoke)
    socket_url(smoke)
    return smoke.subprotocols


def _steps(declaration: Declaration) -> list[tuple[str, Callable[[Smoke], str]]]:
    """The runner's own steps around the app's: the page and its socket URL first, the foreign Origin last."""
    declared = [(step.name, exchange(step)) for step in declaration.steps]
    guarded = [("no subprotocols", no_subprotocols)] if declaration.subprotocols else []
    return [("page", page), ("socket url", socket_url), *declared, *guarded, ("foreign origin", foreign_origin)]


def _matches(reply: dict, expected: dict) -> bool:
    """Every expected field is in `reply`: a string field matching its pattern in full, else an equal value."""
    for key, want in expected.items():
        if key not in reply:
            return False
        got = reply[key]
        if isinstance(want, re.Pattern):
            if not isinstance(got, str) or not want.fullmatch(got):
                return False
        elif json.dumps(got, sort_keys=True) != json.dumps(want, sort_keys=True):  # so true != 1
            return False
    return True


class _Attribute(HTMLParser):
    """The value of the first occurrence of one attribute in a page."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name.lower()  # the parser lower-cases attribute names, as browsers do
        self.value = ""

    def handle_starttag(self, tag, attrs):
        self.value = self.value or dict(attrs).get(self.name) or ""


def _receive(sock: websocket.WebSocket, timeout: float, wanted: Callable[[dict], bool]) -> dict:
    """The first JSON object from `sock` that `wanted` accepts; others (say, messages meant for everyone) are
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
