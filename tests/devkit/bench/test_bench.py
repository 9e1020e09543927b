"""The bench's own machinery: percentile math, the measuring client against the real floor server over
real sockets (tiny sample counts), process memory, and the report (tables, targets, page, chart).
No assertion here is about speed: the bench reports speed, the tests check that it measures and says
it right."""

import asyncio
import json
import py_compile

import pytest

from devkit.bench import architect, chart, client, coldstart, floor, processes, report, stats, targets

# ---------------------------------------------------------------- statistics

@pytest.mark.parametrize("samples, q, expected", [
    ([1, 2, 3, 4], 50, 2.5),        # even count: between the two middle values
    ([1, 2, 3, 4], 0, 1),
    ([1, 2, 3, 4], 100, 4),
    ([1, 2, 3, 4], 90, 3.7),        # rank (4-1)*0.9 = 2.7: 3 + 0.7*(4-3)
    ([4, 1, 3, 2], 25, 1.75),       # unsorted input is sorted first
    ([7], 99, 7),
    (list(range(1, 101)), 99, 99.01),
])
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

@pytest.mark.parametrize("body, kind", [
    ('{"text": "hi"}', "echo"),
    ('{"action": "broadcast", "text": "hi"}', "broadcast"),
    ("not json", "error"),
    ('{"no": "text"}', "error"),
])
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
    measured = asyncio.run(client.echo_round_trips(floor_server.ws_url, 20, warmup=3,
                                                   progress=lambda done, total: ticks.append((done, total))))
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


def test_hold_connections_counts_open_sockets_and_measures_while_held(floor_server):
    row = asyncio.run(client.hold_connections(
        floor_server.ws_url, 10, hold_s=0.1, measure=lambda: processes.tree_memory(floor_server.process.pid)))
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


# ---------------------------------------------------------------- report

def _results(**sandbox_overrides) -> dict:
    def echo(p50):
        return {"n": 3, "p50_ms": p50, "p90_ms": p50 * 1.5, "p99_ms": p50 * 2, "latencies_s": [p50 / 1000] * 3}

    sandbox = {
        "echo": echo(2.0),
        "connect": echo(3.0),
        "throughput": [{"clients": 10, "connected": 10, "msgs_per_s": 1500.0}],
        "broadcast": [{"connections": 100, "seconds": 0.05}],
        "hold": {"target": 5000, "opened": 5000, "held": 5000, "measured": {"rss_mb": 420.0, "pss_mb": 300.0}},
        "startup": {"samples_s": [0.5], "p50_s": 0.5},
        "memory_idle": {"rss_mb": 80.0, "pss_mb": 60.0, "processes": 3},
    } | sandbox_overrides
    return {
        "machine": {"cores": 2, "cpu": "test CPU", "python": "3.11", "memory_gb": 24},
        "servers": {"sandbox": sandbox, "floor": {"echo": echo(0.5)}, "architect": {"echo": echo(200.0)}},
        "coldstart": {"packages": [{"name": "ws-default", "zip_bytes": 5000, "unzipped_bytes": 9000, "files": 7,
                                    "import_p50_ms": 120.0, "process_p50_ms": 150.0, "slowest_imports": []}]},
        "notes": [],
    }


def _statuses(results):
    return [t["status"] for t in report.evaluate_targets(results)]


def test_targets_all_met():
    assert _statuses(_results()) == [report.MET] * 6


def test_targets_missed_are_marked_missed():
    results = _results(echo={"n": 3, "p50_ms": 10.0}, startup={"p50_s": 2.5},
                       hold={"target": 5000, "held": 4000, "measured": {"rss_mb": 200.0}},
                       throughput=[{"clients": 10, "connected": 10, "msgs_per_s": 900.0}])
    # 200/10 = 20x faster than Architect (< 50), 10/0.5 = 20x the floor (> 10)
    assert _statuses(results) == [report.MISSED, report.MISSED, report.MISSED, report.MISSED, report.MISSED, report.MET]


