"""`@aws concurrency` in the sandbox: a function's declared reserved concurrency, where lower than the
sandbox's own worker limit, is its worker limit, and an invocation beyond it is refused at once."""

import json
import time

from devkit import manifest
from devkit.sandbox import limits
from tests.support.sandbox import RunningSandbox, copy_fixture
from tests.support.sockets import connect


def _function(app, route_key):
    return manifest.load(app / "app.arc").function(route_key)


def test_declared_concurrency_below_the_sandbox_limit_is_the_worker_limit_with_no_queue(tmp_path):
    app = copy_fixture("faults", tmp_path)
    own = limits.Limits(worker_concurrency=4)
    default = _function(app, "$default")
    assert limits.workers_for(own, default) == {"concurrency": 4, "queue": own.function_queue}  # none declared
    for declared, expected in [
        (3, {"concurrency": 3, "queue": 0}),
        (4, {"concurrency": 4, "queue": own.function_queue}),
        (5, {"concurrency": 4, "queue": own.function_queue}),
    ]:
        (app / "src/ws/default/config.arc").write_text(f"@aws\ntimeout 2\nconcurrency {declared}\n")
        assert limits.workers_for(own, _function(app, "$default")) == expected, declared
    (app / "src/ws/default/config.arc").write_text("@aws\ntimeout 2\nconcurrency unthrottled\n")
    assert limits.workers_for(own, _function(app, "$default")) == {"concurrency": 4, "queue": own.function_queue}


def test_a_message_beyond_the_declared_concurrency_is_refused_while_the_first_runs(tmp_path):
    """Lambda throttles a synchronous invocation beyond a function's reserved concurrency at once
    (429 TooManyRequestsException, the Lambda guide's "Configuring reserved concurrency"); API Gateway
    answers the WebSocket client `Internal server error` (FACTS: a failing integration)."""
    app = copy_fixture("faults", tmp_path)
    (app / "src/ws/default/config.arc").write_text("@aws\ntimeout 2\nconcurrency 1\n")
    with RunningSandbox(app, args=("--no-reload",)) as sandbox:
        first, second = connect(sandbox), connect(sandbox)
        for ws in (first, second):
            ws.settimeout(20)
        first.send(json.dumps({"do": "sleep", "seconds": 1.2}))  # within ws/default's 2 s timeout
        # `pid` answers at once, so the second reaches the function while the first still sleeps
        started = time.monotonic()
        while True:
            second.send(json.dumps({"do": "pid"}))
            reply = json.loads(second.recv())
            if reply.get("message") == "Internal server error":
                break
            assert "pid" in reply, reply  # the first had not started yet: this one ran; try again
            assert time.monotonic() - started < 1.0, "ran beside the first instead of being refused"
        assert "started" in json.loads(first.recv()), "the first ran to its end"
        deadline = time.monotonic() + 10  # its reply is posted just before it returns and frees the worker
        while time.monotonic() < deadline:
            second.send(json.dumps({"do": "pid"}))
            if "pid" in json.loads(second.recv()):
                break
        else:
            raise AssertionError("once free, the function never served again")
        first.close()
        second.close()
