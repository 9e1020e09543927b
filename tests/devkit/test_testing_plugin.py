"""devkit.testing, the public pytest plugin, as a newcomer meets it: the fixture app tests/fixtures/newcomer,
whose conftest.py is the one line `pytest_plugins = ["devkit.testing"]`, run by a pytest of its own."""

import re
import shutil
import subprocess
import sys

import devkit.testing
from devkit.testing import Response, Sandbox, Socket
from tests.support.repo import FIXTURES, ROOT
from tests.support.sandbox import RunningSandbox

# The contract: every public name, as README.md's "Testing your app" lists them.
CONTRACT = {
    Sandbox: ["url", "ws_url", "origin", "get", "post", "connect", "table", "log_lines", "wait_for"],
    Socket: ["send_json", "send_text", "receive_json", "receive_text", "wait_closed", "close", "close_code", "received"],
    Response: ["status", "headers", "text", "json"],
}
OPTIONS = ["--target", "--app-arc"]


def newcomer(tmp_path, extra_tests: str = ""):
    app = tmp_path / "newcomer"
    shutil.copytree(FIXTURES / "newcomer", app, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    if extra_tests:
        (app / "test_extra.py").write_text(extra_tests)
    return app


def run_pytest(app, *args, timeout=240) -> subprocess.CompletedProcess:
    """pytest in `app` as a newcomer runs it: only the kit importable (PYTHONPATH), no repository config."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", *args],
        cwd=app,
        text=True,
        capture_output=True,
        timeout=timeout,
        env={**_environ(), "PYTHONPATH": str(ROOT)},
    )


def _environ():
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}


def test_every_public_name_exists_and_the_readme_lists_it():
    """The names a user's tests call are a contract: removing one fails here, and so does leaving it out of the README."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Testing your app") :]
    section = section[: section.index("\n## ", 4)]
    for kind, names in CONTRACT.items():
        for name in names:
            assert hasattr(kind, name) or name in kind.__dataclass_fields__, f"{kind.__name__}.{name} is gone"
            assert f".{name}" in section or f"`{name}" in section, f"README's Testing your app does not list {name}"
    assert callable(getattr(devkit.testing, "sandbox", None)), "the `sandbox` fixture is gone"
    for option in OPTIONS:
        assert option in section, f"README's Testing your app does not list {option}"


def test_the_newcomer_app_needs_only_the_one_line_conftest():
    assert (FIXTURES / "newcomer" / "conftest.py").read_text().strip() == 'pytest_plugins = ["devkit.testing"]'


def test_a_newcomers_tests_pass_with_one_sandbox_per_xdist_worker(tmp_path):
    result = run_pytest(newcomer(tmp_path), "-n", "2", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b6 passed\b", result.stdout), result.stdout


FAILING = """
def test_changed_reply(sandbox):
    with sandbox.connect() as ws:
        ws.send_json({"text": "hello"})
        assert ws.receive_json() == {"echo": "hello, changed"}


def test_nothing_comes(sandbox):
    with sandbox.connect() as ws:
        ws.send_json({"text": "only once"})
        ws.receive_json()
        ws.receive_json(timeout=0.5)


def test_leaves_a_row_behind(sandbox):
    sandbox.table("members").put_item(Item={"memberId": "left-behind"})
    with sandbox.connect():
        pass


def test_starts_clean(sandbox):
    assert sandbox.table("members").scan()["Items"] == []
    assert not [line for line in sandbox.log_lines() if "$connect" in line]  # the previous test's socket is not in it
"""


def test_a_failure_shows_what_was_received_a_timeout_what_was_waited_for_and_each_test_starts_clean(tmp_path):
    result = run_pytest(newcomer(tmp_path, FAILING), "test_extra.py", "-q")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert re.search(r"\b2 failed, 2 passed\b", out), "the next test starts with empty tables and a log of its own"
    assert "{'echo': 'hello'} == {'echo': 'hello, changed'}" in out  # what came, beside what was expected
    assert re.search(r"socket 1 received \(ws://localhost:\d+\)", out) and '\'{"echo": "hello"}\'' in out
    assert "waited 0.5 s for a JSON message on ws://localhost:" in out and "none came" in out
    assert "the app's last log lines:" in out and re.search(r"WS  \$default \S+ [\d.]+ ms", out)


def test_target_runs_the_socket_tests_against_a_running_copy_and_skips_the_table_test_naming_the_option(tmp_path):
    """The same tests against a second sandbox of the app, found as `python -m devkit smoke` finds it."""
    app = newcomer(tmp_path)
    with RunningSandbox(app, args=("--no-reload",), log_dir=tmp_path) as other:
        result = run_pytest(app, "--target", other.page_url + "/", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b5 passed, 1 skipped\b", result.stdout), result.stdout
    assert re.search(r"SKIPPED .*table\(\) needs the embedded sandbox; this run is against --target http://localhost:\d+/", result.stdout)


def test_a_target_that_does_not_answer_fails_each_test_saying_why(tmp_path):
    result = run_pytest(newcomer(tmp_path), "--target", "http://127.0.0.1:9/", "-q", timeout=60)  # the discard port
    assert result.returncode == 1, result.stdout + result.stderr
    assert "--target http://127.0.0.1:9/: cannot find the app's socket URL" in result.stdout