def test_targets_without_figures_are_not_measured():
    results = _results(hold={"target": 500, "held": 500, "measured": {"rss_mb": 90.0}})
    results["servers"]["architect"] = {"skipped": "--skip-architect"}
    results["coldstart"] = {"skipped": "no packages"}
    statuses = _statuses(results)
    assert statuses[0] == report.NOT_MEASURED   # no Architect
    assert statuses[3] == report.NOT_MEASURED   # a quick run holds fewer than 5,000
    assert statuses[5] == report.NOT_MEASURED   # no packages
    assert statuses[1] == statuses[2] == statuses[4] == report.MET


def test_render_table_lines_up_columns():
    text = report.render_table(["Measure", "A"], [["echo p50 (ms)", "1.23"], ["x", "123,456"]])
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[1].startswith("|:-") and lines[1].endswith(":|")
    assert "|    1.23 |" in lines[2] and lines[3].startswith("| x             |")
    left = report.render_table(["Target", "Status"], [["a", "met"]], right=set())
    assert left.splitlines()[1] == "|:-------|:-------|" and "| met    |" in left


@pytest.mark.parametrize("value, text", [(None, "–"), (0.0712, "0.071"), (2.345, "2.35"), (42.42, "42.4"),
                                         (421.6, "422"), (61888.2, "61,888")])
def test_fmt_keeps_three_significant_figures(value, text):
    assert report.fmt(value) == text


def test_terminal_report_shows_ratios_targets_and_skips():
    results = _results()
    results["servers"]["architect"] = {"skipped": "npm is not on PATH"}
    text = report.render_terminal(results)
    assert "| Echo round trip p50 (ms)" in text
    assert "4.00× slower" in text                      # sandbox 2 ms vs floor 0.5 ms
    assert "architect: skipped: npm is not on PATH" in text
    assert "not measured" in text


def test_markdown_page_has_machine_tables_targets_and_chart(tmp_path):
    results = _results()
    page = tmp_path / "benchmarks.md"
    report.write_markdown(results, page, "benchmark-latency.png")
    text = page.read_text()
    for expected in ("# Benchmarks", "2 cores, 24 GB memory, test CPU", "## Targets", "| met",
                     "![Echo and connect latency", "| ws-default"):
        assert expected in text
    report.write_json(results, tmp_path / "latest.json")
    assert json.loads((tmp_path / "latest.json").read_text())["servers"]["sandbox"]["echo"]["n"] == 3


def test_chart_is_a_png(tmp_path):
    assert chart.write_chart(_results(), tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not chart.write_chart({"servers": {}}, tmp_path / "none.png")


# ---------------------------------------------------------------- cold start and Architect's app

def test_top_imports_lists_what_index_imports_slowest_first():
    stderr = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:       100 |        200 | site",
        "import time:        50 |      80000 |     boto3",
        "import time:        10 |      90000 |   shared.sender",
        "import time:        30 |      30000 |   aws_lambda_powertools",
        "import time:        20 |        900 |       botocore.thing",
        "import time:      1000 |     125000 | index",
    ])
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


def test_the_memory_line_names_commands_relative_to_the_checkout():
    root = targets.REPO_ROOT
    results = {"servers": {"sandbox": {"hold": {"held": 5, "measured": {"by_process": [
        {"rss_mb": 90.0, "command": f"python -m devkit --app {root}/app.arc sandbox --port 1 --quiet"},
        {"rss_mb": 48.0, "command": f"python -u {root}/devkit/sandbox/worker_main.py"},
    ]}}}}}
    [line] = report.memory_lines(results)
    assert str(root) not in line
    assert "`python -m devkit --app app.arc sandbox --port 1 --quiet`" in line
    assert "`python -u devkit/sandbox/worker_main.py`" in line


def test_a_note_names_paths_relative_to_the_checkout():
    """A report names no machine (issue 10): notes carrying log paths are written relative to the checkout."""
    root = targets.REPO_ROOT
    results = {"notes": [f"sandbox exited with -9 when stopped; see {root}/bench/results/logs/sandbox-3.log"]}
    assert report.skipped_lines(results)[-1] == "sandbox exited with -9 when stopped; see bench/results/logs/sandbox-3.log"
