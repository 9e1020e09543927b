"""API Gateway's limits, set small through SANDBOX_* variables, against the real sandbox."""

import json
import time

import pytest
import websocket

from devkit.sandbox import limits
from tests.devkit.sandbox.test_websocket_api import ask, connect, connection_id, handshake_status, read_close
from tests.support.sandbox import RunningSandbox, copy_fixture, wait_until

SMALL = {
    "SANDBOX_FRAME_BYTES": "1024",
    "SANDBOX_MESSAGE_BYTES": "4096",
    "SANDBOX_IDLE_SECONDS": "1.5",
    "SANDBOX_MAX_CONNECTION_SECONDS": "4",
    "SANDBOX_NEW_CONNECTIONS_PER_SECOND": "5",
    "SANDBOX_HTTP_BODY_BYTES": "1000",
}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    sandbox = RunningSandbox(copy_fixture("faults", tmp_path_factory.mktemp("app")), env=SMALL, args=("--no-reload",))
    try:
        yield sandbox
    finally:
        sandbox.stop()


def connect_when_allowed(sandbox, **options):
    """Connect, waiting out the small new-connection rate limit of this module's sandbox."""
    deadline = time.monotonic() + 5
    while True:
        try:
            return connect(sandbox, **options)
        except websocket.WebSocketBadStatusException as refused:
            if refused.status_code != 429 or time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def disconnect_status(sandbox, cid) -> tuple[int, str]:
    [event] = wait_until(lambda: sandbox.read_records("disconnect", cid), what="$disconnect")
    return event["requestContext"]["disconnectStatusCode"], event["requestContext"]["disconnectReason"]


def test_defaults_are_aws_limits():
    defaults = limits.Limits()
    assert (defaults.message_bytes, defaults.frame_bytes) == (128 * 1024, 32 * 1024)
    assert (defaults.idle_seconds, defaults.max_connection_seconds) == (600, 7200)
    assert (defaults.new_connections_per_second, defaults.post_bytes) == (500, 128 * 1024)


def test_a_bad_override_is_named():
    with pytest.raises(ValueError, match="SANDBOX_IDLE_SECONDS='soon'"):
        limits.from_environment({"SANDBOX_IDLE_SECONDS": "soon"})


class TestSizes:
    def test_a_frame_at_the_limit_passes(self, small):
        ws = connect_when_allowed(small)
        body = json.dumps({"do": "echo", "pad": "x" * (1024 - 30)})
        assert len(body) <= 1024
        assert ask(ws, body)["route"] == "$default"
        ws.close()

    def test_a_frame_over_the_limit_closes_with_1009(self, small):
        ws = connect_when_allowed(small)
        cid = connection_id(ws)
        ws.send(json.dumps({"do": "echo", "pad": "x" * 1100}))
        assert read_close(ws)[0] == 1009
        assert disconnect_status(small, cid)[0] == 1009

    def test_a_fragmented_message_within_limits_is_reassembled(self, small):
        ws = connect_when_allowed(small)
        body = json.dumps({"do": "echo", "pad": "y" * 3000})
        chunks = [body[i:i + 1000] for i in range(0, len(body), 1000)]
        ws.send_frame(websocket.ABNF.create_frame(chunks[0], websocket.ABNF.OPCODE_TEXT, fin=0))
        for chunk in chunks[1:-1]:
            ws.send_frame(websocket.ABNF.create_frame(chunk, websocket.ABNF.OPCODE_CONT, fin=0))
        ws.send_frame(websocket.ABNF.create_frame(chunks[-1], websocket.ABNF.OPCODE_CONT, fin=1))
        assert json.loads(ws.recv())["event"]["body"] == body
        ws.close()

    def test_a_message_over_the_limit_in_small_frames_closes_with_1009(self, small):
        ws = connect_when_allowed(small)
        cid = connection_id(ws)
        frames = [websocket.ABNF.create_frame("z" * 1000, websocket.ABNF.OPCODE_TEXT, fin=0)]
        frames += [websocket.ABNF.create_frame("z" * 1000, websocket.ABNF.OPCODE_CONT, fin=0) for _ in range(5)]
        frames += [websocket.ABNF.create_frame("z", websocket.ABNF.OPCODE_CONT, fin=1)]
        try:
            for frame in frames:
                ws.send_frame(frame)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sandbox closed the socket as soon as the message passed the limit
        assert disconnect_status(small, cid)[0] == 1009

    def test_invalid_utf8_in_a_text_frame_closes_the_socket(self, small):
        ws = connect_when_allowed(small)
        cid = connection_id(ws)
        ws.send_frame(websocket.ABNF(fin=1, opcode=websocket.ABNF.OPCODE_TEXT, data=b"\xff\xfe"))
        code, _ = read_close(ws)
        assert code == 1007
        assert disconnect_status(small, cid)[0] == 1007

    def test_the_http_body_limit_answers_413(self, small):
        import urllib.request

        request = urllib.request.Request(small.url + "/echo", data=b"x" * 1001, method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 413


class TestTime:
    def test_an_idle_socket_is_closed_with_1001_going_away(self, small):
        ws = connect_when_allowed(small)
        cid = connection_id(ws)
        started = time.monotonic()
        assert read_close(ws) == (1001, "Going away")
        assert 1.0 < time.monotonic() - started < 4
        assert disconnect_status(small, cid) == (1001, "Going away")

    def test_activity_keeps_a_socket_open_until_its_maximum_age(self, small):
        ws = connect_when_allowed(small)
        cid = connection_id(ws)
        started = time.monotonic()
        ws.settimeout(10)
        while time.monotonic() - started < 3:
            assert ask(ws, {"do": "echo"})["route"] == "$default"  # never idle for 1.5 s
            time.sleep(0.5)
        assert read_close(ws) == (1001, "Going away")
        assert 3.5 < time.monotonic() - started < 7
        assert disconnect_status(small, cid) == (1001, "Going away")


def test_new_connections_over_the_rate_are_refused_with_429(small):
    time.sleep(1.2)  # let the bucket refill
    statuses = [handshake_status(small) for _ in range(12)]
    assert statuses.count(101) >= 5 and 429 in statuses
