"""API Gateway's limits, set small through SANDBOX_* variables, against the real sandbox."""

import json
import time
import urllib.error
import urllib.request

import pytest
import websocket

from devkit.sandbox import limits
from tests.support.sandbox import RunningSandbox, copy_fixture, fixture_app, wait_until
from tests.support.sockets import ask, connect, connection_id, handshake_status, read_close

SMALL = {
    "SANDBOX_FRAME_BYTES": "1024",
    "SANDBOX_MESSAGE_BYTES": "4096",
    "SANDBOX_IDLE_SECONDS": "1.5",
    "SANDBOX_NEW_CONNECTIONS_PER_SECOND": "5",
    "SANDBOX_HTTP_BODY_BYTES": "1000",
}


small = fixture_app("faults", env=SMALL)


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
    # "Quotas for configuring and running a WebSocket in API Gateway" (29 s) and "... an HTTP API" (30 s)
    assert (defaults.ws_integration_timeout_seconds, defaults.http_integration_timeout_seconds) == (29, 30)


def test_a_bad_override_is_named():
    with pytest.raises(ValueError, match="SANDBOX_IDLE_SECONDS='soon'"):
        limits.from_environment({"SANDBOX_IDLE_SECONDS": "soon"})


def test_only_the_scale_out_wait_may_be_zero():
    """0 there means "start a worker whenever none is free"; a zero limit anywhere else is refused."""
    assert limits.from_environment({"SANDBOX_WORKER_SCALE_AFTER_SECONDS": "0"}).worker_scale_after_seconds == 0
    with pytest.raises(ValueError, match="SANDBOX_IDLE_SECONDS='0': expected a positive number"):
        limits.from_environment({"SANDBOX_IDLE_SECONDS": "0"})


def text_of_length(length: int) -> str:
    """An echo request of exactly `length` bytes (ASCII, so bytes and characters agree)."""
    padding = length - len(json.dumps({"do": "echo", "pad": ""}))
    body = json.dumps({"do": "echo", "pad": "x" * padding})
    assert len(body.encode()) == length
    return body


def send_in_frames(ws, body: str, size: int = 1000) -> None:
    """`body` as one message in frames of at most `size` bytes (each within the frame limit)."""
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    for index, chunk in enumerate(chunks):
        opcode = websocket.ABNF.OPCODE_TEXT if index == 0 else websocket.ABNF.OPCODE_CONT
        ws.send_frame(websocket.ABNF.create_frame(chunk, opcode, fin=int(index == len(chunks) - 1)))


class TestSizes:
    """API Gateway: a frame over 32 KB or a message over 128 KB closes the socket with 1009; exactly the
    limit passes ("Maximum frame size: 32 KB", "WebSocket message payload size: 128 KB", in "Amazon API
    Gateway quotas for configuring and running a WebSocket API"). Here the limits are 1,024 and 4,096 bytes."""

    def test_a_frame_of_exactly_the_limit_passes(self, small):
        ws = connect_when_allowed(small)
        body = text_of_length(1024)
        reply = ask(ws, body)
        assert reply["route"] == "$default" and reply["event"]["body"] == body
        ws.close()

    def test_a_frame_one_byte_over_the_limit_closes_with_1009(self, small):
        ws = connect_when_allowed(small)
        cid = connection_id(ws)
        ws.send(text_of_length(1025))
        assert read_close(ws)[0] == 1009
        assert disconnect_status(small, cid)[0] == 1009

    def test_a_message_of_exactly_the_limit_in_small_frames_is_reassembled(self, small):
        ws = connect_when_allowed(small)
        body = text_of_length(4096)
        send_in_frames(ws, body)
        assert json.loads(ws.recv())["event"]["body"] == body
        ws.close()

    def test_a_message_one_byte_over_the_limit_in_small_frames_closes_with_1009(self, small):
        ws = connect_when_allowed(small)
        cid = connection_id(ws)
        try:
            send_in_frames(ws, text_of_length(4097))
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

    @pytest.mark.parametrize("size, status", [(1000, 201), (1001, 413)], ids=["at the limit", "one byte over"])
    def test_the_http_body_limit_is_exact(self, small, size, status):
        """HTTP API: a request payload over 10 MB answers 413 ("Payload size", in "Quotas for configuring
        and running an HTTP API"); here the limit is 1,000 bytes. The fixture's POST /echo answers 201."""
        request = urllib.request.Request(small.url + "/echo", data=b"x" * size, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                assert (response.status, len(response.read())) == (status, size)
        except urllib.error.HTTPError as refused:
            assert refused.code == status


class TestTime:
    """The rules themselves are tested at their boundaries with a fake clock (test_clocks.py); these
    check that the running sandbox applies them on its own, with the limits set small."""

    def test_an_idle_socket_is_closed_with_1001_going_away(self, small):
        ws = connect_when_allowed(small)
        cid = connection_id(ws)
        started = time.monotonic()
        assert read_close(ws) == (1001, "Going away")
        assert time.monotonic() - started >= 1.5 - 0.1, "not before the idle limit"
        assert disconnect_status(small, cid) == (1001, "Going away")


def test_new_connections_over_the_rate_are_refused_with_429_and_allowed_again_after(small):
    statuses = [handshake_status(small) for _ in range(12)]  # the bucket holds at most 5
    assert 429 in statuses
    wait_until(lambda: handshake_status(small) == 101, 5, "the bucket to refill")


def test_a_function_runs_at_most_worker_concurrency_invocations_at_once_and_the_next_waits(tmp_path):
    """No AWS source: Lambda scales a function to 1,000 environments; the sandbox caps it at
    `worker_concurrency` (SANDBOX_WORKER_CONCURRENCY, here 2) and queues the rest instead of throttling
    them. (Otherwise default limits: the small ones would close these sockets for idleness while they wait.)"""
    with RunningSandbox(copy_fixture("faults", tmp_path), env={"SANDBOX_WORKER_CONCURRENCY": "2"}, args=("--no-reload",)) as two:
        runs = _sleep_on_three_sockets(two)
    assert len({run["pid"] for run in runs}) == 2, "two workers at once, never a third"
    first_done = min(run["ended"] for run in runs[:2])
    assert runs[2]["started"] >= first_done - 0.05, "the third waited for a worker to finish"


def _sleep_on_three_sockets(sandbox) -> list[dict]:
    """Three sockets each ask `$default` to sleep 1.2 s: each run's pid and its start and end (epoch
    seconds, from the handler itself), in the order they started."""
    sockets = [connect(sandbox) for _ in range(3)]
    for ws in sockets:
        ws.settimeout(20)
        ws.send(json.dumps({"do": "sleep", "seconds": 1.2}))  # within ws/default's 2 s timeout
    runs = []
    for ws in sockets:
        reply = json.loads(ws.recv())
        assert "pid" in reply, reply
        runs.append(reply)
        ws.close()
    return sorted(runs, key=lambda run: run["started"])


def test_fast_invocations_share_the_first_two_workers_and_a_slow_one_adds_a_worker(tmp_path):
    """No AWS source (Lambda adds an environment for every concurrent request): the sandbox starts a
    function's third worker only for an invocation that waited `worker_scale_after_seconds` for one,
    so a burst of fast calls costs no new processes, and a slow one still scales out."""
    env = {"SANDBOX_WORKER_SCALE_AFTER_SECONDS": "0.5"}
    with RunningSandbox(copy_fixture("faults", tmp_path), env=env, args=("--no-reload",)) as sandbox:
        sockets = [connect(sandbox) for _ in range(10)]
        pids = set()
        for _ in range(5):  # ten at once, five times: each waits well under 0.5 s for a worker
            for ws in sockets:
                ws.send(json.dumps({"do": "pid"}))
            pids |= {json.loads(ws.recv())["pid"] for ws in sockets}
        assert len(pids) <= 2, f"fast calls started {len(pids)} workers"
        for ws in sockets[:3]:  # three 1.5 s calls: the third waits 0.5 s, then gets a worker of its own
            ws.settimeout(20)
            ws.send(json.dumps({"do": "sleep", "seconds": 1.5}))  # within ws/default's 2 s timeout
        replies = [json.loads(ws.recv()) for ws in sockets[:3]]
        assert all("started" in reply for reply in replies), replies
        runs = sorted(replies, key=lambda run: run["started"])
        assert len({run["pid"] for run in runs}) == 3, "the waiting call got a third worker"
        assert runs[2]["started"] < runs[0]["ended"], "without waiting for the first two to finish"
        for ws in sockets:
            ws.close()


def test_a_queue_of_fast_calls_waiting_past_scale_after_adds_no_worker_while_workers_come_free(tmp_path):
    """No AWS source (Lambda adds an environment per concurrent request): forty 20 ms calls at once
    keep two workers busy for about 0.4 s, so the last ones wait longer than `worker_scale_after_seconds`
    (0.15 s); but a worker comes free every few milliseconds, and another process would only compete
    for the same cores, so no third worker starts."""
    env = {"SANDBOX_WORKER_SCALE_AFTER_SECONDS": "0.15"}
    with RunningSandbox(copy_fixture("faults", tmp_path), env=env, args=("--no-reload",)) as sandbox:
        sockets = [connect(sandbox) for _ in range(20)]
        for ws in sockets:
            ws.settimeout(20)
        for ws in sockets[:2]:  # warm both first workers: a worker's first call (its boto3 client) is slow
            ws.send(json.dumps({"do": "pid"}))
        assert all("pid" in json.loads(ws.recv()) for ws in sockets[:2])
        started = time.monotonic()
        for _ in range(2):
            for ws in sockets:
                ws.send(json.dumps({"do": "sleep", "seconds": 0.02}))
        replies = [json.loads(ws.recv()) for ws in sockets for _ in range(2)]
        waited = time.monotonic() - started
        assert all("pid" in reply for reply in replies), replies
        assert waited > 0.15 * 2, f"the queue drained in {waited:.2f} s: no call waited past scale_after"
        assert len({reply["pid"] for reply in replies}) <= 2, "a third worker started for fast calls"
        for ws in sockets:
            ws.close()
