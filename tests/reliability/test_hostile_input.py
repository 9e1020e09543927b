"""Hostile input against the real app in the real sandbox, at AWS's own limits: each answered precisely,
nothing crashes, nobody else is affected.

Already covered elsewhere, not repeated: "not json", '{"text": ""}' and "{}" replies (tests/app), route
selection for $connect/$disconnect/unknown/non-string actions (tests/devkit/sandbox/test_websocket_api.py),
the 1009 and UTF-8 rules with small limits (test_limits.py), the traversal paths and oversized headers of
test_http_api.py, and never-issued, closed, unsigned-POST and 413 cases of test_management_api.py.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import struct

import pytest

from tests.support.reliability import start_app
from tests.support.sandbox import wait_until
from tests.support.wsclient import BINARY, CLOSE, TEXT, Client, Refused, close_code, connect_retrying, frame

KB = 1024
DEEP = 15_000  # 30 KB: inside one 32 KB frame, far past json's recursion limit


def bad_messages():
    return [
        ("[1, 2, 3]", "must be a JSON object"),
        ('"just a string"', "must be a JSON object"),
        ("null", "must be a JSON object"),
        ('{"text": 5}', '"text" must be a string'),
        ('{"text": null}', '"text" must be a string'),
        ('{"text": ["a"]}', '"text" must be a string'),
        ('{"text": "   \\n\\t "}', '"text" is empty'),
        (json.dumps({"text": "x" * 4001}), '"text" is 4001 characters long; the limit is 4000'),
        ('{"text": ' + "[" * DEEP + "]" * DEEP + "}", "not valid JSON"),
        ('{"text": "a", "x": ' + "[" * DEEP + "]" * DEEP + "}", "not valid JSON"),
        ('{"text": ' + "9" * 5000 + "}", "not valid JSON"),
        ('{"text": 1e999999}', '"text" must be a string'),
        ('{"text": "\\ud800"}', None),  # a lone surrogate: answered, either echoed or refused, never a crash
        ('{"text": "ok"', "not valid JSON"),
        ("\x00\x01\x02", "not valid JSON"),
        (json.dumps({"action": "$disconnect", "text": "still echoed"}), None),
        (json.dumps({"action": "no-such-route", "text": "still echoed"}), None),
        (json.dumps({"action": "broadcast"}), 'no "text" field'),
    ]


@pytest.mark.parametrize("body, problem", bad_messages(), ids=lambda v: v[:30] if isinstance(v, str) else None)
def test_a_bad_message_gets_a_precise_answer_and_the_socket_stays_open(app, body, problem):
    async def scenario():
        client = await connect_retrying(app.port)
        reply = await client.ask(body, timeout=20)
        after = await client.ask({"text": "after"})
        await client.close()
        return reply, after

    reply, after = asyncio.run(scenario())
    if problem is None:
        assert set(reply) - {"from"} in ({"text"}, {"error"}), reply  # `from`: the sender, as the authorizer named them
        if "still echoed" in body:
            assert reply["text"].endswith("Echoing still echoed")
    else:
        assert problem in reply["error"], reply
    assert after["text"].endswith("Echoing after")
    assert "[ERROR]" not in app.output() and "failed (" not in app.output(), "no handler crashed"


CLOSING = [
    ("a message over 128 KB in 32 KB frames", "fragments", 1009),
    ("one frame over 32 KB", "big frame", 1009),
    ("a binary frame", "binary", 1003),
    ("invalid UTF-8 in a text frame", "utf8", 1007),
    ("a frame announcing 2^63 bytes", "huge length", 1009),
]


@pytest.mark.parametrize("what, kind, code", CLOSING, ids=[c[0] for c in CLOSING])
def test_frames_that_break_the_protocol_close_only_their_socket_with_the_right_code(app, what, kind, code):
    async def scenario():
        bystander = await connect_retrying(app.port)
        client = await connect_retrying(app.port)
        await client.ask({"text": "hello"})
        rows_before = len(app.rows())
        if kind == "fragments":
            chunk = b"y" * (32 * KB)
            await client.send_raw(frame(TEXT, chunk, fin=False))
            for _ in range(3):
                await client.send_raw(frame(0x0, chunk, fin=False))
            await client.send_raw(frame(0x0, b"z", fin=True))  # 128 KB + 1
        elif kind == "big frame":
            await client.send_raw(frame(TEXT, b'{"text": "' + b"x" * (32 * KB) + b'"}'))
        elif kind == "binary":
            await client.send_raw(frame(BINARY, b"\x00\x01"))
        elif kind == "utf8":
            await client.send_raw(frame(TEXT, b'{"text": "\xff\xfe"}'))
        elif kind == "huge length":
            await client.send_raw(bytes([0x81, 0x80 | 127]) + struct.pack(">Q", 2**63 - 1) + os.urandom(4))
        opcode, payload = await client.receive(15)
        client.abort()
        assert opcode == CLOSE
        still = await bystander.ask({"text": "unaffected"})
        await bystander.close()
        return close_code(payload), rows_before, still

    got, rows_before, still = asyncio.run(scenario())
    assert got == code
    assert still["text"].endswith("Echoing unaffected")
    wait_until(lambda: len(app.rows()) <= rows_before - 2, 10, "both rows to go")


def test_a_message_of_exactly_128_kb_in_32_kb_frames_is_accepted(app):
    async def scenario():
        client = await connect_retrying(app.port)
        padding = 128 * KB - len(json.dumps({"text": "fits", "pad": ""}))
        body = json.dumps({"text": "fits", "pad": "p" * padding}).encode()
        assert len(body) == 128 * KB
        chunks = [body[i : i + 32 * KB] for i in range(0, len(body), 32 * KB)]
        await client.send_raw(frame(TEXT, chunks[0], fin=False))
        for chunk in chunks[1:-1]:
            await client.send_raw(frame(0x0, chunk, fin=False))
        await client.send_raw(frame(0x0, chunks[-1], fin=True))
        reply = await client.receive_json(20)
        await client.close()
        return reply

    assert asyncio.run(scenario())["text"].endswith("Echoing fits")


@pytest.mark.parametrize(
    "origin",
    ["null", "http://localhost:{port}.evil.example", "https://localhost:{port}", "http://evil.example/http://localhost:{port}", "http://LOCALHOST:{port}x"],
)
def test_connect_from_a_foreign_origin_is_refused_403_and_stores_nothing(app, origin):
    before = app.rows()
    with pytest.raises(Refused) as refused:
        asyncio.run(Client.connect(app.port, headers={"Origin": origin.format(port=app.port)}))
    assert refused.value.status == 403
    assert app.rows() <= before, "no row was stored (earlier tests' rows may still be leaving)"


def test_the_connect_rate_limit_holds_under_a_burst(tmp_path):
    rate = 50
    sandbox = start_app(tmp_path, env={"SANDBOX_NEW_CONNECTIONS_PER_SECOND": str(rate)})

    async def burst():
        loop = asyncio.get_running_loop()
        started = loop.time()
        outcomes = await asyncio.gather(*(Client.connect(sandbox.port, timeout=30) for _ in range(300)), return_exceptions=True)
        elapsed = loop.time() - started
        clients = [o for o in outcomes if isinstance(o, Client)]
        statuses = sorted({o.status for o in outcomes if isinstance(o, Refused)})
        others = [o for o in outcomes if not isinstance(o, (Client, Refused))]
        for client in clients:
            await client.close()
        await asyncio.sleep(1.2)  # not a wait for an event: the bucket refills with time (1 per 1/rate s)
        again = await Client.connect(sandbox.port)
        await again.close()
        return len(clients), statuses, others, elapsed

    try:
        accepted, statuses, others, elapsed = asyncio.run(burst())
        assert others == []
        assert statuses == [429]
        assert rate * 0.8 <= accepted <= rate + rate * elapsed + 1, (accepted, elapsed)
        # The log's own thread writes lines after the clients have their answers: wait for every accepted
        # socket's $disconnect line, which the sandbox logs after that socket's $connect line.
        wait_until(lambda: sandbox.output().count("WS  $disconnect ") >= accepted + 1, 20, "every $disconnect line")
        assert sandbox.output().count("WS  refused: new-connection rate limit") == 300 - accepted
        assert sandbox.output().count("WS  $connect ") == accepted + 1, "refused handshakes never reach $connect"
        wait_until(lambda: not sandbox.rows(), 20, "every row to go")
    finally:
        sandbox.stop()


class TestHttp:
    def request(self, app, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=15)
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            for name, value in (headers or {}).items():
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, response.read()
        except (ConnectionError, http.client.HTTPException):
            return None, b""
        finally:
            connection.close()

    @pytest.mark.parametrize(
        "path",
        [
            "/_static/%252e%252e/app.arc",
            "/_static/..%5capp.arc",
            "/_static/..\\app.arc",
            "/_static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
            "/_static/./../src/shared/config.py",
            "/_static/index.css/../../app.arc",
            "/_static/" + "../" * 50 + "etc/passwd",
            "/_static/%c0%ae%c0%ae/app.arc",
        ],
    )
    def test_static_serves_nothing_outside_public(self, app, path):
        status, body = self.request(app, "GET", path)
        assert status in (400, 404) and b"mywsapp" not in body and b"root:" not in body

    @pytest.mark.parametrize(
        "method, path",
        [("PUT", "/"), ("DELETE", "/"), ("PATCH", "/"), ("POST", "/"), ("POST", "/_static/index.css"), ("DELETE", "/_static/index.css"), ("TRACE", "/")],
    )
    def test_a_method_the_route_does_not_declare_is_404(self, app, method, path):
        status, body = self.request(app, method, path, body=b"")
        assert status == 404 and json.loads(body) == {"message": "Not Found"}

    def test_a_body_over_the_limit_is_413_and_the_sandbox_keeps_serving(self, app):
        status, _ = self.request(app, "GET", "/", body=b"x" * (10 * KB * KB + 1))
        assert status in (413, None)  # 413, or the connection cut while the rest was still being sent
        assert self.request(app, "GET", "/")[0] == 200

    def test_a_flood_of_headers_is_refused_and_the_sandbox_keeps_serving(self, app):
        status, _ = self.request(app, "GET", "/", headers={f"X-H{i}": "v" * 100 for i in range(2000)})
        assert status in (400, 431, None)
        assert self.request(app, "GET", "/")[0] == 200


class TestManagementApi:
    def call(self, app, method, connection_id, body=b"", authorization="AWS4-HMAC-SHA256 Credential=x"):
        connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=15)
        headers = {"Authorization": authorization} if authorization else {}
        connection.request(method, f"/@connections/{connection_id}", body=body, headers=headers)
        response = connection.getresponse()
        result = response.status, response.getheader("x-amzn-ErrorType"), response.read()
        connection.close()
        return result

    @pytest.mark.parametrize("method", ["GET", "DELETE", "POST"])
    @pytest.mark.parametrize("authorization", [None, "Bearer abc", "AWS4-HMAC-SHA1 x", "aws4-hmac-sha256 x"])
    def test_an_unsigned_request_is_refused_403_whatever_the_method(self, app, method, authorization):
        status, kind, _ = self.call(app, method, "AnyIdAtAllAAAA=", authorization=authorization)
        assert (status, kind) == (403, "MissingAuthenticationTokenException")

    @pytest.mark.parametrize("connection_id", ["%2F..%2F..", "..", "%E2%98%83", "a%00b", "x" * 5000, "%3D%3D%3D", "%25"])
    def test_a_malformed_id_is_gone_410(self, app, connection_id):
        status, kind, _ = self.call(app, "POST", connection_id, body=b"x")
        assert (status, kind) == (410, "GoneException")

    @pytest.mark.parametrize("method", ["PUT", "PATCH"])
    def test_a_method_the_api_lacks_is_404(self, app, method):
        assert self.call(app, method, "AnyIdAtAllAAAA=")[:2] == (404, "NotFoundException")

    def test_a_chunked_post_over_128_kb_is_413_without_a_content_length(self, app):
        def post(cid):
            connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=15)
            connection.request(
                "POST", f"/@connections/{cid}", body=iter([b"x" * (64 * KB)] * 3), headers={"Authorization": "AWS4-HMAC-SHA256 x"}, encode_chunked=True
            )
            response = connection.getresponse()
            connection.close()
            return response.status, response.getheader("x-amzn-ErrorType")

        async def scenario():
            before = app.rows()
            client = await connect_retrying(app.port)
            [cid] = app.rows() - before
            answer = await asyncio.to_thread(post, cid)
            client.abort()
            return answer

        assert asyncio.run(scenario()) == (413, "PayloadTooLargeException")
