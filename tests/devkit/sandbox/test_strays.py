"""Ctrl-C stops what handlers started, even a daemon that left its worker's process group and session.

No AWS source: on Lambda an execution environment is frozen and later destroyed with everything in it;
the sandbox's equivalent is to leave no process behind when it stops.
"""

from __future__ import annotations

import json
import os
import signal

import psutil
import websocket

from tests.support.sandbox import RunningSandbox, copy_fixture, wait_until


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_daemonised_grandchild_of_a_handler_dies_with_ctrl_c(tmp_path):
    sandbox = RunningSandbox(copy_fixture("faults", tmp_path), args=("--no-reload",))
    daemon = None
    try:
        client = websocket.create_connection(sandbox.ws_url, timeout=10)
        client.send(json.dumps({"do": "daemon"}))
        daemon = json.loads(client.recv())["daemon"]
        client.close()
        process = psutil.Process(daemon)
        assert os.getsid(daemon) == daemon  # its own session: killing the worker's group misses it
        assert process.ppid() != sandbox.process.pid
        assert sandbox.stop(signal.SIGINT) == 0
        wait_until(lambda: not alive(daemon), 5, "the daemon to be killed")
    finally:
        sandbox.stop()
        if daemon is not None and alive(daemon):
            os.kill(daemon, signal.SIGKILL)
