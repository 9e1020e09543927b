"""Start-up, hot reload, Ctrl-C and bad set-ups of the real `python -m devkit sandbox` process."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from tests.support.repo import ROOT
from tests.support.sandbox import RunningSandbox, children_of, copy_fixture, holds, session_members, wait_until
from tests.support.sockets import ask, connect, connection_id, read_close


def listening_addresses(port: int) -> set[str]:
    """Local addresses in LISTEN state on `port`, from /proc/net/tcp and tcp6."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:
                found.add(address)
    return found


def test_ctrl_c_closes_every_socket_with_1001_runs_disconnect_and_leaves_no_process(tmp_path):
    sandbox = RunningSandbox(copy_fixture("faults", tmp_path))
    clients = [connect(sandbox) for _ in range(5)]
    ids = [connection_id(ws) for ws in clients]
    for ws in clients:
        ask(ws, {"do": "pid"})
    descendants = children_of(sandbox.process.pid)
    workers = session_members(descendants)  # workers and moto run in sessions of their own
    assert len(descendants) >= 3
    assert sandbox.stop(signal.SIGINT) == 0
    for ws in clients:
        assert read_close(ws) == (1001, "Going away")
    for cid in ids:
        [event] = sandbox.read_records("disconnect", cid)
        assert event["requestContext"]["disconnectStatusCode"] == 1001
    wait_until(lambda: not session_members(descendants | workers), 5, "every child process to exit")
    assert "closed 5 socket(s)" in sandbox.output()


def test_sigterm_stops_it_cleanly_too(tmp_path):
    sandbox = RunningSandbox(copy_fixture("faults", tmp_path))
    descendants = children_of(sandbox.process.pid)
    assert sandbox.stop(signal.SIGTERM) == 0
    wait_until(lambda: not session_members(descendants), 5, "every child process to exit")


def test_an_edit_under_src_applies_on_the_next_message_without_restart(tmp_path):
    app = copy_fixture("faults", tmp_path)
    sandbox = RunningSandbox(app)
    try:
        ws = connect(sandbox)
        assert ask(ws, {"action": "record"})["route"] == "record"
        handler = app / "src" / "ws" / "record" / "index.py"
        handler.write_text(handler.read_text().replace('{"route": "record"', '{"route": "record-v2"'))
        sandbox.wait_for_output("reloaded: src/ws/record/index.py")
        assert ask(ws, {"action": "record"})["route"] == "record-v2"
        shared = app / "src" / "shared" / "recorder.py"
        shared.write_text(
            shared.read_text().replace(
                "def post(connection_id: str, payload) -> None:\n", "def post(connection_id: str, payload) -> None:\n    payload['shared'] = 2\n"
            )
        )
        sandbox.wait_for_output("reloaded: src/shared/recorder.py")
        assert ask(ws, {"action": "record"})["shared"] == 2
        ws.close()
    finally:
        sandbox.stop()


def test_an_edit_of_the_same_size_in_the_same_second_applies_too(tmp_path):
    """No AWS source (Lambda's code is read-only, so no bytecode is ever written next to it): Python
    trusts a cached .pyc whose recorded source mtime (whole seconds) and size match, so a worker that
    wrote one hid the next edit of the same size made within the same second."""
    app = copy_fixture("faults", tmp_path)
    sandbox = RunningSandbox(app)
    try:
        ws = connect(sandbox)
        handler = app / "src" / "ws" / "record" / "index.py"
        assert ask(ws, {"action": "record"})["route"] == "record"
        stat = handler.stat()
        handler.write_text(handler.read_text().replace('{"route": "record"', '{"route": "recorX"'))
        os.utime(handler, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same second, same size as loaded
        sandbox.wait_for_output("reloaded: src/ws/record/index.py")
        assert ask(ws, {"action": "record"})["route"] == "recorX"
        ws.close()
    finally:
        sandbox.stop()


def test_a_handler_that_fails_to_import_is_reported_and_recovers_after_a_fix(tmp_path):
    app = copy_fixture("faults", tmp_path)
    sandbox = RunningSandbox(app)
    try:
        ws = connect(sandbox)
        handler = app / "src" / "ws" / "record" / "index.py"
        good = handler.read_text()
        handler.write_text("this is not python\n")
        sandbox.wait_for_output("reloaded: src/ws/record/index.py")
        assert ask(ws, {"action": "record"})["message"] == "Internal server error"
        sandbox.wait_for_output("Runtime.ImportModuleError")
        handler.write_text(good)
        wait_until(lambda: sandbox.output().count("reloaded: src/ws/record/index.py") >= 2, what="the second reload")
        assert ask(ws, {"action": "record"})["route"] == "record"
        ws.close()
    finally:
        sandbox.stop()


def test_binds_to_loopback_only_by_default_and_prints_a_banner(faults):
    assert listening_addresses(faults.port) <= {"0100007F", "00000000000000000000000001000000"}
    output = faults.output()
    for expected in (
        f"page        http://localhost:{faults.port}",
        f"websocket   ws://localhost:{faults.port}",
        "dynamodb    http://127.0.0.1:",
        "$default     src/ws/default",
    ):
        assert expected in output


def test_warns_when_the_local_python_differs_from_the_runtime(tmp_path):
    app = copy_fixture("faults", tmp_path)
    (app / "app.arc").write_text((app / "app.arc").read_text().replace("runtime python3.11", "runtime python3.13"))
    sandbox = RunningSandbox(app)
    try:
        expected = "warning: app.arc asks for python3.13" if sys.version_info[:2] != (3, 13) else None
        assert (expected in sandbox.output()) if expected else "warning" not in sandbox.output()
    finally:
        sandbox.stop()


def run_cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "devkit", *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_a_busy_port_is_one_clear_line_not_a_traceback(faults):
    result = run_cli("--app", str(faults.app_dir / "app.arc"), "sandbox", "--port", str(faults.port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{faults.port}" in result.stderr and "PORT" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_broken_manifest_is_one_clear_line_not_a_traceback(tmp_path):
    (tmp_path / "app.arc").write_text("@app\nBad Name\n")
    result = run_cli("--app", str(tmp_path / "app.arc"), "sandbox", "--port", "0")
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'app.arc'}:2: @app takes exactly one name"


def test_a_bad_limit_override_is_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "devkit", "sandbox"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "SANDBOX_IDLE_SECONDS": "-1"},
    )
    assert result.returncode == 2 and "SANDBOX_IDLE_SECONDS='-1': expected a positive number" in result.stderr


def test_extra_workers_stop_when_idle_and_one_stays_warm(tmp_path):
    sandbox = RunningSandbox(copy_fixture("faults", tmp_path), env={"SANDBOX_WORKER_IDLE_SECONDS": "1"}, args=("--no-reload",))
    try:
        first, second = connect(sandbox), connect(sandbox)
        for ws in (first, second):  # two invocations at once: the function scales to two workers
            ws.send('{"do": "sleep", "seconds": 0.5}')
        pids = {json.loads(ws.recv())["pid"] for ws in (first, second)}
        assert len(pids) == 2
        wait_until(lambda: sum(Path(f"/proc/{pid}").exists() for pid in pids) == 1, 5, "one idle worker to stop")
        holds(lambda: sum(psutil.pid_exists(pid) for pid in pids) == 1, 1.5, "the last worker staying warm")
        first.close()
        second.close()
    finally:
        sandbox.stop()
