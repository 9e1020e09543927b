"""Server processes under test: start one, wait until it answers, read its memory, stop it and its children.

Each server runs in its own session (process group) with its output in a log file, so stopping it
ends every child it started (handler workers, a moto server, one Python per Architect invocation) and a
failure to start can quote the log. Only processes started here are ever signalled, by their ids.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

MB = 1024 * 1024


class ServerFailed(RuntimeError):
    """A server did not become ready; the message says why and quotes the end of its log."""


@dataclass
class Server:
    """A running server under test. `ready_s`: seconds from process start to the first good answer."""

    name: str
    process: subprocess.Popen
    port: int
    log_path: Path
    started_at: float = 0.0  # time.perf_counter() just before the process was created
    ready_s: float | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def http_status(port: int, path: str = "/", timeout_s: float = 1.0) -> int | None:
    """The status of `GET path` on 127.0.0.1:port, or None when nothing answers."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def start(
    name: str,
    argv: list[str],
    *,
    port: int,
    cwd: Path,
    log_dir: Path,
    env: dict | None = None,
    ready: Callable[[int | None], bool] = lambda status: status == 200,
    timeout_s: float = 60.0,
) -> Server:
    """Start `argv` and wait until `ready(GET / status)` holds; `ready_s` is measured from just before
    the process is created. Raises ServerFailed (after stopping it) if it exits or times out first."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = log_path.open("wb")
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    server = Server(name, process, port, log_path, started_at=started)
    end = started + timeout_s
    while time.perf_counter() < end:
        if process.poll() is not None:
            raise ServerFailed(f"{name} exited with {process.returncode} before answering GET /:\n{log_tail(log_path)}")
        if ready(http_status(port, timeout_s=0.5)):
            server.ready_s = time.perf_counter() - started
            return server
        time.sleep(0.01)
    stop(server)
    raise ServerFailed(f"{name} did not answer GET / within {timeout_s:.0f} s:\n{log_tail(log_path)}")


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def process_tree(pid: int) -> list[int]:
    """`pid` and all its living descendants, parents first (an empty list when `pid` is gone)."""
    try:
        root = psutil.Process(pid)
        return [pid] + [child.pid for child in root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


# The roles of the sandbox's processes, as the profiles group them. A forked worker keeps its parent's
# command line (`python zygote_main.py <fd>`), so it is told from the preloaded parent by its parent.
# The bench client is no part of the sandbox, but shares its cores: the CPU profile counts it too.
SERVER, DATABASE, PRELOADED, FORKED, FRESH, OTHER, CLIENT = (
    "sandbox",
    "DynamoDB server",
    "preloaded parent",
    "forked workers",
    "fresh workers",
    "other",
    "bench client",
)
ROLES = (SERVER, DATABASE, PRELOADED, FORKED, FRESH, OTHER, CLIENT)


def role_of(command: str, parent_command: str, is_root: bool) -> str:
    """Which part of the sandbox a process is, from its command line and its parent's."""
    if is_root:
        return SERVER
    if "dynamodb_server" in command:
        return DATABASE
    if "zygote_main.py" in command:
        return FORKED if "zygote_main.py" in parent_command else PRELOADED
    if "worker_main.py" in command:
        return FRESH
    return OTHER


def _command(process: psutil.Process) -> str:
    """A process's command line, shortened: enough to tell a worker from the server."""
    words = process.cmdline() or [process.name()]
    return " ".join([Path(words[0]).name, *words[1:]])[:160]


def _tree(pid: int) -> list[tuple[psutil.Process, str]]:
    """`pid` and its living descendants, parents first, each with its role."""
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    commands: dict[int, str] = {}
    for process in family:
        try:
            commands[process.pid] = _command(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            commands[process.pid] = "?"
    tree = []
    for process in family:
        try:
            parent = process.ppid()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            parent = 0
        tree.append((process, role_of(commands[process.pid], commands.get(parent, ""), process.pid == pid)))
    return tree


def _memory(process: psutil.Process, role: str) -> dict[str, Any]:
    """One process's command line, role, RSS and PSS."""
    try:
        with process.oneshot():
            command = _command(process)
            memory = process.memory_full_info()  # PSS comes from /proc/<pid>/smaps_rollup
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return {"pid": process.pid, "command": "?", "role": role, "rss_mb": 0.0, "pss_mb": 0.0}
    return {"pid": process.pid, "command": command, "role": role, "rss_mb": memory.rss / MB, "pss_mb": getattr(memory, "pss", 0) / MB}


def by_role(each: list[dict], *figures: str) -> dict[str, dict]:
    """Per role present, in ROLES order: `count` and the sum of each of `figures` over its processes."""
    grouped: dict[str, dict] = {}
    for role in ROLES:
        members = [e for e in each if e["role"] == role]
        if members:
            grouped[role] = {"count": len(members), **{f: sum(e[f] for e in members) for f in figures}}
    return grouped


def tree_memory(pid: int) -> dict:
    """Memory of `pid` and its descendants: `rss_mb` (sum of RSS, counts shared pages in every
    process: an upper bound), `pss_mb` (proportional share: the fair total), `processes`,
    `by_role` (role -> count, pss_mb, rss_mb) and `by_process` (largest PSS first)."""
    each = [_memory(process, role) for process, role in _tree(pid)]
    return {
        "rss_mb": sum(e["rss_mb"] for e in each),
        "pss_mb": sum(e["pss_mb"] for e in each),
        "processes": len(each),
        "by_role": by_role(each, "pss_mb", "rss_mb"),
        "by_process": sorted(each, key=lambda e: -e["pss_mb"])[:40],
    }


def cpu_reading(pid: int) -> dict[tuple[int, float], tuple[str, float]]:
    """CPU seconds (user + system) so far of `pid`, each descendant and this process (the bench
    client), keyed by (pid, creation time) so that a reused pid is not taken for the same process."""
    reading = {}
    for process, role in [*_tree(pid), (psutil.Process(), CLIENT)]:
        try:
            with process.oneshot():
                times = process.cpu_times()
                reading[(process.pid, process.create_time())] = (role, times.user + times.system)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return reading


def cpu_profile(before: dict, after: dict) -> dict:
    """CPU used between two `cpu_reading`s, per role: `{"by_role": {role: {"count", "cpu_ms"}},
    "total_ms", "ended": processes that were gone by the second reading (their share is lost)}`.
    A process born in between counts from zero."""
    each = []
    for key, (role, seconds) in after.items():
        each.append({"role": role, "cpu_ms": round((seconds - before.get(key, (role, 0.0))[1]) * 1000, 1)})
    return {"by_role": by_role(each, "cpu_ms"), "total_ms": round(sum(e["cpu_ms"] for e in each), 1), "ended": len(set(before) - set(after))}


def stop(server: Server, grace_s: float = 10.0) -> None:
    """SIGINT the server (a clean shutdown), then SIGTERM and SIGKILL its process group and any
    descendant that left it. Returns when the server has exited."""
    process = server.process
    if process.poll() is not None:
        return
    family = process_tree(process.pid)
    _signal(process.pid, signal.SIGINT)
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(3)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(3)
    time.sleep(0.2)
    for pid in family[1:]:  # children that outlived their parent, in whatever group
        if _is_alive(pid):
            _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the group id is the server's pid: it was started in a new session
    except ProcessLookupError:
        pass


def _is_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
