"""Builders of the exact events API Gateway hands to Lambda (checked against tests/events/*.json).

Pure functions: every id and time is passed in, so tests can compare whole events.
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass

from devkit.contract import ACCOUNT_ID

_ALPHANUMERIC = bytes.maketrans(b"+/", b"xZ")  # base64 without the two characters unsafe in paths


def new_id() -> str:
    """An id shaped like API Gateway's (`R1kmxc2VNjMCFIA=`): 15 letters or digits and `=`.

    The `=` is why clients must URL-encode ids in Management API paths (`%3D`), as on AWS.
    """
    return base64.b64encode(os.urandom(12)).translate(_ALPHANUMERIC)[:15].decode() + "="  # on every message


def request_time(epoch_ms: int) -> str:
    """`20/Jan/2024:11:55:00 +0000`, API Gateway's `requestTime`."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


@dataclass(frozen=True)
class Peer:
    """What API Gateway knows about a WebSocket connection for its whole life."""

    connection_id: str
    connected_at_ms: int
    source_ip: str
    user_agent: str | None  # None when the client sent no User-Agent: `identity` then has no `userAgent`
    domain_name: str
    stage: str
    api_id: str
    server_port: int  # the port the client connected to (`X-Forwarded-Port`; 443 on AWS)
    scheme: str  # `X-Forwarded-Proto`: `http` in the sandbox (`https` on AWS)
    authorizer: dict | None = None  # what the `$connect` authorizer allowed (devkit/sandbox/authorizer.py)


def identity(peer: Peer) -> dict:
    """`requestContext.identity` (and the Management API's GET): `userAgent` only when one was sent."""
    found = {"sourceIp": peer.source_ip}
    if peer.user_agent is not None:
        found["userAgent"] = peer.user_agent
    return found


def trace_id(now_ms: int) -> str:
    """An X-Ray trace id as API Gateway adds it: `Root=1-<epoch seconds, 8 hex>-<24 hex>`."""
    return f"Root=1-{now_ms // 1000:08x}-{os.urandom(12).hex()}"


# Headers a proxy must not forward (RFC 9110 §7.6.1); API Gateway's `$connect` event has neither.
HOP_BY_HOP = frozenset({"connection", "upgrade"})
ADDED = frozenset({"x-amzn-trace-id", "x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"})


def forwarded(headers: list[tuple[str, str]], source_ip: str, server_port: int, scheme: str, now_ms: int) -> list[tuple[str, str]]:
    """The client's headers as API Gateway passes them on, with the four it adds (every AWS sample
    event has them): hop-by-hop headers dropped, the client's IP appended to any `X-Forwarded-For`
    it sent, and its own `X-Forwarded-Port`, `X-Forwarded-Proto` and `X-Amzn-Trace-Id` replaced.
    """
    sent_for = [value for name, value in headers if name.lower() == "x-forwarded-for"]
    kept = [(name, value) for name, value in headers if name.lower() not in HOP_BY_HOP | ADDED]
    return kept + [
        ("X-Amzn-Trace-Id", trace_id(now_ms)),
        ("X-Forwarded-For", ", ".join(sent_for + [source_ip])),
        ("X-Forwarded-Port", str(server_port)),
        ("X-Forwarded-Proto", scheme),
    ]


def _ws_context(peer: Peer, route_key: str, event_type: str, request_id: str, now_ms: int) -> dict:
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(now_ms),
        "messageDirection": "IN",
        "stage": peer.stage,
        "connectedAt": peer.connected_at_ms,
        "requestTimeEpoch": now_ms,
        "identity": identity(peer),
        "requestId": request_id,
        "domainName": peer.domain_name,
        "connectionId": peer.connection_id,
        "apiId": peer.api_id,
    } | ({"authorizer": dict(peer.authorizer)} if peer.authorizer is not None else {})


def ws_connect(peer: Peer, headers: list[tuple[str, str]], query: list[tuple[str, str]], request_id: str, now_ms: int) -> dict:
    """`$connect`: the headers as API Gateway forwards them (first value wins in `headers`), the query
    only when there is one; no `messageId` or `disconnect*` keys (AWS's current captures have none)."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in forwarded(headers, peer.source_ip, peer.server_port, peer.scheme, now_ms):
        single.setdefault(name, value)
        multi.setdefault(name, []).append(value)
    context = _ws_context(peer, "$connect", "CONNECT", request_id, now_ms)
    event: dict = {"headers": single, "multiValueHeaders": multi}
    if query:
        event["queryStringParameters"] = {}
        event["multiValueQueryStringParameters"] = {}
        for name, value in query:
            event["queryStringParameters"][name] = value  # API Gateway keeps the last value
            event["multiValueQueryStringParameters"].setdefault(name, []).append(value)
    event.update(requestContext=context, isBase64Encoded=False)
    return event


def ws_message(peer: Peer, route_key: str, body: str, message_id: str, request_id: str, now_ms: int) -> dict:
    """A message routed to `route_key`: `messageId` set, `body` a string, no headers."""
    context = _ws_context(peer, route_key, "MESSAGE", request_id, now_ms)
    context["messageId"] = message_id
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def ws_disconnect(peer: Peer, status_code: int, reason: str, request_id: str, now_ms: int) -> dict:
    """`$disconnect`: the close code and reason, and the few headers API Gateway sends."""
    headers = {"Host": peer.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    context = _ws_context(peer, "$disconnect", "DISCONNECT", request_id, now_ms)
    context.update(disconnectStatusCode=status_code, disconnectReason=reason)
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def http_request(
    *,
    route_key: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: list[tuple[str, str]],
    query: list[tuple[str, str]],
    path_parameters: dict[str, str],
    body: bytes,
    source_ip: str,
    server_port: int,
    scheme: str,
    domain_name: str,
    api_id: str,
    request_id: str,
    now_ms: int,
) -> dict:
    """HTTP API payload format 2.0: lowercased headers (with the four API Gateway adds) and repeated
    values joined with commas; `raw_query` exactly as sent; the body as text only for text types."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in forwarded(headers, source_ip, server_port, scheme, now_ms):
        name = name.lower()
        if name == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    event: dict = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = joined
    if query:
        params: dict[str, str] = {}
        for name, value in query:
            params[name] = f"{params[name]},{value}" if name in params else value
        event["queryStringParameters"] = params
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".")[0].split(":")[0],
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": request_time(now_ms),
        "timeEpoch": now_ms,
    }
    if body:
        text = _as_text(body, joined.get("content-type", ""))
        event["body"] = text if text is not None else base64.b64encode(body).decode()
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    return event


def _as_text(body: bytes, content_type: str) -> str | None:
    """The body as text when its media type is textual and it is valid UTF-8; None means base64.

    API Gateway's rule for payload 2.0: text only for `text/*`, JSON, XML and JavaScript types; anything
    else, form posts and requests without a Content-Type included, arrives base64-encoded.
    """
    media = content_type.split(";", 1)[0].strip().lower()
    textual = media.startswith("text/") or media in ("application/json", "application/xml", "application/javascript") or media.endswith(("+json", "+xml"))
    if not textual:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None
