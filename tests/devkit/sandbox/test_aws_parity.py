"""AWS parity, over real sockets against the real sandbox: one test (or table) per rule, each naming
its AWS source. Events are compared with AWS's own published samples in tests/events/ key by key:
a key AWS sends that the sandbox lacks fails, and so does a key the sandbox adds.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import re
import socket
import struct
import time
import uuid

import boto3
import pytest
import websocket
from botocore.config import Config
from botocore.exceptions import ClientError

from devkit.sandbox.connections import ClientBufferFull, Connection
from tests.support.repo import load_event
from tests.support.sandbox import DUMMY_AWS, RunningSandbox, copy_fixture, wait_until
from tests.support.sockets import handshake_status
from tests.support.wsclient import CLOSE, PING, PONG, TEXT, frame

CONTINUATION = 0x0

NO_RETRIES = Config(connect_timeout=2, read_timeout=10, retries={"total_max_attempts": 1})
# Maps whose keys are the client's or the query's, not AWS's: compared only where the test sends exactly
# the headers of the sample's client.
FREE_KEYS = {"queryStringParameters", "multiValueQueryStringParameters", "pathParameters"}


def same_keys(ours, sample, path="event"):
    """The same keys at every level (extra and missing both fail); values may differ."""
    assert set(ours) == set(sample), f"{path}: extra {sorted(set(ours) - set(sample))}, missing {sorted(set(sample) - set(ours))}"
    for key, value in sample.items():
        if isinstance(value, dict) and key not in FREE_KEYS:
            assert isinstance(ours[key], dict), f"{path}.{key}: {type(ours[key]).__name__}, not an object"
            same_keys(ours[key], value, f"{path}.{key}")


# --- a raw WebSocket client: exact headers on the handshake, frames read as they arrive on the wire ---


class RawSocket:
    def __init__(self, port: int, headers: list[tuple[str, str]] | None = None, path: str = "/", receive_buffer: int | None = None):
        self.sock = socket.socket()
        self.sock.settimeout(10)
        if receive_buffer:  # before connecting, so the advertised window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        sent = headers if headers is not None else [("Host", f"127.0.0.1:{port}")]
        lines = [
            f"GET {path} HTTP/1.1",
            *(f"{k}: {v}" for k, v in sent),
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buffer = b""
        head = self._read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"sec-websocket-extensions" not in head.lower(), "no compression: frames are read as sent"

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.buffer += chunk

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def frame(self) -> tuple[bool, int, bytes]:
        """The next frame as (fin, opcode, payload); pings answered."""
        while True:
            first, second = self._take(2)
            assert not second & 0x80, "server frames are never masked"
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._take(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._take(8))[0]
            payload = self._take(length)
            if first & 0x0F == PING:
                self.sock.sendall(frame(PONG, payload))
                continue
            return bool(first & 0x80), first & 0x0F, payload

    def send(self, payload: dict | str) -> None:
        self.sock.sendall(frame(TEXT, (json.dumps(payload) if isinstance(payload, dict) else payload).encode()))

    def message(self) -> bytes:
        fin, opcode, data = self.frame()
        while not fin:
            fin, _, more = self.frame()
            data += more
        return data

    def close(self) -> None:
        self.sock.close()


def newest_record(sandbox, kind: str, before: set) -> list[dict]:
    def found():
        paths = set(sandbox.records.glob(f"{kind}-*.jsonl")) - before if sandbox.records.exists() else set()
        return paths and [json.loads(line) for p in paths for line in p.read_text().splitlines()]

    return wait_until(found, what=f"a new {kind} record")


def records(sandbox, kind: str) -> set:
    return set(sandbox.records.glob(f"{kind}-*.jsonl")) if sandbox.records.exists() else set()


def post_event(sandbox, body: bytes | None = None, headers: dict | None = None, query: str = ""):
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    connection.request("POST", "/event" + query, body=body, headers=headers or {})
    response = connection.getresponse()
    result = response.status, response.headers, response.read()
    connection.close()
    return result


def management(sandbox, retries=NO_RETRIES):
    return boto3.client("apigatewaymanagementapi", endpoint_url=sandbox.url, config=retries, **DUMMY_AWS)


# --- 1. request bodies ---


@pytest.mark.parametrize(
    "content_type, as_text",
    [
        ("text/plain; charset=utf-8", True),
        ("application/json", True),
        ("application/vnd.api+json", True),
        ("application/xml", True),
        ("application/atom+xml", True),
        ("application/javascript", True),
        ("application/x-www-form-urlencoded", False),
        (None, False),
        ("application/octet-stream", False),
        ("multipart/form-data; boundary=x", False),
        ("image/png", False),
    ],
)
def test_a_body_is_text_only_for_text_types(faults, content_type, as_text):
    """AWS: "Working with AWS Lambda proxy integrations for HTTP APIs" (payload format 2.0): API Gateway
    passes text types as text and base64-encodes the rest; `application/x-www-form-urlencoded` and a
    request without Content-Type arrive base64 (FACTS.md; a Slack or Twilio form post on AWS)."""
    body = b"a=1&b=caf\xc3\xa9"
    status, _, answer = post_event(faults, body, {"Content-Type": content_type} if content_type else {})
    event = json.loads(answer)["event"]
    assert status == 200 and event["isBase64Encoded"] is (not as_text)
    assert event["body"] == (body.decode() if as_text else base64.b64encode(body).decode())


# --- 2. rawQueryString ---


def test_raw_query_string_arrives_byte_for_byte(faults):
    """AWS: payload format 2.0 `rawQueryString` is the query as the client sent it (aws-lambda-go's
    `apigw-v2-request-*.json` samples carry it undecoded)."""
    raw = "b=x%20y&plus=1+2&pct=100%25&empty=&e=%C3%A9"
    connection = http.client.HTTPConnection("127.0.0.1", faults.port, timeout=10)
    connection.request("POST", "/event?" + raw, body=b"")
    event = json.loads(connection.getresponse().read())["event"]
    connection.close()
    assert event["rawQueryString"] == raw


# --- 3. headers API Gateway adds; the events against AWS's samples, key by key ---


def test_the_http_event_has_the_keys_of_aws_sample_with_the_headers_api_gateway_adds(faults):
    """aws-lambda-go `events/testdata/apigw-v2-request-no-authorizer.json` (tests/events/http-get.json):
    the client sent accept, content-length, host and user-agent; API Gateway added `x-amzn-trace-id`
    (`Root=1-<8 hex>-<24 hex>`), `x-forwarded-for`, `x-forwarded-port` and `x-forwarded-proto`."""
    connection = http.client.HTTPConnection("127.0.0.1", faults.port, timeout=10)
    connection.putrequest("GET", "/", skip_host=True, skip_accept_encoding=True)
    for name, value in (("Host", f"127.0.0.1:{faults.port}"), ("Accept", "*/*"), ("Content-Length", "0"), ("User-Agent", "curl/7.58.0")):
        connection.putheader(name, value)
    connection.endheaders()
    event = json.loads(connection.getresponse().read())["event"]
    connection.close()
    same_keys(event, load_event("http-get"))
    headers = event["headers"]
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", headers["x-amzn-trace-id"])
    assert abs(int(headers["x-amzn-trace-id"][7:15], 16) - time.time()) < 60, "the trace id starts with the time"
    assert (headers["x-forwarded-for"], headers["x-forwarded-port"], headers["x-forwarded-proto"]) == ("127.0.0.1", str(faults.port), "http")


def test_a_client_sent_x_forwarded_for_gets_the_client_ip_appended(faults):
    """The proxy convention API Gateway follows: the connecting IP is appended to `X-Forwarded-For`."""
    _, _, answer = post_event(faults, b"", {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "gopher"})
    headers = json.loads(answer)["event"]["headers"]
    assert headers["x-forwarded-for"] == "203.0.113.9, 127.0.0.1" and headers["x-forwarded-proto"] == "http"


def test_the_connect_event_has_the_keys_of_aws_capture(faults):
    """Powertools `tests/events/apiGatewayWebSocketApiConnect.json` (tests/events/ws-connect.json), a
    2024 capture: its client sent Host, Sec-WebSocket-Extensions/Key/Version and no User-Agent. API
    Gateway added X-Amzn-Trace-Id and X-Forwarded-For/Port/Proto, passed no Connection or Upgrade, and
    `requestContext` has no `messageId`, `disconnectStatusCode` or `disconnectReason`."""
    before = records(faults, "connect")
    client = RawSocket(faults.port, [("Host", f"127.0.0.1:{faults.port}"), ("Sec-WebSocket-Extensions", "x-unknown-extension")])
    [event] = newest_record(faults, "connect", before)
    client.close()
    same_keys(event, load_event("ws-connect"))
    assert set(event["multiValueHeaders"]) == set(event["headers"])
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24}", event["headers"]["X-Amzn-Trace-Id"])
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1" and event["headers"]["X-Forwarded-Port"] == str(faults.port)


# --- 4. the Lambda context ---


def test_the_context_is_built_as_awslambdaric_builds_it(faults):
    """aws/aws-lambda-python-runtime-interface-client `awslambdaric/lambda_context.py`: `aws_request_id`
    is Lambda's invoke id (a UUID), names and `memory_limit_in_mb` (a string) come from the environment,
    `identity` is a CognitoIdentity whose fields are None, `client_context` is None."""
    first = json.loads(post_event(faults, b"")[2])
    second = json.loads(post_event(faults, b"")[2])
    context = first["context"]
    assert str(uuid.UUID(context["aws_request_id"])) == context["aws_request_id"]
    assert context["aws_request_id"] != first["event"]["requestContext"]["requestId"], "two ids, as on AWS"
    assert context["aws_request_id"] != second["context"]["aws_request_id"], "a fresh id per invocation"
    assert context["memory_limit_in_mb"] == "256"
    assert (context["function_name"], context["function_version"]) == ("faults-testing-http-post-event", "$LATEST")
    assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:faults-testing-http-post-event"
    assert context["log_group_name"] == "/aws/lambda/faults-testing-http-post-event"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", context["log_stream_name"])
    assert context["identity"] == {"type": "CognitoIdentity", "cognito_identity_id": None, "cognito_identity_pool_id": None}
    assert context["client_context"] is None
    assert 4000 < context["remaining_ms"] <= 5000, "counts down from the function's timeout (5 s)"


# --- 5. handler results ---


def test_a_bare_string_returned_is_the_body_as_it_is(faults):
    """AWS: "Lambda function response for format 2.0": a response that is not an object with statusCode
    becomes a 200 `application/json` response whose body is what the function returned."""
    status, headers, body = post_event(faults, b"", query="?as=string")
    assert (status, body) == (200, b"hello") and headers["Content-Type"].startswith("application/json")


def test_multi_value_headers_are_dropped_with_one_warning_naming_the_function(faults):
    """AWS: the format 2.0 response has `statusCode`, `headers`, `cookies`, `body`, `isBase64Encoded`;
    `multiValueHeaders` belongs to format 1.0 and is ignored."""
    for _ in range(2):
        status, headers, body = post_event(faults, b"", query="?as=multi")
        assert (status, body, headers["x-single"]) == (200, b"multi", "1") and "x-multi" not in headers
    wait_until(lambda: "http-post-event returns multiValueHeaders" in faults.output())
    assert faults.output().count("returns multiValueHeaders") == 1


# --- 8. $connect and $disconnect details ---


@pytest.mark.parametrize("user_agent", [None, "probe/1.0"])
def test_identity_has_a_user_agent_only_when_the_client_sent_one(faults, user_agent):
    """Powertools' captures (tests/events/ws-connect.json, ws-message-no-user-agent.json): a client
    without User-Agent gives `identity: {sourceIp}`; aws-lambda-go's browser capture
    (tests/events/ws-message.json) has `userAgent` too."""
    headers = [("Host", f"127.0.0.1:{faults.port}")] + ([("User-Agent", user_agent)] if user_agent else [])
    before = records(faults, "connect")
    client = RawSocket(faults.port, headers)
    [connect] = newest_record(faults, "connect", before)
    client.send({"do": "echo"})
    message = json.loads(client.message())["event"]
    client.close()
    expected = {"sourceIp": "127.0.0.1", **({"userAgent": user_agent} if user_agent else {})}
    assert connect["requestContext"]["identity"] == expected == message["requestContext"]["identity"]
    same_keys(message, load_event("ws-message" if user_agent else "ws-message-no-user-agent"))


def test_a_close_frame_without_status_gives_1005_with_aws_reason(faults):
    """Powertools `tests/events/apiGatewayWebSocketApiDisconnect.json` (tests/events/ws-disconnect-1005.json):
    a close frame without a status code gives `disconnectStatusCode` 1005 and `disconnectReason`
    "Client-side close frame status not set"."""
    client = RawSocket(faults.port)
    client.send({"do": "echo"})
    cid = json.loads(client.message())["event"]["requestContext"]["connectionId"]
    client.sock.sendall(frame(CLOSE, b""))
    [event] = wait_until(lambda: faults.read_records("disconnect", cid), what="$disconnect")
    client.close()
    same_keys(event, load_event("ws-disconnect-1005"))
    context = event["requestContext"]
    assert (context["disconnectStatusCode"], context["disconnectReason"]) == (1005, "Client-side close frame status not set")


# --- 9. frames ---


@pytest.mark.parametrize("size, frames", [(32 * 1024, [32 * 1024]), (32 * 1024 + 1, [32 * 1024, 1]), (70_000, [32 * 1024, 32 * 1024, 70_000 - 64 * 1024])])
def test_a_management_api_post_over_32_kb_reaches_the_client_in_32_kb_fragments(faults, size, frames):
    """AWS: "Quotas for configuring and running a WebSocket in API Gateway": messages over the 32 KB
    frame size are split into frames of at most 32 KB; "this applies to @connections commands"."""
    client = RawSocket(faults.port)
    client.send({"do": "echo"})
    cid = json.loads(client.message())["event"]["requestContext"]["connectionId"]
    data = bytes(ord("a") + i % 26 for i in range(size))
    management(faults).post_to_connection(ConnectionId=cid, Data=data)
    seen, payload = [], b""
    while True:
        fin, opcode, chunk = client.frame()
        assert opcode == (TEXT if not seen else CONTINUATION)
        seen.append(len(chunk))
        payload += chunk
        if fin:
            break
    client.close()
    assert seen == frames and payload == data


def test_an_unmasked_client_frame_closes_with_1002(faults):
    """RFC 6455 §5.1: "a server MUST close the connection upon receiving a frame that is not masked"
    (with 1002, protocol error, §7.4.1)."""
    client = RawSocket(faults.port)
    client.send({"do": "echo"})
    cid = json.loads(client.message())["event"]["requestContext"]["connectionId"]
    client.sock.sendall(bytes([0x80 | TEXT, 5]) + b"hello")
    fin, opcode, payload = client.frame()
    client.close()
    assert opcode == CLOSE and struct.unpack(">H", payload[:2])[0] == 1002
    [event] = wait_until(lambda: faults.read_records("disconnect", cid), what="$disconnect")
    assert event["requestContext"]["disconnectStatusCode"] == 1002


# --- 6 and 7: with small limits ---

SMALL = {"SANDBOX_SEND_BUFFER_BYTES": "65536", "SANDBOX_WS_INTEGRATION_TIMEOUT_SECONDS": "0.5", "SANDBOX_HTTP_INTEGRATION_TIMEOUT_SECONDS": "0.5"}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    sandbox = RunningSandbox(copy_fixture("faults", tmp_path_factory.mktemp("app")), env=SMALL, args=("--no-reload",))
    try:
        # Workers warm up after "ready"; on a busy machine a cold start outlasts a 0.5 s integration
        # timeout (as it would on AWS), so wait until $connect and $default answer within it.
        wait_until(lambda: _echoes(sandbox), 30, "a warm $connect and $default")
        yield sandbox
    finally:
        sandbox.stop()


def _echoes(sandbox) -> bool:
    try:
        client = websocket.create_connection(sandbox.ws_url, timeout=5)
    except (websocket.WebSocketException, OSError):
        return False
    try:
        client.send(json.dumps({"do": "echo"}))
        return "event" in json.loads(client.recv())
    except (websocket.WebSocketException, OSError, ValueError):
        return False
    finally:
        client.close()


def test_a_client_that_stops_reading_gets_429_and_stays_connected(small):
    """botocore `apigatewaymanagementapi` PostToConnection: LimitExceededException (429), "the WebSocket
    client side buffer is full". The connection stays open, and nothing sent before is lost."""
    client = RawSocket(small.port, receive_buffer=4096)
    client.send({"do": "echo"})
    cid = json.loads(client.message())["event"]["requestContext"]["connectionId"]
    api = management(small)
    chunk = b"x" * 16384
    delivered = 0
    for _ in range(400):  # loopback buffers take a few MB before the sandbox's own queue fills
        try:
            api.post_to_connection(ConnectionId=cid, Data=chunk)
            delivered += 1
        except ClientError as error:
            assert error.response["Error"]["Code"] == "LimitExceededException"
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            break
    else:
        pytest.fail("the Management API never answered 429 to a client that does not read")
    assert api.get_connection(ConnectionId=cid)["Identity"]["SourceIp"] == "127.0.0.1", "still open"
    assert not small.read_records("disconnect", cid), "no $disconnect: the client is still there"
    assert delivered >= 65536 // len(chunk), "the sandbox queued its limit before refusing"
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # now read it all, quickly
    for _ in range(delivered):
        assert client.message() == chunk, "everything answered 200 arrives"
    api.post_to_connection(ConnectionId=cid, Data=b"after")
    assert client.message() == b"after"
    client.close()


