"""API Gateway's Management API for the sandbox's sockets: `/@connections/{id}`.

POST sends the body to the connection (200; 413 over the limit; 429 `LimitExceededException` while
the client is not reading what was sent to it, the connection staying open), GET describes it (200),
DELETE closes it (204). An id that is unknown or closed answers 410 GoneException, so boto3 raises
`GoneException` exactly as on AWS. Requests must carry a SigV4 `Authorization` header (the signature
itself is not verified: the sandbox has no secrets) and come from this machine; a function's request
must be allowed by its policy (`execute-api:ManageConnections`), else 403 ForbiddenException.
"""

from __future__ import annotations

import functools
import ipaddress
from datetime import datetime, timezone

from aiohttp import web

from devkit.sandbox.connections import ClientBufferFull, Registry
from devkit.sandbox.limits import Limits
from devkit.sandbox.log import Log


def error(status: int, kind: str, message: str | None) -> web.Response:
    """An error as API Gateway sends it: the type in `x-amzn-ErrorType`, a JSON `message`."""
    return web.json_response({"message": message}, status=status, headers={"x-amzn-ErrorType": kind})


def _iso(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@functools.lru_cache(maxsize=64)
def _is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8 and ::1. Remembered per address: parsing it was ~2% of the sandbox's CPU
    per echo, and the peers of one sandbox are a handful of loopback addresses."""
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class ManagementApi:
    def __init__(self, registry: Registry, limits: Limits, log: Log, authorize=None):
        self.registry, self.limits, self.log = registry, limits, log
        # IAM (devkit/sandbox/iam.py): (Authorization, method, id) -> a denial line, or None if allowed.
        self.authorize = authorize

    async def handle(self, request: web.Request, connection_id: str) -> web.Response:
        if not _is_loopback(request.remote):
            return error(403, "ForbiddenException", "Forbidden")
        if not request.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 "):
            return error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        method = request.method
        if method not in ("POST", "GET", "DELETE"):
            return error(404, "NotFoundException", "Not Found")
        denied = self.authorize and self.authorize(request.headers["Authorization"], method, connection_id)
        if denied:
            self.log.info(denied)
            return error(403, "ForbiddenException", "Forbidden")
        if method == "POST" and (request.content_length or 0) > self.limits.post_bytes:
            return error(413, "PayloadTooLargeException", f"Payload is larger than {self.limits.post_bytes} bytes")
        connection = self.registry.get(connection_id)
        if connection is None:
            self.log.event(f"API {method} @connections/{connection_id}: 410 Gone")
            return error(410, "GoneException", None)
        if method == "GET":
            peer = connection.peer
            return web.json_response(
                {
                    "connectedAt": _iso(peer.connected_at_ms / 1000),
                    # botocore's model requires both (unlike the events' identity): "" when none was sent
                    "identity": {"sourceIp": peer.source_ip, "userAgent": peer.user_agent or ""},
                    "lastActiveAt": _iso(connection.last_active),
                }
            )
        if method == "DELETE":
            await connection.close(1000, "")
            self.log.event(f"API DELETE @connections/{connection_id}: closed")
            return web.Response(status=204)
        data = await request.content.read(self.limits.post_bytes + 1)  # not the HTTP API's body limit
        while len(data) <= self.limits.post_bytes and not request.content.at_eof():
            data += await request.content.read(self.limits.post_bytes + 1 - len(data))
        if len(data) > self.limits.post_bytes:
            return error(413, "PayloadTooLargeException", f"Payload is larger than {self.limits.post_bytes} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        try:
            await connection.send(data if text is None else text)
        except ClientBufferFull:
            # botocore's model: LimitExceededException, "the WebSocket client side buffer is full".
            self.log.event(f"API POST @connections/{connection_id}: 429 (the client is not reading)")
            return error(429, "LimitExceededException", "Limit Exceeded")
        except ConnectionError:  # closed meanwhile
            self.log.event(f"API POST @connections/{connection_id}: 410 Gone")
            return error(410, "GoneException", None)
        return web.Response(status=200)
