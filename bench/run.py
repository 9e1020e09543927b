"""`python -m bench [--quick] [--skip-architect]`: measure the floor, the sandbox and Architect's
sandbox with one client, then print the side-by-side table and write the figures.

A full run writes `docs/benchmarks.json`, `docs/benchmarks.md` and `docs/benchmark-latency.png`;
a `--quick` smoke run (about a minute, few samples) writes `bench/results/quick.{json,md}` and
`quick-latency.png` instead, so it never replaces the published page. Each step is bounded in count
and time; a step that fails is reported in the notes and the rest still run. Exit status: 0 when every
server that could be started was measured (missed targets are findings, not failures), 1 otherwise.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from bench import architect, chart, client, coldstart, fanout, processes, report, start_profile, stats, targets
from devkit.progress import Progress
from devkit.sandbox.command import raise_open_file_limit

RESULTS_DIR = targets.REPO_ROOT / "bench" / "results"
PROFILED_CLIENTS = 10  # the throughput goal's client count: its run gets a CPU profile
DOCS_DIR = targets.REPO_ROOT / "docs"


@dataclass(frozen=True)
class Plan:
    """How many samples each step takes."""

    echo: int
    echo_warmup: int
    throughput_s: float
    clients: tuple[int, ...]
    broadcast: tuple[int, ...]
    connects: int
    hold: int
    startups: int
    architect_echo: int
    architect_warmup: int
    architect_connects: int
    cold_runs: int


FULL = Plan(
    echo=1000,
    echo_warmup=50,
    throughput_s=5.0,
    clients=(1, 10, 50),
    broadcast=(100, 1000),
    connects=200,
    hold=5000,
    startups=3,
    architect_echo=50,
    architect_warmup=3,
    architect_connects=30,
    cold_runs=5,
)
QUICK = Plan(
    echo=100,
    echo_warmup=10,
    throughput_s=2.0,
    clients=(1, 10, 50),
    broadcast=(100,),
    connects=30,
    hold=500,
    startups=1,
    architect_echo=10,
    architect_warmup=2,
    architect_connects=5,
    cold_runs=1,
)


class Bench:
    """One run: the plan, the progress display and the results being filled."""

    def __init__(self, plan: Plan, quick: bool, progress: Progress | None = None) -> None:
        self.plan = plan
        self.progress = progress or Progress(sys.stderr)
        self.log_dir = RESULTS_DIR / "logs"
        self.failed = False
        self.results: dict = {
            "version": 1,
            "quick": quick,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "plan": asdict(plan),
            "machine": report.machine_info(),
            "servers": {},
            "notes": [],
        }

    # ------------------------------------------------------------ helpers

    def attempt(self, what: str, action: Callable[[], object]) -> object | None:
        """Run one step; a failure becomes a note (and a non-zero exit), not the end of the run."""
        try:
            return action()
        except Exception as error:  # a step's failure is a finding to report, whatever it is
            self.failed = True
            self.note(f"{what} failed: {type(error).__name__}: {error}")
            (self.log_dir / "errors.log").parent.mkdir(parents=True, exist_ok=True)
            with (self.log_dir / "errors.log").open("a") as log:
                log.write(f"--- {what}\n{traceback.format_exc()}\n")
            return None

    def load(self, name: str, figures: dict, when: str) -> None:
        """Record the machine's 1-minute load average (the report flags a server's figures when it is
        above half the cores: report.busy_servers)."""
        load = round(os.getloadavg()[0], 2)
        figures[f"load_{when}"] = load
        cores = os.cpu_count() or 1
        if load > cores / 2:
            self.progress.note(f"{name}: load average {load} {when} its measurements, above half the {cores} cores")

    @staticmethod
    def cpu_profiler(server: processes.Server) -> tuple[Callable[[], None], Callable[[], dict]]:
        """`(read, profile)`: call `read()` before and after a measurement, then `profile()` gives the
        CPU each role of the server's process tree (and the bench client) used in between."""
        readings: list[dict] = []

        def read() -> None:
            readings.append(processes.cpu_reading(server.process.pid))

        def profile() -> dict:
            return processes.cpu_profile(readings[0], readings[-1]) if len(readings) >= 2 else {}

        return read, profile

    def note(self, text: str) -> None:
        self.results["notes"].append(text)
        self.progress.note(text)

    def latency(self, name: str, kind: str, measured: dict) -> dict:
        summary = stats.latency_summary(measured["latencies_s"]) | measured
        if measured["errors"]["count"]:
            self.note(f"{name} {kind}: {measured['errors']['count']} errors, e.g. {measured['errors']['samples'][0]}")
        return summary

    # ------------------------------------------------------------ steps

    def measure_echo(self, name: str, server: processes.Server, count: int, warmup: int) -> dict:
        step = self.progress.step(f"{name}: echo round trips ({count} after {warmup} warm-up)")
        measured = asyncio.run(client.echo_round_trips(server.ws_url, count, warmup, progress=step))
        return self.latency(name, "echo", measured)

    def measure_connects(self, name: str, server: processes.Server, count: int) -> dict:
        step = self.progress.step(f"{name}: connect times ({count} sequential)")
        return self.latency(name, "connect", asyncio.run(client.connect_times(server.ws_url, count, progress=step)))

    def measure_throughput(self, name: str, server: processes.Server, cpu: dict | None = None) -> list[dict]:
        """Each client count's row; with `cpu`, also the CPU profile of the 10-client run into `cpu["throughput"]`."""
        rows = []
        for clients in self.plan.clients:
            step = self.progress.step(f"{name}: throughput, {clients} clients for {self.plan.throughput_s:g} s")
            read, profile = self.cpu_profiler(server)
            around = read if cpu is not None and clients == PROFILED_CLIENTS else None
            row = asyncio.run(client.throughput(server.ws_url, clients, self.plan.throughput_s, progress=step, around=around))
            if around and cpu is not None:
                cpu["throughput"] = {"clients": clients, "echoes": row["messages"], **profile()}
            self.progress.note(f"{name}: {clients} clients: {row['msgs_per_s']:.0f} msgs/s")
            if row["errors"]["count"]:
                self.note(f"{name} throughput, {clients} clients: {row['errors']['count']} errors, e.g. {row['errors']['samples'][0]}")
            rows.append(row)
        return rows

    def measure_broadcast(self, name: str, server: processes.Server, cpu: dict | None = None) -> list[dict]:
        """Each size's row: `seconds` is its first broadcast (for the first size, the function's first
        invocation: cold), `warm_seconds` the one after it on the same sockets. With `cpu`, also the CPU
        profile of the largest size's warm broadcast into `cpu["broadcast"]`."""
        rows: list[dict] = []
        for connections in self.plan.broadcast:
            step = self.progress.step(f"{name}: broadcast fan-out to {connections} sockets (opening them)")
            read, profile = self.cpu_profiler(server)
            around = read if cpu is not None and connections == max(self.plan.broadcast) else None
            row = asyncio.run(client.broadcast_fanout(server.ws_url, connections, rounds=2, progress=step, around=around))
            row["cold"] = not rows  # the first broadcast this server has run
            row["warm_seconds"] = row["rounds_s"][-1]
            if around and cpu is not None:
                cpu["broadcast"] = {"connections": connections, "posts": connections, **profile()}
            if row["errors"]["count"]:
                self.note(f"{name} broadcast to {connections}: {row['errors']['samples'][0]}")
            rows.append(row)
            time.sleep(1.0)  # let the server finish the $disconnects of those sockets
        return rows

    def measure_hold(self, name: str, server: processes.Server) -> dict:
        target = self.plan.hold
        step = self.progress.step(f"{name}: open and hold {target} connections")
        row = asyncio.run(client.hold_connections(server.ws_url, target, progress=step, measure=lambda: processes.tree_memory(server.process.pid)))
        self.progress.note(
            f"{name}: held {row['held']} of {target}; memory {row['measured'].get('pss_mb', 0):.0f} MB PSS, {row['measured'].get('rss_mb', 0):.0f} MB RSS"
        )
        if row["errors"]["count"]:
            self.note(f"{name} hold: {row['errors']['count']} sockets failed, e.g. {row['errors']['samples'][0]}")
        return row

    def wait_usable(self, server: processes.Server, deadline_s: float = 30.0) -> dict:
        """After `GET /` answered: poll one connect + echo until it works (bounded). Returns
        `{"usable_s": seconds from process start or None, "failures": n, "first_failure": text}`."""
        failures, first = 0, None
        end = time.perf_counter() + deadline_s
        while time.perf_counter() < end:
            problem = asyncio.run(client.probe_echo(server.ws_url))
            if problem is None:
                return {"usable_s": time.perf_counter() - server.started_at, "failures": failures, "first_failure": first}
            failures += 1
            first = first or problem
            time.sleep(0.05)
        return {"usable_s": None, "failures": failures, "first_failure": first}

    # ------------------------------------------------------------ servers

    def floor(self) -> None:
        self.progress.note("floor: starting the bare aiohttp echo server")
        figures: dict = {}
        self.load("floor", figures, "before")
        server = targets.start_floor(self.log_dir)
        figures["startup"] = {"samples_s": [server.ready_s], "p50_s": server.ready_s}
        self.results["servers"]["floor"] = figures
        try:
            figures["memory_idle"] = processes.tree_memory(server.process.pid)
            figures["echo"] = self.attempt("floor echo", lambda: self.measure_echo("floor", server, self.plan.echo, self.plan.echo_warmup))
            figures["throughput"] = self.attempt("floor throughput", lambda: self.measure_throughput("floor", server)) or []
            figures["broadcast"] = self.attempt("floor broadcast", lambda: self.measure_broadcast("floor", server)) or []
            figures["connect"] = self.attempt("floor connect", lambda: self.measure_connects("floor", server, self.plan.connects))
        finally:
            processes.stop(server)
            self.load("floor", figures, "after")

    def sandbox(self) -> None:
        before: dict = {}
        self.load("sandbox", before, "before")
        samples: list[float] = []
        usable: list[dict] = []
        cpu_ready: list[dict] = []
        cpu_first_echo: list[dict] = []
        server = None
        for attempt in range(self.plan.startups):
            self.progress.step(f"sandbox: start-up {attempt + 1} of {self.plan.startups} (to the first 200 on GET /)")
            server = targets.start_sandbox(self.log_dir, name=f"sandbox-{attempt + 1}")
            samples.append(server.ready_s or 0.0)  # start_sandbox returns only once ready_s is set
            cpu_ready.append(start_profile.reading(server.process.pid))
            usable.append(self.wait_usable(server))
            cpu_first_echo.append(start_profile.reading(server.process.pid))
            self.progress.note(
                f"sandbox: GET / answered 200 after {server.ready_s:.2f} s; first echo after "
                f"{report.fmt(usable[-1]['usable_s'])} s ({usable[-1]['failures']} failed tries before)"
            )
            if usable[-1]["failures"]:
                self.note(
                    f"sandbox start {attempt + 1}: GET / answered 200 but {usable[-1]['failures']} connect + echo "
                    f"tries failed before one worked: {usable[-1]['first_failure']}"
                )
            if attempt < self.plan.startups - 1:
                processes.stop(server)
        assert server is not None  # plan.startups >= 1
        done = [u["usable_s"] for u in usable if u["usable_s"] is not None]
        figures: dict = {
            **before,
            "startup": {
                "samples_s": samples,
                "p50_s": stats.median(samples),
                "usable": usable,
                "usable_p50_s": stats.median(done) if done else None,
                "cpu_ready": start_profile.summary(cpu_ready),
                "cpu_first_echo": start_profile.summary(cpu_first_echo),
            },
        }
        self.results["servers"]["sandbox"] = figures
        try:
            figures["memory_idle"] = processes.tree_memory(server.process.pid)
            figures["echo"] = self.attempt("sandbox echo", lambda: self.measure_echo("sandbox", server, self.plan.echo, self.plan.echo_warmup))
            if not (figures["echo"] or {}).get("n"):
                self.failed = True
                self.note(f"sandbox: no echo came back, so the other sandbox measurements were not run; see {server.log_path}")
                return
            cpu = figures["cpu"] = {}
            figures["throughput"] = self.attempt("sandbox throughput", lambda: self.measure_throughput("sandbox", server, cpu)) or []
            figures["broadcast"] = self.attempt("sandbox broadcast", lambda: self.measure_broadcast("sandbox", server, cpu)) or []
            figures["connect"] = self.attempt("sandbox connect", lambda: self.measure_connects("sandbox", server, self.plan.connects))
            figures["hold"] = self.attempt("sandbox hold", lambda: self.measure_hold("sandbox", server))
            # last: the memory a burst of 10,000 sockets leaves behind is its own figure, not the hold's
            queue_sockets = 10_000 if self.plan is FULL else 1_000
            self.progress.step(f"sandbox: broadcast to {queue_sockets:,} sockets through the queue")
            figures["queue_fanout"] = self.attempt("sandbox queue fan-out", lambda: asyncio.run(fanout.exactly_once(server.ws_url, queue_sockets)))
            figures["memory_after_fanout"] = processes.tree_memory(server.process.pid)
            self.results["cpu_per_post"] = self.attempt("CPU per post", fanout.cpu_per_post)
        finally:
            self.progress.step("sandbox: stopping (it runs $disconnect for every socket still open)")
            processes.stop(server, grace_s=30.0)
            if server.process.returncode not in (0, 130, -2):
                self.note(f"sandbox exited with {server.process.returncode} when stopped; see {server.log_path}")
            self.load("sandbox", figures, "after")

    def hot_reload(self, scratch: Path) -> None:
        """Edit -> first changed echo: a copy of the app in a sandbox that watches it, `startups` edits."""
        app = scratch / "reload-app"
        app.mkdir(parents=True, exist_ok=True)
        for part in ("app.arc", "smoke.json", "src", "public"):
            source = targets.REPO_ROOT / part
            (shutil.copytree if source.is_dir() else shutil.copy)(source, app / part)
        messages = app / "src" / "shared" / "messages.py"
        self.progress.step("sandbox: edit -> first changed echo (hot reload, on a copy of the app)")
        server = targets.start_sandbox(self.log_dir, app / "app.arc", name="sandbox-reload", reload=True)
        samples: list[float | None] = []
        try:
            self.wait_usable(server)
            for attempt in range(self.plan.startups):

                def edit(attempt: int = attempt) -> str:
                    text = messages.read_text()
                    marker = f"Echoing#{attempt}"
                    messages.write_text(re.sub(r"Echoing(#\d+)?", marker, text, count=1))
                    return marker

                samples.append(asyncio.run(client.edit_to_echo(server.ws_url, edit)))
        finally:
            processes.stop(server)
        done = [s for s in samples if s is not None]
        self.results["servers"]["sandbox"]["edit_to_echo"] = {"samples_s": samples, "p50_s": stats.median(done) if done else None}

    def architect(self, scratch: Path, skip: bool) -> None:
        if skip:
            self.results["servers"]["architect"] = {"skipped": "--skip-architect"}
            return
        self.progress.step(f"architect: installing or reusing {architect.cache_home()} (npm)")
        try:
            installation = architect.install()
        except architect.Unavailable as reason:
            self.results["servers"]["architect"] = {"skipped": str(reason)}
            self.progress.note(f"architect: skipped: {reason}")
            return
        self.results["architect_install"] = {k: str(v) for k, v in asdict(installation).items()}
        app_dir = architect.write_app(scratch / "architect-app")
        self.progress.note(
            f"architect: {installation.architect_version} (sandbox {installation.sandbox_version}) on Node {installation.node_version}; starting"
        )
        figures: dict = {}
        self.load("architect", figures, "before")
        samples: list[float] = []
        for attempt in range(self.plan.startups):
            self.progress.step(f"architect: start-up {attempt + 1} of {self.plan.startups}")
            server = targets.start_architect(installation, app_dir, self.log_dir)
            samples.append(server.ready_s or 0.0)
            if attempt < self.plan.startups - 1:
                processes.stop(server, grace_s=5.0)
        figures["startup"] = {"samples_s": samples, "p50_s": stats.median(samples)}
        self.results["servers"]["architect"] = figures
        try:
            figures["memory_idle"] = processes.tree_memory(server.process.pid)
            figures["echo"] = self.attempt(
                "architect echo", lambda: self.measure_echo("architect", server, self.plan.architect_echo, self.plan.architect_warmup)
            )
            figures["connect"] = self.attempt("architect connect", lambda: self.measure_connects("architect", server, self.plan.architect_connects))
        finally:
            self.progress.step("architect: stopping it and its children")
            processes.stop(server, grace_s=5.0)
            self.load("architect", figures, "after")

    def coldstart(self) -> None:
        self.progress.step("cold start: building the Lambda packages (deploy --dry-run)")
        try:
            zips = coldstart.build_packages(targets.REPO_ROOT)
        except coldstart.Skipped as reason:
            self.results["coldstart"] = {"skipped": str(reason)}
            self.progress.note(f"cold start: skipped: {reason}")
            return
        packages = []
        step = self.progress.step(f"cold start: importing {len(zips)} packages, {self.plan.cold_runs} fresh interpreters each")
        for done, path in enumerate(zips, 1):
            packages.append(coldstart.measure_package(path, self.plan.cold_runs))
            step(done, len(zips))
        self.results["coldstart"] = {"packages": packages}

    # ------------------------------------------------------------ output

    def write(self, quick: bool) -> None:
        results = self.results
        results["targets"] = report.evaluate_targets(results)
        if quick:
            json_path, page, png = RESULTS_DIR / "quick.json", RESULTS_DIR / "quick.md", RESULTS_DIR / "quick-latency.png"
        else:
            json_path, page, png = DOCS_DIR / "benchmarks.json", DOCS_DIR / "benchmarks.md", DOCS_DIR / "benchmark-latency.png"
        drawn = self.attempt("chart", lambda: chart.write_chart(results, png))
        report.write_json(results, json_path)
        report.write_markdown(results, page, png.name if drawn else None)
        with page.open("a", encoding="utf-8") as out:  # the queue's section (bench/fanout.py)
            out.write(fanout.section(results))
        print()
        print(report.render_terminal(results))
        print(
            f"Raw figures: {json_path.relative_to(targets.REPO_ROOT)}; page: {page.relative_to(targets.REPO_ROOT)}"
            + (f"; chart: {png.relative_to(targets.REPO_ROOT)}" if drawn else "")
        )