class QueuedTransport:
    """Stands in for the client's transport: only how much is queued matters here."""

    def __init__(self, queued: int):
        self.queued = queued

    def get_write_buffer_size(self) -> int:
        return self.queued


class SentSocket:
    def __init__(self):
        self.sent: list[str] = []

    async def send_str(self, data: str) -> None:
        self.sent.append(data)


@pytest.mark.parametrize("queued, refused", [(65536, False), (65537, True)])
def test_sends_are_refused_only_once_more_than_the_buffer_limit_is_queued(queued, refused):
    """The exact boundary of `send_buffer_bytes` (the sandbox's own figure: AWS publishes no client
    buffer size): at the limit a send still goes out; one byte over, it is refused (POST: 429).
    Over real sockets the kernel's buffers hide the boundary, hence this unit test."""
    socket_ = SentSocket()
    connection = Connection(peer=None, socket=socket_, transport=QueuedTransport(queued), buffer_bytes=65536, frame_bytes=32 * 1024)
    if refused:
        with pytest.raises(ClientBufferFull):
            asyncio.run(connection.send("hi"))
    else:
        asyncio.run(connection.send("hi"))
    assert socket_.sent == ([] if refused else ["hi"])


def test_an_http_route_past_the_integration_timeout_gives_503_while_the_function_runs_on(small):
    """AWS: "Quotas for configuring and running an HTTP API": integration timeout 30 s. On expiry HTTP
    APIs answer 503 `{"message":"Service Unavailable"}` (no AWS page states the body; reported in
    anomalyco/sst#2232 and serverless/serverless#11222); the Lambda function runs on."""
    started = time.monotonic()
    status, _, body = post_event(small, b"", query="?sleep=1.5&token=http")
    waited = time.monotonic() - started
    assert (status, json.loads(body)) == (503, {"message": "Service Unavailable"})
    assert 0.5 <= waited < 1.4, f"answered after {waited:.2f} s, not at the integration timeout"
    wait_until(lambda: (small.records / "http-slept-http.json").exists(), 5, "the function to finish on its own")


