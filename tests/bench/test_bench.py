"""The bench's own machinery: percentile math, the measuring client against the real floor server over
real sockets (tiny sample counts), process memory, and the report (tables, targets, page, chart).
No assertion here is about speed: the bench reports speed, the tests check that it measures and says
it right."""

import asyncio
import json
import py_compile
import re

import pytest

from bench import architect, chart, client, coldstart, floor, processes, report, start_profile, stats, targets

# ---------------------------------------------------------------- statistics


@pytest.mark.parametrize(
    "samples, q, expected",
    [
        ([1, 2, 3, 4], 50, 2.5),  # even count: between the two middle values
        ([1, 2, 3, 4], 0, 1),
        ([1, 2, 3, 4], 100, 4),
        ([1, 2, 3, 4], 90, 3.7),  # rank (4-1)*0.9 = 2.7: 3 + 0.7*(4-3)
        ([4, 1, 3, 2], 25, 1.75),  # unsorted input is sorted first
        ([7], 99, 7),
        (list(range(1, 101)), 99, 99.01),
    ],
)
def test_percentile_interpolates_linearly_between_closest_ranks(samples, q, expected):
    assert stats.percentile(samples, q) == pytest.approx(expected)


@pytest.mark.parametrize("samples, q", [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_refuses_an_empty_sample_or_a_bad_q(samples, q):
    with pytest.raises(ValueError):
        stats.percentile(samples, q)


def test_latency_summary_reports_milliseconds_from_seconds():
    summary = stats.latency_summary([0.001, 0.002, 0.003])
    assert summary["n"] == 3
    assert summary["p50_ms"] == pytest.approx(2.0)
    assert summary["min_ms"] == pytest.approx(1.0) and summary["max_ms"] == pytest.approx(3.0)
    assert stats.latency_summary([]) == {"n": 0}


@pytest.mark.parametrize("numerator, denominator, expected", [(10, 2, 5), (None, 2, None), (1, None, None), (1, 0, None)])
def test_ratio_is_none_when_a_figure_is_missing(numerator, denominator, expected):
    assert stats.ratio(numerator, denominator) == expected


# ---------------------------------------------------------------- the floor and the client, real sockets


@pytest.mark.parametrize(
    "body, kind",
    [
        ('{"text": "hi"}', "echo"),
        ('{"action": "broadcast", "text": "hi"}', "broadcast"),
        ("not json", "error"),
        ('{"no": "text"}', "error"),
    ],
)
def test_floor_answers_like_the_app(body, kind):
    answered, payload = floor.reply_to(body)
    assert answered == kind
    if kind == "echo":
        assert payload["text"].endswith(" - Echoing hi")
    if kind == "broadcast":
        assert payload["broadcast"] is True and payload["text"].endswith(" - hi")


@pytest.fixture(scope="module")
def floor_server(tmp_path_factory):
    server = targets.start_floor(tmp_path_factory.mktemp("logs"))
    try:
        yield server
    finally:
        processes.stop(server)
    assert server.process.poll() is not None


def test_floor_server_is_ready_when_it_answers_get(floor_server):
    assert floor_server.ready_s is not None and floor_server.ready_s > 0
    assert processes.http_status(floor_server.port) == 200


def test_echo_round_trips_measure_every_message_after_warm_up(floor_server):
    ticks = []
    measured = asyncio.run(client.echo_round_trips(floor_server.ws_url, 20, warmup=3, progress=lambda done, total: ticks.append((done, total))))
    assert len(measured["latencies_s"]) == 20
    assert all(s > 0 for s in measured["latencies_s"])
    assert measured["errors"]["count"] == 0 and not measured["stopped_early"]
    assert ticks[-1] == (20, 20)


def test_connect_times_time_each_handshake(floor_server):
    measured = asyncio.run(client.connect_times(floor_server.ws_url, 5))
    assert len(measured["latencies_s"]) == 5 and measured["errors"]["count"] == 0


def test_throughput_counts_echoes_from_every_client(floor_server):
    row = asyncio.run(client.throughput(floor_server.ws_url, 3, 0.3))
    assert row["clients"] == row["connected"] == 3
    assert row["messages"] > 0 and row["msgs_per_s"] == pytest.approx(row["messages"] / row["seconds"])
    assert row["errors"]["count"] == 0


def test_broadcast_fanout_waits_for_every_socket(floor_server):
    row = asyncio.run(client.broadcast_fanout(floor_server.ws_url, 5))
    assert row["connected"] == row["received"] == 5
    assert row["seconds"] is not None and row["seconds"] >= row["p50_s"] > 0
    assert row["rounds_s"] == [row["seconds"]]


def test_broadcast_fanout_times_each_round_and_reads_around_the_last_only(floor_server):
    calls = []
    row = asyncio.run(client.broadcast_fanout(floor_server.ws_url, 5, rounds=2, around=lambda: calls.append(len(calls))))
    assert len(row["rounds_s"]) == 2 and all(s is not None and s > 0 for s in row["rounds_s"])
    assert row["seconds"] == row["rounds_s"][0]
    assert calls == [0, 1]  # one reading before the last round's message, one after its last arrival


def test_throughput_reads_around_its_timed_window(floor_server):
    calls = []
    row = asyncio.run(client.throughput(floor_server.ws_url, 2, 0.2, around=lambda: calls.append(1)))
    assert row["messages"] > 0 and len(calls) == 2


def test_hold_connections_counts_open_sockets_and_measures_while_held(floor_server):
    row = asyncio.run(client.hold_connections(floor_server.ws_url, 10, hold_s=0.1, measure=lambda: processes.tree_memory(floor_server.process.pid)))
    assert row["opened"] == row["held"] == 10
    assert row["measured"]["rss_mb"] > 0 and row["measured"]["processes"] >= 1


def _echo_after(url: str, sent_first: str) -> tuple[float | None, client.Errors]:
    """Send `sent_first` and leave its reply unread, then time `bench 1` with `echo_once`."""

    async def ask() -> tuple[float | None, client.Errors]:
        errors = client.Errors()
        async with client.new_session() as session:
            ws = await client.connect(session, url)
            try:
                await ws.send_str(sent_first)
                return await client.echo_once(ws, 1, errors), errors
            finally:
                await ws.close()

    return asyncio.run(ask())


def test_echo_reports_a_frame_that_is_not_the_echo_as_an_error(floor_server):
    took, errors = _echo_after(floor_server.ws_url, "not json")  # the floor answers {"error": ...} first
    assert took is None and errors.count == 1
    assert errors.samples[0].startswith("unexpected reply to bench 1: ") and '"error"' in errors.samples[0]


def test_echo_skips_a_late_echo_of_an_earlier_message(floor_server):
    took, errors = _echo_after(floor_server.ws_url, json.dumps({"text": "bench 0"}))
    assert took is not None and took > 0 and errors.count == 0


def test_process_tree_memory_counts_the_process_and_its_children():
    memory = processes.tree_memory(processes.os.getpid())
    assert memory["processes"] >= 1 and memory["rss_mb"] > 0 and memory["pss_mb"] >= 0
    assert memory["by_role"][processes.SERVER]["count"] == 1  # the root of the tree is the server
    assert sum(r["count"] for r in memory["by_role"].values()) == memory["processes"]
    assert sum(r["pss_mb"] for r in memory["by_role"].values()) == pytest.approx(memory["pss_mb"])


@pytest.mark.parametrize(
    "command, parent, is_root, role",
    [
        ("python -m devkit --app app.arc sandbox --port 1", "bash", True, processes.SERVER),
        ("python -m devkit.sandbox.dynamodb_server 17 11 -H 127.0.0.1 -p 4805", "python -m devkit", False, processes.DATABASE),
        ("python -u devkit/sandbox/zygote_main.py 9", "python -m devkit --app app.arc sandbox", False, processes.PRELOADED),
        ("python -u devkit/sandbox/zygote_main.py 9", "python -u devkit/sandbox/zygote_main.py 9", False, processes.FORKED),
        ("python -u devkit/sandbox/worker_main.py", "python -m devkit --app app.arc sandbox", False, processes.FRESH),
        ("node something.js", "python -m devkit", False, processes.OTHER),
    ],
)
def test_each_sandbox_process_gets_its_role(command, parent, is_root, role):
    assert processes.role_of(command, parent, is_root) == role


def test_cpu_profile_counts_what_each_role_used_between_two_readings():
    before = {(1, 0.0): ("sandbox", 1.0), (2, 0.0): ("forked workers", 0.5), (3, 0.0): ("forked workers", 9.0), (9, 0.0): ("bench client", 2.0)}
    after = {
        (1, 0.0): ("sandbox", 1.25),
        (2, 0.0): ("forked workers", 0.75),
        (4, 5.0): ("forked workers", 0.1),  # born in between: all of its time counts
        (9, 0.0): ("bench client", 2.5),
    }  # pid 3 ended in between: its share is lost, and counted as ended
    profile = processes.cpu_profile(before, after)
    assert profile["by_role"] == {
        "sandbox": {"count": 1, "cpu_ms": 250.0},
        "forked workers": {"count": 2, "cpu_ms": pytest.approx(350.0)},
        "bench client": {"count": 1, "cpu_ms": 500.0},
    }
    assert profile["total_ms"] == pytest.approx(1100.0) and profile["ended"] == 1


def test_cpu_reading_includes_the_bench_client():
    reading = processes.cpu_reading(processes.os.getpid())
    assert processes.CLIENT in {role for role, _ in reading.values()}
    assert all(seconds >= 0 for _, seconds in reading.values())


# ---------------------------------------------------------------- report


def _results(**sandbox_overrides) -> dict:
    def echo(p50):
        return {"n": 3, "p50_ms": p50, "p90_ms": p50 * 1.5, "p99_ms": p50 * 2, "latencies_s": [p50 / 1000] * 3}

    sandbox = {
        "echo": echo(2.0),
        "connect": echo(3.0),
        "throughput": [{"clients": 10, "connected": 10, "msgs_per_s": 1500.0}],
        "broadcast": [
            {"connections": 100, "seconds": 0.2, "cold": True, "warm_seconds": 0.05},
            {"connections": 1000, "seconds": 0.5, "cold": False, "warm_seconds": 0.4},
        ],
        "hold": {"target": 5000, "opened": 5000, "held": 5000, "measured": {"rss_mb": 420.0, "pss_mb": 300.0}},
        "startup": {"samples_s": [0.5, 0.4, 0.6], "p50_s": 0.5, "usable_p50_s": 0.8},
        "edit_to_echo": {"samples_s": [0.15], "p50_s": 0.15},
        "memory_idle": {"rss_mb": 200.0, "pss_mb": 150.0, "processes": 3},  # RSS above the limit: PSS is judged
    } | sandbox_overrides
    return {
        "machine": {"cores": 2, "cpu": "test CPU", "python": "3.11", "memory_gb": 24},
        "servers": {"sandbox": sandbox, "floor": {"echo": echo(0.5)}, "architect": {"echo": echo(200.0), "startup": {"samples_s": [0.5] * 3, "p50_s": 0.5}}},
        "coldstart": {
            "packages": [
                {
                    "name": "ws-default",
                    "zip_bytes": 5000,
                    "unzipped_bytes": 9000,
                    "files": 7,
                    "import_p50_ms": 120.0,
                    "process_p50_ms": 150.0,
                    "slowest_imports": [],
                }
            ]
        },
        "notes": [],
    }


def _statuses(results):
    return [t["status"] for t in report.evaluate_targets(results)]


TARGETS = ["vs architect", "vs floor", "throughput", "ready", "first echo", "idle memory", "held memory", "broadcast 100", "broadcast 1000", "edit", "import"]


def test_targets_all_met_at_their_limits():
    """`_results()` sits every figure exactly on its limit (ready = Architect's, 150 MB idle, 300 MB held,
    50 / 400 ms warm broadcasts, 150 ms edit, 0.8 s first echo): a limit is met."""
    assert _statuses(_results()) == [report.MET] * len(TARGETS)


def test_targets_one_step_past_their_limits_are_missed():
    results = _results(
        echo={"n": 3, "p50_ms": 10.0},
        startup={"p50_s": 0.51, "usable_p50_s": 0.81},
        memory_idle={"rss_mb": 200.0, "pss_mb": 150.1, "processes": 3},
        hold={"target": 5000, "held": 5000, "measured": {"rss_mb": 400.0, "pss_mb": 300.1}},
        broadcast=[{"connections": 100, "seconds": 0.01, "cold": True, "warm_seconds": 0.0501}, {"connections": 1000, "seconds": 0.1, "warm_seconds": 0.4001}],
        edit_to_echo={"p50_s": 0.1501},
        throughput=[{"clients": 10, "connected": 10, "msgs_per_s": 999.0}],
    )
    # 200/10 = 20x faster than Architect (< 50), 10/0.5 = 20x the floor (> 10); the import is still met
    assert _statuses(results) == [report.MISSED] * (len(TARGETS) - 1) + [report.MET]


def test_broadcast_targets_are_judged_on_the_warm_figures():
    results = _results(
        broadcast=[{"connections": 100, "seconds": 0.3, "cold": True, "warm_seconds": 0.04}, {"connections": 1000, "seconds": 0.9, "warm_seconds": 0.3}]
    )
    statuses = dict(zip(TARGETS, _statuses(results), strict=True))
    assert statuses["broadcast 100"] == statuses["broadcast 1000"] == report.MET


def test_a_missed_goal_points_to_the_profile_that_explains_it():
    results = _results(
        memory_idle={"rss_mb": 200.0, "pss_mb": 151.0, "processes": 3},
        broadcast=[{"connections": 100, "seconds": 0.3, "cold": True, "warm_seconds": 0.3}],
        throughput=[{"clients": 10, "connected": 10, "msgs_per_s": 999.0}],
    )
    profiles = {t["goal"]: t["profile"] for t in report.evaluate_targets(results)}
    assert profiles["Sandbox idle within 150 MB PSS"] == report.MEMORY_PROFILE
    assert profiles["Broadcast to 100 sockets within 50 ms (warm)"] == report.CPU_PROFILE
    assert profiles["At least 1,000 echoed msgs/s with 10 clients"] == report.CPU_PROFILE
    assert profiles["Echo p50 within 10× of the floor"] == ""  # met: nothing to explain
    late = report.evaluate_targets(_results(startup={"p50_s": 0.51, "usable_p50_s": 0.81}))
    assert [t["profile"] for t in late if t["goal"].startswith(("Ready", "First echo"))] == [start_profile.START_PROFILE] * 2
    rows = report.targets_table(results)[1]
    assert [report.MISSED, f"see {report.CPU_PROFILE}"] in [row[2:] for row in rows]


def test_targets_without_figures_are_not_measured():
    results = _results(
        hold={"target": 500, "held": 500, "measured": {"rss_mb": 90.0, "pss_mb": 60.0}}, broadcast=[{"connections": 100, "seconds": 0.04}]
    )  # an older run's row: no warm figure
    del results["servers"]["sandbox"]["edit_to_echo"]
    results["servers"]["architect"] = {"skipped": "--skip-architect"}
    results["coldstart"] = {"skipped": "no packages"}
    statuses = dict(zip(TARGETS, _statuses(results), strict=True))
    missing = {"vs architect", "ready", "held memory", "broadcast 100", "broadcast 1000", "edit", "import"}
    assert {name for name, status in statuses.items() if status == report.NOT_MEASURED} == missing
    assert all(status == report.MET for name, status in statuses.items() if name not in missing)


def _row(rows, label):
    [row] = [r for r in rows if r[0] == label]
    return row


def test_broadcast_rows_show_the_cold_first_and_the_warm_figures():
    _, rows = report.side_by_side(_results())
    assert _row(rows, "Broadcast to 100 sockets, cold: the function's first (ms)")[1] == "200"
    assert _row(rows, "Broadcast to 100 sockets, warm (ms)")[1] == "50.0"
    assert _row(rows, "Broadcast to 1,000 sockets, warm (ms)")[1] == "400"
    # an older run's rows (no "cold", no "warm_seconds"): its first broadcast was the cold one
    older = _results(broadcast=[{"connections": 100, "seconds": 0.2}, {"connections": 1000, "seconds": 0.9}])
    _, rows = report.side_by_side(older)
    assert _row(rows, "Broadcast to 100 sockets, cold: the function's first (ms)")[1] == "200"
    assert _row(rows, "Broadcast to 1,000 sockets, warm (ms)")[1] == report.DASH


@pytest.mark.parametrize("before, after, busy", [(1.0, 1.0, False), (1.01, 0.5, True), (0.5, 1.01, True)])
def test_a_server_whose_load_was_above_half_the_cores_is_flagged_next_to_its_figures(before, after, busy):
    """2 cores: a load of exactly 1.0 is half, not above it."""
    results = _results(load_before=before, load_after=after)
    results["servers"]["floor"] |= {"load_before": 0.2, "load_after": 0.3}
    headers, rows = report.side_by_side(results)
    assert headers[1:4] == [f"Sandbox{' †' if busy else ''}", "Floor", "Architect"]
    assert _row(rows, "Load average before / after its measurements")[1:3] == [
        f"{report.fmt(before)} / {report.fmt(after)}{' †' if busy else ''}",
        "0.200 / 0.300",
    ]
    legend = report.busy_legend(results)
    assert legend == (
        [f"{report.BUSY} Load average above half the 2 cores before or after that server's measurements: its figures are from a busy machine."] if busy else []
    )
    [machine] = report.load_lines(results)
    assert (
        machine.startswith("load average around each server's measurements: sandbox ")
        and machine.endswith("; floor 0.200 before / 0.300 after")
        and ("† above half the 2 cores" in machine) == busy
    )
    page = report.render_markdown(results, None)
    assert f"\n- {machine}\n" in page.split("## Side by side")[0]  # in the Machine section
    assert (legend[0] in page) if busy else ("† Load average above" not in page)


def _memory(by_role):
    return {
        "pss_mb": sum(r["pss_mb"] for r in by_role.values()),
        "rss_mb": sum(r["rss_mb"] for r in by_role.values()),
        "processes": sum(r["count"] for r in by_role.values()),
        "by_role": by_role,
    }


def test_memory_profile_lists_each_role_idle_and_holding_pss_first():
    idle = _memory({"sandbox": {"count": 1, "pss_mb": 50.0, "rss_mb": 70.0}, "forked workers": {"count": 4, "pss_mb": 40.0, "rss_mb": 180.0}})
    held = _memory(
        {
            "sandbox": {"count": 1, "pss_mb": 90.0, "rss_mb": 110.0},
            "DynamoDB server": {"count": 1, "pss_mb": 80.0, "rss_mb": 95.0},
            "forked workers": {"count": 6, "pss_mb": 70.0, "rss_mb": 280.0},
        }
    )
    results = _results(memory_idle=idle, hold={"target": 5000, "held": 5000, "measured": held})
    headers, rows, _ = report.memory_profile_table(results)
    assert headers == ["Process role", "Idle: processes", "PSS (MB)", "RSS (MB)", "holding 5,000: processes", "PSS (MB)", "RSS (MB)"]
    assert rows == [
        ["sandbox", "1", "50.0", "70.0", "1", "90.0", "110"],
        ["DynamoDB server", "–", "–", "–", "1", "80.0", "95.0"],
        ["forked workers", "4", "40.0", "180", "6", "70.0", "280"],
        ["all", "5", "90.0", "250", "8", "240", "485"],
    ]
    assert "## Sandbox memory by role" in report.render_markdown(results, None)
    assert report.memory_profile_table(_results()) is None  # no roles recorded: no table


def test_memory_profile_shows_what_the_queues_burst_left_behind_in_columns_of_its_own():
    """The hold is measured before the 10,000-socket burst, so the burst's high-water mark is not read as the hold's."""
    idle = _memory({"sandbox": {"count": 1, "pss_mb": 50.0, "rss_mb": 70.0}})
    after = _memory({"sandbox": {"count": 1, "pss_mb": 200.0, "rss_mb": 210.0}})
    results = _results(memory_idle=idle, hold={"target": 5000, "held": 5000, "measured": idle}, queue_fanout={"connections": 10000}, memory_after_fanout=after)
    headers, rows, _ = report.memory_profile_table(results)
    assert headers[-3:] == ["after 10,000 came and went: processes", "PSS (MB)", "RSS (MB)"]
    assert rows[0] == ["sandbox", "1", "50.0", "70.0", "1", "50.0", "70.0", "1", "200", "210"]


def test_start_profile_gives_each_roles_cpu_until_ready_and_until_the_first_echo():
    starts = [
        {"sandbox": {"count": 1, "cpu_ms": 300.0}, "preloaded parent": {"count": 1, "cpu_ms": 150.0}},
        {"sandbox": {"count": 1, "cpu_ms": 340.0}, "preloaded parent": {"count": 1, "cpu_ms": 170.0}, "forked workers": {"count": 1, "cpu_ms": 20.0}},
    ]
    echo = [{"sandbox": {"count": 1, "cpu_ms": 400.0}, "DynamoDB server": {"count": 1, "cpu_ms": 900.0}}]
    startup = {"p50_s": 0.5, "usable_p50_s": 1.2, "cpu_ready": start_profile.summary(starts), "cpu_first_echo": start_profile.summary(echo)}
    headers, rows, _ = start_profile.start_profile_table(startup, report.fmt)
    assert headers == ["Process role", "Until ready: processes", "CPU (ms)", "Until first echo: processes", "CPU (ms)"]
    assert rows == [
        ["sandbox", "1", "320", "1", "400"],
        ["DynamoDB server", "–", "–", "1", "900"],
        ["preloaded parent", "1", "160", "–", "–"],
        ["forked workers", "0.5", "10.0", "–", "–"],  # a median over starts: one of two had it
        ["all", "2.5", "490", "2", "1,300"],
        ["wall clock (ms), median", "", "500", "", "1,200"],
    ]
    assert "## Sandbox start by role" in report.render_markdown(_results(startup=startup), None)
    assert start_profile.start_profile_table({}, report.fmt) is None  # not measured: no table


def test_cpu_profile_gives_each_role_per_post_and_per_echo():
    cpu = {
        "broadcast": {
            "connections": 1000,
            "posts": 1000,
            "total_ms": 400.0,
            "by_role": {"sandbox": {"count": 1, "cpu_ms": 300.0}, "bench client": {"count": 1, "cpu_ms": 100.0}},
        },
        "throughput": {
            "clients": 10,
            "echoes": 2000,
            "total_ms": 3000.0,
            "by_role": {"sandbox": {"count": 1, "cpu_ms": 1000.0}, "forked workers": {"count": 2, "cpu_ms": 2000.0}},
        },
    }
    headers, rows, _ = report.cpu_profile_table(_results(cpu=cpu))
    assert headers[1] == "Warm broadcast to 1,000: CPU (ms)"
    assert headers[3] == "Throughput, 10 clients, 2,000 echoes: CPU (ms)"
    assert rows == [
        ["sandbox", "300", "0.300", "1,000", "0.500"],
        ["forked workers", "–", "–", "2,000", "1.00"],
        ["bench client", "100", "0.100", "–", "–"],
        ["all", "400", "0.400", "3,000", "1.50"],
    ]
    assert "## Sandbox CPU by role" in report.render_markdown(_results(cpu=cpu), None)


def test_method_notes_describe_every_row_and_profile():
    notes = " ".join(report.METHOD_NOTES)
    for described in (
        "Edit -> first changed echo",
        "src/shared/messages.py",
        "3 in a full run",
        '"cold"',
        '"warm"',
        report.MEMORY_PROFILE,
        report.CPU_PROFILE,
        "zygote_main.py",
        "worker_main.py",
        "dynamodb_server",
        "per post",
        "per echo",
        "half the cores",
    ):
        assert described in notes


def test_render_table_lines_up_columns():
    text = report.render_table(["Measure", "A"], [["echo p50 (ms)", "1.23"], ["x", "123,456"]])
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[1].startswith("|:-") and lines[1].endswith(":|")
    assert "|    1.23 |" in lines[2] and lines[3].startswith("| x             |")
    left = report.render_table(["Target", "Status"], [["a", "met"]], right=set())
    assert left.splitlines()[1] == "|:-------|:-------|" and "| met    |" in left


@pytest.mark.parametrize("value, text", [(None, "–"), (0.0712, "0.071"), (2.345, "2.35"), (42.42, "42.4"), (421.6, "422"), (61888.2, "61,888")])
def test_fmt_keeps_three_significant_figures(value, text):
    assert report.fmt(value) == text


def test_terminal_report_shows_ratios_targets_and_skips():
    results = _results()
    results["servers"]["architect"] = {"skipped": "npm is not on PATH"}
    text = report.render_terminal(results)
    assert "| Echo round trip p50 (ms)" in text
    assert "4.00× slower" in text  # sandbox 2 ms vs floor 0.5 ms
    assert "architect: skipped: npm is not on PATH" in text
    assert "not measured" in text


def test_markdown_page_has_machine_tables_targets_and_chart(tmp_path):
    results = _results()
    page = tmp_path / "benchmarks.md"
    report.write_markdown(results, page, "benchmark-latency.png")
    text = page.read_text()
    for expected in ("# Benchmarks", "2 cores, 24 GB memory, test CPU", "## Targets", "| met", "![Echo and connect latency", "| ws-default"):
        assert expected in text
    report.write_json(results, tmp_path / "latest.json")
    assert json.loads((tmp_path / "latest.json").read_text())["servers"]["sandbox"]["echo"]["n"] == 3


def test_chart_is_a_png(tmp_path):
    assert chart.write_chart(_results(), tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not chart.write_chart({"servers": {}}, tmp_path / "none.png")


# ---------------------------------------------------------------- cold start and Architect's app


def test_top_imports_lists_what_index_imports_slowest_first():
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       100 |        200 | site",
            "import time:        50 |      80000 |     boto3",
            "import time:        10 |      90000 |   shared.sender",
            "import time:        30 |      30000 |   aws_lambda_powertools",
            "import time:        20 |        900 |       botocore.thing",
            "import time:      1000 |     125000 | index",
        ]
    )
    assert coldstart.top_imports(stderr) == [
        {"module": "shared.sender", "cumulative_ms": 90.0},
        {"module": "boto3", "cumulative_ms": 80.0},
        {"module": "aws_lambda_powertools", "cumulative_ms": 30.0},
    ]


def test_architect_app_follows_its_conventions(tmp_path):
    app = architect.write_app(tmp_path / "app")
    arc = (app / "app.arc").read_text()
    assert "@ws" in arc and "@tables" in arc and "runtime python" in arc
    for route in ("connect", "default", "disconnect"):
        handler = app / "src" / "ws" / route / "index.py"
        py_compile.compile(str(handler), doraise=True, cfile=str(tmp_path / f"{route}.pyc"))
        assert "ARC_SANDBOX" in handler.read_text()
    assert f"{architect.APP_NAME}-staging-connections" in (app / "src" / "ws" / "connect" / "index.py").read_text()


def test_the_memory_line_names_commands_relative_to_the_checkout_largest_pss_first():
    root = targets.REPO_ROOT
    results = {
        "servers": {
            "sandbox": {
                "hold": {
                    "held": 5,
                    "measured": {
                        "by_process": [
                            {"rss_mb": 90.0, "pss_mb": 30.0, "command": f"python -m devkit --app {root}/app.arc sandbox --port 1 --quiet", "role": "sandbox"},
                            {"rss_mb": 48.0, "pss_mb": 40.0, "command": f"python -u {root}/devkit/sandbox/worker_main.py", "role": "fresh workers"},
                        ]
                    },
                }
            }
        }
    }
    [line] = report.memory_lines(results)
    assert str(root) not in line
    assert line.endswith(
        "largest (PSS / RSS): 40.0 / 48.0 MB `python -u devkit/sandbox/worker_main.py` (fresh workers), "
        "30.0 / 90.0 MB `python -m devkit --app app.arc sandbox --port 1 --quiet` (sandbox)"
    )


def test_a_note_names_paths_relative_to_the_checkout():
    """A report names no machine (issue 10): notes carrying log paths are written relative to the checkout."""
    root = targets.REPO_ROOT
    results = {"notes": [f"sandbox exited with -9 when stopped; see {root}/bench/results/logs/sandbox-3.log"]}
    assert report.skipped_lines(results)[-1] == "sandbox exited with -9 when stopped; see bench/results/logs/sandbox-3.log"


def test_the_committed_json_names_no_machine(tmp_path):
    """docs/benchmarks.json is committed: paths in the checkout are relative to it, the home folder is `~`."""
    from pathlib import Path

    root = tmp_path / "checkout"
    results = {"command": f"python -u {root}/devkit/sandbox/zygote_main.py 8", "cache": f"{Path.home()}/.cache/x"}
    report.write_json(results, tmp_path / "out.json", root=root)
    assert json.loads((tmp_path / "out.json").read_text()) == {"command": "python -u devkit/sandbox/zygote_main.py 8", "cache": "~/.cache/x"}


def test_the_bench_installs_the_architect_major_the_docs_pin():
    """README.md and docs/deploy.md run `npx -y @architect/architect@12`; the bench and tests/architect
    compare against that version, not whatever npm's `latest` is that day."""
    pinned = {f"@architect/architect@{architect.ARCHITECT_MAJOR}"}
    for doc in ("README.md", "docs/deploy.md"):
        text = (targets.REPO_ROOT / doc).read_text()
        assert set(re.findall(r"@architect/architect@\w+", text)) == pinned, doc
    assert pinned <= set(architect.PACKAGES)
