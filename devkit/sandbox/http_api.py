"""API Gateway's HTTP API (payload format 2.0) for the manifest's `@http` routes, and `/_static/*`.

A route's handler gets the 2.0 event and its response dict is mapped back (status, headers,
cookies, base64 bodies; a dict without `statusCode` becomes a 200 JSON body, a string is the body as
it is; `multiValueHeaders`, not part of 2.0, is dropped with a warning). A failing handler gives 500
with a readable local error page; no response within the integration timeout (30 s) gives 503 while
the function runs on; no route gives 404. Static files come from `public/` only, by the rule deploy
follows (devkit/public.py): missing files, folders, hidden paths and any path resolving outside it
give 404; a file too large for Lambda's response gives 500.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import mimetypes
import re
import time
from pathlib import Path

from aiohttp import web

from devkit import public
from devkit.manifest import Function
from devkit.sandbox import events
from devkit.sandbox.log import Log
from devkit.sandbox.workers import Functions, IntegrationTimeout, InvocationError, throttled

mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")


class Route:
    """One `@http` route compiled to a regular expression over the request path."""

    def __init__(self, function: Function):
        self.function = function
        method, path = function.route_key.split(" ", 1)
        self.method = method
        pattern = re.escape(path)
        pattern = re.sub(r"\\\{([A-Za-z_][A-Za-z0-9_]*)\\\+\\\}", r"(?P<\1>.+)", pattern)
        pattern = re.sub(r"\\\{([A-Za-z_][A-Za-z0-9_]*)\\\}", r"(?P<\1>[^/]+)", pattern)
        self.regex = re.compile(pattern + "$")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        found = self.regex.match(path)
        return None if found is None else found.groupdict()


class HttpApi:
    def __init__(
        self, functions: Functions, routes: list[Function], public_dir: Path, log: Log, api_id: str, integration_timeout: float = 30, body_seconds: float = 30
    ):
        self.functions, self.log, self.api_id = functions, log, api_id
        self.integration_timeout = integration_timeout
        self.body_seconds = body_seconds  # a body still incomplete after this: 408, the connection closed
        self._warned: set[str] = set()  # functions already warned about a response field AWS drops
        # Exact paths win over parameters, parameters over greedy paths, as in API Gateway.
        self.routes = sorted((Route(f) for f in routes), key=lambda r: ("+}" in r.function.route_key, "{" in r.function.route_key))
        self.public_dir = public_dir.resolve()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        response = await self._respond(request)
        self.log.event(f"{request.method:<4} {request.path} {response.status} {1000 * (time.perf_counter() - started):.1f} ms")
        return response

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/_static/"):
            return self.static(request)
        found = self.route(request.method, request.path)
        if found is not None:
            return await self._invoke(*found, request)
        return web.json_response({"message": "Not Found"}, status=404)

    def route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route a request goes to and its path parameters; None for `/_static/*` and no route."""
        if path.startswith("/_static/"):
            return None
        for route in self.routes:
            parameters = route.match(method, path)
            if parameters is not None:
                return route, parameters
        return None

    async def _invoke(self, route: Route, parameters: dict[str, str], request: web.Request) -> web.Response:
        request_id = events.new_id()
        if self.functions.saturated(route.function):  # refuse before reading up to 10 MB of body
            return error_page(route.function, request_id, throttled())
        try:
            body = await asyncio.wait_for(request.read(), self.body_seconds)
        except asyncio.TimeoutError:  # not TimeoutError: on Python 3.10 they differ
            self.log.event(f"{request.method:<4} {request.path}: body not received within {self.body_seconds:g} s: 408")
            response = web.json_response({"message": "Request Timeout"}, status=408, headers={"Connection": "close"})
            await response.prepare(request)
            await response.write_eof()
            request.protocol.force_close()  # or aiohttp would linger reading the rest of the body
            return response
        raw_path, _, raw_query = request.raw_path.partition("?")  # the query exactly as sent, undecoded
        event = events.http_request(
            route_key=route.function.route_key,
            method=request.method,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=list(request.headers.items()),
            query=list(request.query.items()),
            path_parameters=parameters,
            body=body,
            source_ip=request.remote or "127.0.0.1",
            server_port=request.url.port or 80,
            scheme=request.scheme,
            domain_name=request.host,
            api_id=self.api_id,
            request_id=request_id,
            now_ms=int(time.time() * 1000),
        )
        try:
            result = await self.functions.invoke_within(route.function, request_id, event, self.integration_timeout)
        except InvocationError as error:
            self.log.info(f"HTTP {route.function.route_key} ({route.function.id}) failed ({error}): 500 requestId={request_id}")
            return error_page(route.function, request_id, error)
        except IntegrationTimeout as timeout:
            self.log.info(f"HTTP {route.function.route_key}: {timeout}: 503; the function runs on to its own timeout")
            return web.json_response({"message": "Service Unavailable"}, status=503)
        if isinstance(result, dict) and "multiValueHeaders" in result and route.function.id not in self._warned:
            self._warned.add(route.function.id)
            self.log.info(
                f"warning: {route.function.id} returns multiValueHeaders, which payload format 2.0 "
                "does not have: AWS drops them, and so does the sandbox (use headers with comma-joined values)"
            )
        try:
            return to_response(result)
        except (TypeError, ValueError) as problem:
            self.log.info(
                f"HTTP {route.function.route_key} ({route.function.id}): malformed Lambda response: {problem}: "
                f"500, as API Gateway answers it requestId={request_id}"
            )
            return error_page(
                route.function,
                request_id,
                InvocationError(
                    "error",
                    {
                        "errorType": "Sandbox.MalformedResponse",
                        "errorMessage": f"malformed Lambda response: {problem}",
                    },
                ),
            )

    def static(self, request: web.Request) -> web.StreamResponse:
        """A file of public/ under the rule deploy follows (devkit/public.py), streamed from disk."""
        if request.method not in ("GET", "HEAD"):
            return web.json_response({"message": "Not Found"}, status=404)
        parts = [p for p in request.path[len("/_static/") :].split("/") if p]
        if not public.visible(parts):
            return web.json_response({"message": "Not Found"}, status=404)
        try:
            path = self.public_dir.joinpath(*parts).resolve(strict=True)
        except (OSError, RuntimeError, ValueError):
            return web.json_response({"message": "Not Found"}, status=404)
        if not path.is_file() or not path.is_relative_to(self.public_dir):
            return web.json_response({"message": "Not Found"}, status=404)
        if public.too_large(path.stat().st_size):  # the deployed function's response would exceed 6 MB
            self.log.info(f"GET  {request.path}: over Lambda's 6 MB response once base64-encoded; 500 as deployed")
            return web.json_response({"message": "Internal Server Error"}, status=500)
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/"):
            content_type += "; charset=utf-8"
        return web.FileResponse(
            path,
            headers={"content-type": content_type, "cache-control": "no-cache", "x-content-type-options": "nosniff"},
        )