def test_a_websocket_route_past_the_integration_timeout_sends_a_timeout_frame_and_runs_on(small):
    """AWS: "Quotas for configuring and running a WebSocket in API Gateway": integration timeout 29 s.
    The client then gets `{"message": "Endpoint request timed out", "connectionId", "requestId"}`
    (reported from AWS in Kludex/mangum#128 and aws/chalice#1406); the function runs on and can still post."""
    client = RawSocket(small.port)
    client.send({"do": "sleep", "seconds": 1.2})
    started = time.monotonic()
    timed_out = json.loads(client.message())
    assert time.monotonic() - started < 1.1
    assert timed_out["message"] == "Endpoint request timed out" and set(timed_out) == {"message", "connectionId", "requestId"}
    assert json.loads(client.message())["slept"] == 1.2, "the function ran on and posted"
    client.close()


def test_connect_past_the_integration_timeout_is_refused_at_the_timeout(small):
    """AWS: "Quotas for configuring and running a WebSocket in API Gateway": the 29 s integration timeout
    holds for every route, `$connect` included (here set to 0.5 s through its SANDBOX_ variable). No AWS
    page states the status a timed-out `$connect` refuses the handshake with; the sandbox answers 502, as
    for any `$connect` integration failure. The function runs on to its own timeout (this fixture's
    `$connect` has `timeout 1`, so a sandbox waiting for the function would answer after 1 s)."""
    started = time.monotonic()
    status = handshake_status(small, "?sleep=1.5")
    waited = time.monotonic() - started
    assert status == 502
    assert 0.5 <= waited < 0.9, f"refused after {waited:.2f} s, not at the integration timeout"
    small.wait_for_output("failed (no response within the integration timeout (0.5 s)): 502")


def test_a_function_whose_timeout_outlasts_its_api_is_warned_about_at_start(tmp_path):
    """The integration timeouts above (30 s HTTP, 29 s WebSocket): a function timeout over them means the
    client gives up first. Said once, from the manifest, at start; no client waits on `$disconnect`."""
    app = copy_fixture("faults", tmp_path)
    (app / "src/http/post-event/config.arc").write_text("@aws\ntimeout 31\n")
    (app / "src/ws/disconnect/config.arc").write_text("@aws\ntimeout 60\n")
    sandbox = RunningSandbox(app, args=("--no-reload",))
    try:
        output = sandbox.output()
    finally:
        sandbox.stop()
    assert output.count("warning: ") == output.count("warning: app.arc asks for") + 1, output
    assert "config.arc:2: POST /event has timeout 31 s, but API Gateway's HTTP API answers the client with an error after 30 s" in output
    assert "$disconnect has timeout" not in output
