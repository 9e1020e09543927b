"""The open-file limit: raised at start, named in the banner when it stays low, and a refused accept
said once with its reason instead of a traceback per connection.

No AWS source: this is the local process's own limit. macOS caps a soft limit at OPEN_MAX (10240,
sys/syslimits.h) whatever the hard limit says; `raise_open_file_limit` follows that (unit-tested below).
"""

from __future__ import annotations

import json
import resource
import socket
import sys

import pytest
import websocket

from devkit.sandbox import command
from tests.support.sandbox import RunningSandbox, copy_fixture, wait_until


def limited(soft: int, hard: int):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def soft_limit_of(pid: int) -> int:
    with open(f"/proc/{pid}/limits") as limits:
        for line in limits:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no open-file limit in /proc")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_soft_limit_is_raised_to_the_hard_one(tmp_path):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip(f"this machine's hard limit is {hard}: nothing to raise")
    sandbox = RunningSandbox(copy_fixture("faults", tmp_path), args=("--no-reload",), popen={"preexec_fn": limited(256, hard)})
    try:
        assert soft_limit_of(sandbox.process.pid) == hard
        assert "open files" not in sandbox.output()
    finally:
        sandbox.stop()


def test_macos_caps_the_soft_limit_at_open_max(monkeypatch):
    calls = []
    monkeypatch.setattr(command.sys, "platform", "darwin")
    monkeypatch.setattr(command.resource, "getrlimit", lambda _: (256, resource.RLIM_INFINITY))
    monkeypatch.setattr(command.resource, "setrlimit", lambda _, limits: calls.append(limits))
    assert command.raise_open_file_limit() == 10240
    assert calls == [(10240, resource.RLIM_INFINITY)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_low_limit_is_named_and_a_refused_accept_is_said_once_without_a_traceback(tmp_path):
    sandbox = RunningSandbox(copy_fixture("faults", tmp_path), args=("--no-reload",), popen={"preexec_fn": limited(160, 160)})
    held = []
    try:
        assert "warning: at most 160 open files" in sandbox.output()
        for _ in range(200):  # more than the sandbox can accept; the kernel queues them in the backlog
            held.append(socket.create_connection(("127.0.0.1", sandbox.port), timeout=5))
        sandbox.wait_for_output("cannot accept new connections: Too many open files (open-file limit 160)")
        # The database watch cannot open its connection either: named as what it is, not blamed on DynamoDB.
        sandbox.wait_for_output("error: the sandbox is out of file descriptors (Too many open files)", 10)
        for client in held[:150]:
            client.close()
        del held[:150]
        wait_until(lambda: _echoes(sandbox), 20, "an echo once sockets are free again")
        sandbox.wait_for_output("the sandbox can open connections again", 10)
        output = sandbox.output()
        assert output.count("cannot accept new connections") == 1
        assert output.count("out of file descriptors") == 1
        assert "embedded DynamoDB on" not in output, "the database is not blamed"
        assert "Traceback" not in output and "socket.accept() out of system resource" not in output
    finally:
        for client in held:
            client.close()
        sandbox.stop()


def _echoes(sandbox) -> bool:
    try:
        client = websocket.create_connection(sandbox.ws_url, timeout=3)
    except (OSError, websocket.WebSocketException):
        return False
    try:
        client.send(json.dumps({"do": "echo"}))
        return json.loads(client.recv())["route"] == "$default"
    finally:
        client.close()