def to_response(result) -> web.Response:
    """Map a handler's return value to HTTP as API Gateway's payload format 2.0 does.

    From "Lambda function response for format 2.0" (AWS API Gateway developer guide): a response
    without `statusCode` is a 200 `application/json` body; a string is that body as it is; a dict is
    JSON. Only `statusCode`, `headers`, `cookies`, `body` and `isBase64Encoded` are read.
    """
    if isinstance(result, str):
        return web.Response(status=200, text=result, content_type="application/json")
    if not (isinstance(result, dict) and "statusCode" in result):
        return web.Response(status=200, text=json.dumps(result), content_type="application/json")
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, (int, str)) or not 100 <= int(status) <= 599:
        raise ValueError(f"statusCode must be a number from 100 to 599, not {status!r}")
    body = result.get("body") or ""
    if not isinstance(body, str):
        raise TypeError(f"body must be a string, not {type(body).__name__}")
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    response = web.Response(status=int(status), body=data)
    headers, cookies = result.get("headers") or {}, result.get("cookies") or []
    if not isinstance(headers, dict) or not isinstance(cookies, list):
        raise TypeError("headers must be an object of strings and cookies a list of strings")
    for name, value in headers.items():
        response.headers[_header_field("header name", name)] = _header_field(f"header {name!r}", value)
    for cookie in cookies:
        response.headers.add("Set-Cookie", _header_field("cookie", cookie))
    if "content-type" not in {k.lower() for k in response.headers}:
        response.headers["Content-Type"] = "application/json"
    return response


def _header_field(what: str, value) -> str:
    """A header name or value as HTTP can carry it: a string (numbers and booleans as JSON writes them),
    without CR, LF or NUL, which would end the header early (response splitting)."""
    if isinstance(value, (bool, int, float)):
        value = json.dumps(value)
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    if any(c in value for c in "\r\n\x00"):
        raise ValueError(f"{what} contains a line break (CR or LF) or NUL")
    return value


def error_page(function: Function, request_id: str, error: InvocationError) -> web.Response:
    """500 with what AWS would send (`Internal Server Error`) and, locally, what went wrong."""
    detail = error.detail
    trace = "".join(detail.get("stackTrace") or [])
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>500: {html.escape(function.id)} failed</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto">
<h1>500 Internal Server Error</h1>
<p>The function <code>{html.escape(function.id)}</code> ({html.escape(function.route_key)}) failed.
On AWS the client would get <code>{{"message":"Internal Server Error"}}</code>.</p>
<h2>{html.escape(str(detail.get("errorType", error.kind)))}: {html.escape(str(detail.get("errorMessage", "")))}</h2>
<pre>{html.escape(trace)}</pre>
<p>Request id <code>{html.escape(request_id)}</code>. This page appears only in the sandbox.</p>
</body></html>"""
    return web.Response(status=500, text=page, content_type="text/html", headers={"x-amzn-requestid": request_id})
