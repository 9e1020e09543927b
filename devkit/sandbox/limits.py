"""Every API Gateway and Lambda default the sandbox enforces, in one place.

Sources: "Quotas for configuring and running a WebSocket in API Gateway" and "Quotas for configuring
and running an HTTP API" in the API Gateway developer guide. `send_buffer_bytes` and the worker and
sweep settings are the sandbox's own (AWS publishes no per-client buffer size). Each limit can be
overridden with an environment variable named in `ENVIRONMENT` (tests set them to small values).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from devkit.manifest import INTEGRATION_TIMEOUT_SECONDS, UNRESERVED, Function

KB = 1024

# Lambda's synchronous invocation payloads (not adjustable; "Lambda quotas" in the Lambda developer
# guide: 6 MB each for request and response). The request is refused by the Invoke API with 413
# `RequestEntityTooLargeException` ("Request must be smaller than 6291456 bytes for the InvokeFunction
# operation"); a larger response fails the invocation, and Lambda's message names 6291556 bytes
# ("Response payload size exceeded maximum allowed payload size (6291556 bytes).", quoted from AWS logs
# in DataBiosphere/azul#7466 and #8258; LocalStack uses the same 6 MB + 100, localstack#10229). The
# error type the sandbox reports, `Function.ResponseSizeTooLarge`, is Lambda's Invoke error name.
LAMBDA_REQUEST_BYTES = 6 * KB * KB
LAMBDA_RESPONSE_BYTES = 6 * KB * KB + 100


@dataclass(frozen=True)
class Limits:
    message_bytes: int = 128 * KB  # WebSocket message payload; over it: close 1009
    frame_bytes: int = 32 * KB  # WebSocket frame; over it: close 1009
    idle_seconds: float = 10 * 60  # no message either way: close 1001 "Going away"
    max_connection_seconds: float = 2 * 60 * 60  # every connection: close 1001 "Going away"
    new_connections_per_second: float = 500  # per account and region; over it: 429
    post_bytes: int = 128 * KB  # Management API POST Data; over it: 413 PayloadTooLargeException
    http_body_bytes: int = 10 * KB * KB  # HTTP API request payload; over it: 413
    send_buffer_bytes: int = 128 * KB  # queued for a client not reading (pongs too); over it POST @connections gets
    # 429, and a ping closes the socket with 1008
    unfinished_messages_bytes: int = 64 * KB * KB  # bytes of unfinished client messages across all sockets; a socket
    # that would pass it is closed with 1013 (AWS: not published; 512 sockets each 128 KB into a message)
    ws_integration_timeout_seconds: float = INTEGRATION_TIMEOUT_SECONDS["ws"]  # API Gateway stops waiting for a WebSocket route's function
    http_integration_timeout_seconds: float = INTEGRATION_TIMEOUT_SECONDS["http"]  # ... and for an HTTP API route's (the function runs on)
    http_header_seconds: float = 30  # a connection's request headers (and idle keep-alive); then closed
    http_body_seconds: float = 30  # an HTTP request's body, once its headers are in; then 408 (API Gateway: 30 s)
    worker_concurrency: int = 10  # workers per function at once: Lambda scales to 1,000; a laptop to this
    worker_scale_after_seconds: float = 0.1  # past 2 workers, a new one starts only once none has come free for this long
    function_queue: int = 1000  # invocations of one function waiting for a worker (Lambda's default account
    # concurrency is 1,000, so AWS would run them all); beyond: throttled, as Lambda is. $connect and $disconnect wait
    connection_in_flight: int = 10  # messages of one socket waiting or running; beyond: its socket is not read
    worker_idle_seconds: float = 30  # a function's extra workers idle this long are stopped; one stays warm
    ttl_sweep_seconds: float = 30  # how often expired DynamoDB items are removed (DynamoDB: within days)


ENVIRONMENT = {f.name: "SANDBOX_" + f.name.upper() for f in fields(Limits)}


MAY_BE_ZERO = {"worker_scale_after_seconds"}  # 0: a function starts a worker whenever none is free


def from_environment(environ: Mapping[str, str] | None = None) -> Limits:
    """Defaults, overridden by any `SANDBOX_<LIMIT>` variable present in `environ`."""
    environ = os.environ if environ is None else environ
    values: dict[str, float] = {}
    for field in fields(Limits):
        raw = environ.get(ENVIRONMENT[field.name])
        if raw is None:
            continue
        cast = int if field.type == "int" else float
        try:
            values[field.name] = cast(raw)
        except ValueError:
            raise ValueError(f"{ENVIRONMENT[field.name]}={raw!r}: expected a number") from None
        if field.name in MAY_BE_ZERO and values[field.name] == 0:
            continue
        if values[field.name] <= 0:
            raise ValueError(f"{ENVIRONMENT[field.name]}={raw!r}: expected a positive number")
    return Limits(**values)  # type: ignore[arg-type]  # each value was cast to its field's type above


def workers_for(limits: Limits, function: Function) -> dict[str, int]:
    """A function's pool size, as FunctionPool's `concurrency` and `queue`: `worker_concurrency` workers
    and `function_queue` waiting, unless its declared reserved concurrency (`@aws concurrency`) is lower.
    Then that many workers and none waiting: Lambda refuses an invocation beyond a function's reserved
    concurrency at once (429 TooManyRequestsException; the Lambda guide, "Configuring reserved concurrency")."""
    declared = function.concurrency
    if declared is None or declared == UNRESERVED or declared >= limits.worker_concurrency:
        return {"concurrency": limits.worker_concurrency, "queue": limits.function_queue}
    return {"concurrency": declared, "queue": 0}