def main(args) -> int:
    """The bench command: returns the exit status."""
    quick = bool(getattr(args, "quick", False))
    bench = Bench(QUICK if quick else FULL, quick)
    started = time.perf_counter()
    soft = raise_open_file_limit()
    machine = bench.results["machine"]
    bench.progress.note(
        f"devkit bench ({'quick' if quick else 'full'}): {machine['cores']} cores, "
        f"{machine['memory_gb']} GB, {machine['cpu']}, Python {machine['python']}; "
        f"open-file limit {soft}"
    )
    if soft < 2 * bench.plan.hold + 200:
        bench.note(
            f"the open-file limit is {soft}: holding {bench.plan.hold} sockets (one file each on both ends) "
            "may fail for want of descriptors, not because of the sandbox"
        )
    with tempfile.TemporaryDirectory(prefix="devkit-bench-") as scratch:
        bench.attempt("floor", bench.floor)
        bench.attempt("sandbox", bench.sandbox)
        bench.attempt("hot reload", lambda: bench.hot_reload(Path(scratch)))
        bench.attempt("architect", lambda: bench.architect(Path(scratch), getattr(args, "skip_architect", False)))
        bench.attempt("cold start", bench.coldstart)
    bench.results["duration_s"] = time.perf_counter() - started
    bench.results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    bench.write(quick)
    return 1 if bench.failed else 0
