"""Bounded invocation queues: a flooding socket is not read while its messages wait, a function's full
queue is throttled, and a burst of slow calls runs side by side up to the function's concurrency.

Sources: the Lambda developer guide, "Understanding Lambda function scaling": beyond its concurrency a
synchronous invocation "fail[s] with a throttling error (429 status code)" (`TooManyRequestsException`,
"Rate Exceeded."), and Lambda scales one function to many execution environments at once. AWS
Knowledge Center, "How do I troubleshoot API Gateway internal server errors?" (api-gateway-internal-
server-error): when the backend is throttled API Gateway answers with an internal server error, which for
a WebSocket route is the `{"message": "Internal server error", "connectionId", "requestId"}` frame.
AWS has no per-connection in-flight limit; `connection_in_flight` is the sandbox's back-pressure.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import websocket

from tests.support.sandbox import fixture_app

KB = 1024


def open_socket(sandbox, timeout: float = 20):
    return websocket.create_connection(sandbox.ws_url, timeout=timeout)


def send_in_frames(client, text: str, frame: int = 32 * KB) -> None:
    """One message in frames of at most `frame` bytes (API Gateway's frame limit)."""
    data = text.encode()
    chunks = [data[i : i + frame] for i in range(0, len(data), frame)]
    for index, chunk in enumerate(chunks):
        opcode = websocket.ABNF.OPCODE_TEXT if index == 0 else websocket.ABNF.OPCODE_CONT
        client.send_frame(websocket.ABNF.create_frame(chunk, opcode, fin=int(index == len(chunks) - 1)))


def sleeps(seconds: float, pad: int = 0) -> str:
    return json.dumps({"do": "sleep", "seconds": seconds, "pad": "p" * pad})


sandbox = fixture_app("faults", scope="function")  # parametrized tests pass extra environment as `param`


def test_a_flood_from_one_socket_keeps_memory_bounded_and_other_echoes_fast(sandbox):
    """128 KB messages as fast as one client can send them, for 4 s, while another client echoes."""
    warm = open_socket(sandbox)
    for _ in range(10):  # start the function's workers first: spawning them is not what is measured
        warm.send(sleeps(0.5))
    assert all("slept" in json.loads(warm.recv()) for _ in range(10))
    process = psutil.Process(sandbox.process.pid)
    baseline = process.memory_info().rss
    stop = threading.Event()
    sent = [0]

    def flood():
        client = open_socket(sandbox, timeout=2)
        body = sleeps(0.02, pad=128 * KB - 60)
        try:
            while not stop.is_set():
                send_in_frames(client, body)
                sent[0] += 1
        except (websocket.WebSocketTimeoutException, OSError):
            pass  # the sandbox stopped reading us: that is the point
        finally:
            client.shutdown()

    flooder = threading.Thread(target=flood)
    flooder.start()
    peak, echo_seconds = baseline, []
    probe = open_socket(sandbox)
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        started = time.perf_counter()
        probe.send(json.dumps({"do": "echo"}))
        assert json.loads(probe.recv())["route"] == "$default"
        echo_seconds.append(time.perf_counter() - started)
        peak = max(peak, process.memory_info().rss)
        time.sleep(0.1)
    stop.set()
    flooder.join(10)
    print(
        f"flood: {sent[0]} messages of 128 KB sent; RSS {baseline >> 20} -> peak {peak >> 20} MB; "
        f"echo max {max(echo_seconds) * 1000:.0f} ms over {len(echo_seconds)}"
    )
    assert sent[0] >= 10  # the flood really ran
    assert peak - baseline < 64 * KB * KB
    assert max(echo_seconds) < 1.5


@pytest.mark.parametrize("sandbox", [{"SANDBOX_WORKER_CONCURRENCY": "1", "SANDBOX_FUNCTION_QUEUE": "2"}], indirect=True)
def test_beyond_concurrency_plus_queue_the_invocation_is_throttled_as_lambda_does(sandbox):
    client = open_socket(sandbox)
    client.send(sleeps(0.01))
    assert "slept" in json.loads(client.recv())  # the worker exists
    sandbox.wait_for_output("WS  $default")  # and is free again (it replies before it returns)
    for _ in range(4):  # 1 runs, 2 wait (the queue's limit), the 4th is one too many
        client.send(sleeps(1.5))
    replies = [json.loads(client.recv()) for _ in range(4)]
    errors = [r for r in replies if "message" in r]
    assert len(errors) == 1 and errors[0]["message"] == "Internal server error"
    assert sorted(errors[0]) == ["connectionId", "message", "requestId"]
    assert sum("slept" in r for r in replies) == 3
    sandbox.wait_for_output("TooManyRequestsException: Rate Exceeded.")


@pytest.mark.parametrize("sandbox", [{"SANDBOX_CONNECTION_IN_FLIGHT": "2"}], indirect=True)
def test_a_socket_is_not_read_while_its_in_flight_limit_is_reached(sandbox):
    client = open_socket(sandbox)
    for _ in range(3):  # warm three workers so only the in-flight limit orders what follows
        client.send(sleeps(0.01))
    [client.recv() for _ in range(3)]
    started = time.perf_counter()
    for _ in range(3):
        client.send(sleeps(1))
    arrivals = []
    for _ in range(3):
        client.recv()
        arrivals.append(time.perf_counter() - started)
    assert arrivals[1] < 1.8  # the limit (2) run side by side
    assert arrivals[2] >= 1.9  # the third waited for one of them: limit + 1 was not read


@pytest.mark.parametrize("sandbox", [None], indirect=True)
def test_a_burst_of_slow_calls_runs_side_by_side(sandbox):
    """Ten 1.5-second calls (the function's timeout is 2 s) from ten sockets, once the workers are warm:
    about 1.5 s at the default concurrency (10); 7.5 s at the old fixed 2."""
    clients = [open_socket(sandbox) for _ in range(10)]
    for client in clients:  # cold starts (and each worker's first boto3 client) are not what is measured
        client.send(sleeps(0.5))
    assert all("slept" in json.loads(client.recv()) for client in clients)

    def call(client):
        client.send(sleeps(1.5))
        return json.loads(client.recv())

    started = time.perf_counter()
    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(call, clients))
    seconds = time.perf_counter() - started
    print(f"10 x 1.5 s calls: {seconds:.1f} s")
    assert all(r.get("slept") == 1.5 for r in replies), replies
    assert seconds < 3.5
