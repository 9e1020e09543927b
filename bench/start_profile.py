"""The sandbox's start, by process role: CPU each role used from the sandbox's start until `GET /`
answered (ready) and until the first echo worked, read from /proc as each start reached them.

On two cores, the roles' CPU added up against the wall-clock time says whether a start is CPU-bound
(the roles queue for the cores) and which role's work stands between the start and the goal: the
page needs the sandbox process and the preloaded parent's first stage; the first echo also needs the
DynamoDB server (its tables) and the parent's second stage (boto3), for `$connect` and `$default`.
"""

from __future__ import annotations

from bench import processes, stats

START_PROFILE = "Sandbox start by role"
SANDBOX_ROLES = [r for r in processes.ROLES if r != processes.CLIENT]


def reading(pid: int) -> dict:
    """CPU per role of the sandbox `pid` and its descendants so far (all born with this start)."""
    profile = processes.cpu_profile({}, processes.cpu_reading(pid))
    return {role: figures for role, figures in profile["by_role"].items() if role != processes.CLIENT}


def summary(readings: list[dict]) -> dict:
    """Per role, the median over several starts of its process count and CPU milliseconds."""
    roles = [r for r in SANDBOX_ROLES if any(r in each for each in readings)]
    return {
        role: {
            "count": stats.median([each.get(role, {}).get("count", 0) for each in readings]),
            "cpu_ms": stats.median([each.get(role, {}).get("cpu_ms", 0.0) for each in readings]),
        }
        for role in roles
    }


def start_profile_table(startup: dict, fmt) -> tuple[list[str], list[list[str]], set[int]] | None:
    """Rows per role: processes and CPU (ms) until ready, and until the first echo; `startup` is the
    sandbox's `startup` figures (`cpu_ready`, `cpu_first_echo`: `summary` of each start's reading)."""
    columns = [startup.get("cpu_ready") or {}, startup.get("cpu_first_echo") or {}]
    roles = [r for r in SANDBOX_ROLES if any(r in column for column in columns)]
    if not roles:
        return None

    def cells(figures: dict | None) -> list[str]:
        return [f"{figures['count']:g}", fmt(figures["cpu_ms"])] if figures else ["–", "–"]

    rows = [[role, *cells(columns[0].get(role)), *cells(columns[1].get(role))] for role in roles]
    totals = [{"count": sum(f["count"] for f in c.values()), "cpu_ms": sum(f["cpu_ms"] for f in c.values())} if c else None for c in columns]
    rows.append(["all", *cells(totals[0]), *cells(totals[1])])
    walls = [startup.get("p50_s"), startup.get("usable_p50_s")]
    rows.append(["wall clock (ms), median", "", fmt(None if walls[0] is None else walls[0] * 1000), "", fmt(None if walls[1] is None else walls[1] * 1000)])
    headers = ["Process role", "Until ready: processes", "CPU (ms)", "Until first echo: processes", "CPU (ms)"]
    return headers, rows, {1, 2, 3, 4}
