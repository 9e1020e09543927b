"""What the reliability suite shares: sizes, the real sandbox with its table, processes and log, and figures.

Sizes come from the environment so CI runs a bounded suite and a person can push harder:

    RELIABILITY_CLIENTS   clients in the load test (default 1000, split over four ways of vanishing)
    RELIABILITY_NEVER_READING  how many of them stop reading and are flooded (default 100)
    RELIABILITY_MESSAGES  messages each reading client sends and gets echoed (default 2)
    RELIABILITY_FIGURES   a file to append the load test's figures to, as JSON lines (default: none)
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from pathlib import Path

import psutil

from devkit.sandbox.command import raise_open_file_limit
from tests.app.support import TABLE, protocols
from tests.support import sandbox as harness
from tests.support.repo import ROOT
from tests.support.sandbox import RunningSandbox, children_of, copy_fixture
from tests.support.wsclient import PAGE_PROTOCOLS

CLIENTS = int(os.environ.get("RELIABILITY_CLIENTS", "1000"))
MESSAGES = int(os.environ.get("RELIABILITY_MESSAGES", "2"))
NEVER_READING = int(os.environ.get("RELIABILITY_NEVER_READING", "100"))
FIGURES = os.environ.get("RELIABILITY_FIGURES")


class Sandbox(RunningSandbox):
    """The real sandbox plus what the reliability tests inspect: table, processes, fds, memory, log.

    Serving the starter app, its clients present a token from its page, as the page does (wsclient)."""

    def wait_until_ready(self, timeout: float = 30) -> float:
        took = super().wait_until_ready(timeout)
        if self.app_dir == ROOT:
            PAGE_PROTOCOLS[self.port] = ", ".join(protocols(self.page_token()))
        return took

    def table(self):
        return self.dynamodb()

    def rows(self, table: str = TABLE) -> set[str]:
        """Every connection id in the table, following Scan's pagination."""
        return self.connection_ids(table)

    def descendants(self) -> set[int]:
        return children_of(self.process.pid)

    def moto_pid(self) -> int:
        [pid] = [p for p in self.descendants() if "devkit.sandbox.dynamodb_server" in _cmdline(p)]
        return pid

    def workers(self) -> set[int]:
        """The worker processes: fresh interpreters (`worker_main.py`) and those forked by the preloaded parent."""
        descendants = self.descendants()
        parents = {p for p in descendants if "zygote_main.py" in _cmdline(p)}
        return {p for p in descendants if "worker_main.py" in _cmdline(p) or (p not in parents and _cmdline(p) and _parent(p) in parents)}

    def open_fds(self) -> int:
        return psutil.Process(self.process.pid).num_fds()

    def rss_mb(self) -> float:
        return psutil.Process(self.process.pid).memory_info().rss / 2**20

    def accepted(self) -> Counter:
        """How many times the sandbox accepted each connection id."""
        return Counter(re.findall(r"WS  \$connect (\S+) accepted", self.output()))

    def disconnect_handler_runs(self) -> Counter:
        """How many times the $disconnect handler ran for each connection id (its Powertools log lines)."""
        runs = Counter()
        for line in self.output().splitlines():
            if line.startswith("  ws-disconnect | {"):
                try:
                    runs[json.loads(line.split(" | ", 1)[1])["correlation_id"]] += 1
                except (ValueError, KeyError):
                    continue
        return runs


def _parent(pid: int) -> int | None:
    try:
        return psutil.Process(pid).ppid()
    except psutil.NoSuchProcess:
        return None


def _cmdline(pid: int) -> str:
    """The command line of a live process; empty for a zombie or a process that is gone."""
    try:
        process = psutil.Process(pid)
        return "" if process.status() == psutil.STATUS_ZOMBIE else " ".join(process.cmdline())
    except psutil.NoSuchProcess:
        return ""


def start_app(tmp_path: Path, env: dict[str, str] | None = None) -> Sandbox:
    """The starter app itself (app.arc at the repository root) in the real sandbox."""
    raise_open_file_limit()
    return harness.start_app(tmp_path, env, kind=Sandbox)


def start_fixture(name: str, tmp_path: Path, env: dict[str, str] | None = None) -> Sandbox:
    raise_open_file_limit()
    return Sandbox(copy_fixture(name, tmp_path), env=env, args=("--no-reload",))


def record_figures(name: str, figures: dict) -> None:
    """Print the figures (shown with -s or on failure) and append them to RELIABILITY_FIGURES if set."""
    line = json.dumps({"test": name, "at": time.strftime("%Y-%m-%dT%H:%M:%S"), **figures})
    print(line)
    if FIGURES:
        with open(FIGURES, "a") as file:
            file.write(line + "\n")
