"""The one way to start the real sandbox for tests: `python -m devkit sandbox --port 0` in a child process.

The system picks a free port when the sandbox binds it and the banner names it, so no port is probed
and released first: parallel test runs (pytest-xdist workers, two checkouts) cannot race for one.
The child's output goes to a file that `output()` reads; `stop()` sends Ctrl-C (SIGINT), as a person
would, and waits for the clean stop.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import devkit

KIT_ROOT = Path(devkit.__file__).resolve().parent.parent  # the directory holding the devkit package
READY = "sandbox ready"
# The banner's lines (devkit/sandbox/command.py `banner`) that say where each service listens.
BANNER_LINE = {name: re.compile(rf"^ +{name} +(\S+)", re.MULTILINE) for name in ("page", "websocket", "dynamodb")}
BANNER_TABLES = re.compile(r"^ +dynamodb +\S+ +tables: (.*)$", re.MULTILINE)
_logs = itertools.count(1)


class SandboxProcess:
    """The sandbox serving the app of `app_arc` in a child process; its output goes to a file in `log_dir`.

    A context manager (or call `stop()`); `port`, `page_url`, `socket_url`, `dynamodb_endpoint` and `tables`
    are known once `wait_until_ready()` returns, which the constructor calls unless `wait=False`.
    `args` are more `sandbox` arguments; `env` is added to this process's environment; `popen` holds
    extra `subprocess.Popen` arguments (say, a `preexec_fn` that lowers a limit).
    """

    def __init__(
        self,
        app_arc: Path,
        *,
        args: tuple[str, ...] = ("--no-reload",),
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
        wait: bool = True,
        popen: dict | None = None,
    ):
        self.app_arc = Path(app_arc).resolve()
        self.port: int | None = None
        self.page_url = self.socket_url = self.dynamodb_endpoint = ""
        self.tables: dict[str, str] = {}  # declared name -> physical name, as the banner lists them
        log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="devkit-sandbox-"))
        self.log_path = log_dir / f"sandbox-{os.getpid()}-{next(_logs)}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115  # the child writes to it until stop()
        self.started = time.monotonic()
        path = os.pathsep.join(filter(None, [str(KIT_ROOT), os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devkit", "--app", str(self.app_arc), "sandbox", "--port", "0", *args],
            cwd=KIT_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path, **(env or {})},
            **(popen or {}),
        )
        if wait:
            self.wait_until_ready()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def output(self) -> str:
        """Everything the sandbox has printed so far."""
        return self.log_path.read_text(errors="replace")

    def wait_until_ready(self, timeout: float = 30) -> float:
        """Wait for the banner; the seconds since the start. Raises RuntimeError (with the output) when
        the sandbox exits first, TimeoutError when it is not ready within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.output()
            if READY in output:
                self._read_banner(output)
                return time.monotonic() - self.started
            if self.process.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {self.process.returncode}:\n{self.output()}")
            time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"the sandbox was not ready within {timeout} s:\n{self.output()}")

    def _read_banner(self, output: str) -> None:
        found = {name: line.search(output) for name, line in BANNER_LINE.items()}
        if not all(found.values()):
            raise RuntimeError(f"the sandbox's banner lacks a line for {[n for n, m in found.items() if not m]}:\n{output}")
        self.page_url, self.socket_url, self.dynamodb_endpoint = (found[n][1] for n in ("page", "websocket", "dynamodb"))  # type: ignore[index]
        self.port = int(self.page_url.rsplit(":", 1)[1])
        listed = BANNER_TABLES.search(output)
        self.tables = dict(re.findall(r"(\S+) \((\S+)\)", listed[1])) if listed else {}

    def stop(self, signum: int = signal.SIGINT, timeout: float = 30) -> int | None:
        """Stop the sandbox (Ctrl-C by default; killed after `timeout` seconds); its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode
