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
    user_agent: str
    domain_name: str
    stage: str
    api_id: str


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
        "identity": {"userAgent": peer.user_agent, "sourceIp": peer.source_ip},
        "requestId": request_id,
        "domainName": peer.domain_name,
        "connectionId": peer.connection_id,
        "apiId": peer.api_id,
    }


def ws_connect(peer: Peer, headers: list[tuple[str, str]], query: list[tuple[str, str]], request_id: str, now_ms: int) -> dict:
    """`$connect`: headers as sent (first value wins in `headers`), the query only when there is one."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single.setdefault(name, value)
        multi.setdefault(name, []).append(value)
    context = _ws_context(peer, "$connect", "CONNECT", request_id, now_ms)
    context.update(disconnectStatusCode=None, messageId=None, disconnectReason=None)
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
    domain_name: str,
    api_id: str,
    request_id: str,
    now_ms: int,
) -> dict:
    """HTTP API payload format 2.0: lowercased headers and repeated values joined with commas."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
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


_TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded", "application/xml", "application/javascript")


def _as_text(body: bytes, content_type: str) -> str | None:
    """The body as text when its type is textual and it is valid UTF-8; None means base64."""
    if content_type and not content_type.lower().startswith(_TEXT_TYPES):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None
