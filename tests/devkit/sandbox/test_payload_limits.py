"""Lambda's 6 MB synchronous payloads and malformed responses, as API Gateway answers them.

Sources: "Lambda quotas" (Lambda developer guide): invocation payload 6 MB each for a synchronous
request and response. "Handling Lambda errors with an API Gateway API" (Lambda developer guide): "If
the Lambda API rejects the invocation request, API Gateway returns a 500 error code. If the function
runs but returns an error, or returns a response in the wrong format", the client gets an error whose
body is `{"message": "Internal server error"}`; an HTTP API says `{"message":"Internal Server Error"}`
with 500 ("Troubleshooting issues with HTTP API Lambda integrations", API Gateway developer guide), and
the WebSocket API sends its `Internal server error` frame (FACTS.md). The sandbox's 500 page names
AWS's body and what went wrong.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re

import psutil
import pytest

from devkit.sandbox.limits import LAMBDA_REQUEST_BYTES, LAMBDA_RESPONSE_BYTES
from tests.support.sandbox import wait_until
from tests.support.wsclient import connect_retrying


def respond(sandbox, ask: dict, body: bytes | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=60)
    connection.request("POST", "/respond", body=body if body is not None else json.dumps(ask).encode(), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    status, data = response.status, response.read()
    connection.close()
    return status, data


def test_a_response_of_exactly_lambdas_limit_is_served_and_one_byte_more_gets_500(faults):
    status, body = respond(faults, {"kind": "bytes", "bytes": LAMBDA_RESPONSE_BYTES})
    assert status == 200 and len(body) == LAMBDA_RESPONSE_BYTES - len('{"statusCode": 200, "body": ""}')
    status, page = respond(faults, {"kind": "bytes", "bytes": LAMBDA_RESPONSE_BYTES + 1})
    assert status == 500 and b"Internal Server Error" in page
    assert b"Function.ResponseSizeTooLarge" in page
    wait_until(
        lambda: re.search(
            r"http-post-respond.*Function\.ResponseSizeTooLarge: Response payload size exceeded "
            r"maximum allowed payload size \(6291556 bytes\)",
            faults.output(),
        ),
        5,
        "the log line",
    )
    assert respond(faults, {"kind": "ok"}) == (200, b"ok"), "the worker is still warm and well"


def test_a_response_far_over_the_limit_is_refused_without_buffering_it_in_the_sandbox(faults):
    """The red team's 300 MB body, at 60 MB: the sandbox reads it through in 64 KB pieces and drops it."""
    sandbox = psutil.Process(faults.process.pid)
    before = sandbox.memory_info().rss
    status, _ = respond(faults, {"kind": "bytes", "bytes": 60 << 20})
    grown = (sandbox.memory_info().rss - before) >> 20
    assert status == 500
    assert grown < 10, f"the sandbox grew by {grown} MB for a refused 60 MB response"


def test_a_request_event_of_exactly_6_mb_is_invoked_and_one_byte_more_gets_500_without_invoking(faults):
    """Lambda's Invoke refuses a larger request (413 RequestEntityTooLargeException); API Gateway then
    answers 500. The event's size is its JSON, measured as the handler serialises it."""
    pad = 1_000_000  # the same number of digits in Content-Length as at the limit, so the overhead holds
    status, overhead = respond(faults, {}, json.dumps({"kind": "measure", "pad": "x" * pad}).encode())
    assert status == 200
    body_bytes = LAMBDA_REQUEST_BYTES - int(overhead)

    def padded(size: int) -> bytes:
        frame = json.dumps({"kind": "ok", "pad": ""}).encode()
        return frame[:-2] + b"x" * (size - len(frame)) + b'"}'

    assert respond(faults, {}, padded(body_bytes)) == (200, b"ok")
    status, page = respond(faults, {}, padded(body_bytes + 1))
    assert status == 500 and b"RequestEntityTooLargeException" in page
    wait_until(
        lambda: re.search(
            r"http-post-respond.*RequestEntityTooLargeException: Request must be smaller than "
            r"6291456 bytes for the InvokeFunction operation",
            faults.output(),
        ),
        5,
        "the log line",
    )


@pytest.mark.parametrize(
    "kind, problem",
    [
        ("list-header", "header 'x-list' must be a string, not list"),
        ("crlf-header", "header 'x-split' contains a line break"),
        ("crlf-cookie", "cookie contains a line break"),
        ("unserialisable", "Runtime.MarshalError"),
    ],
    ids=["a header value given as a list", "CRLF in a header", "CRLF in a cookie", "a body JSON cannot carry"],
)
def test_a_malformed_response_gets_500_and_the_log_names_the_function_and_the_problem(faults, kind, problem):
    status, page = respond(faults, {"kind": kind})
    assert status == 500 and b"Internal Server Error" in page
    wait_until(
        lambda: any("http-post-respond" in line and problem in line for line in faults.output().splitlines()),
        5,
        f"a log line naming the function and {problem!r}",
    )
    assert respond(faults, {"kind": "ok"}) == (200, b"ok")


def test_a_corrupted_reply_channel_gives_500_and_the_worker_is_replaced(faults):
    status, page = respond(faults, {"kind": "corrupt"})
    assert status == 500 and b"Sandbox.ReplyCorrupted" in page
    assert respond(faults, {"kind": "ok"}) == (200, b"ok"), "a fresh worker answers the next request"


def test_a_websocket_route_over_the_response_limit_gets_the_internal_server_error_frame(faults):
    async def scenario():
        client = await connect_retrying(faults.port)
        frame = await client.ask({"do": "return", "characters": LAMBDA_RESPONSE_BYTES}, timeout=30)
        echo = await client.ask({"do": "echo"})
        await client.close()
        return frame, echo

    frame, echo = asyncio.run(scenario())
    assert frame["message"] == "Internal server error" and set(frame) == {"message", "connectionId", "requestId"}
    assert echo["route"] == "$default", "the socket stays open"
    wait_until(lambda: f"requestId={frame['requestId']}" in faults.output(), 5, "the failure's log line")
    line = next(x for x in faults.output().splitlines() if f"requestId={frame['requestId']}" in x)
    assert "Function.ResponseSizeTooLarge" in line
