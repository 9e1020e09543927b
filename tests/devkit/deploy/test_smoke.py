"""`python -m devkit smoke`: runs what the app declares in smoke.json; passes against the real sandbox
running this repository's app, and fails, naming the step, against copies of the app broken in one place
each; a missing or malformed declaration is one line naming the file. No AWS: the deployed path differs
only in the URL (a stack's `PageUrl` output), which `make smoke-staging` / `smoke-production` read."""

import json
import shutil
import subprocess
import sys

import pytest

from devkit.deploy import smoke, smoke_declaration
from tests.conftest import ROOT
from tests.devkit.sandbox.harness import RunningSandbox, start_app

STEP_TIMEOUT = 1.5  # seconds: short, so the failing cases are quick; the sandbox echoes in milliseconds


@pytest.fixture(scope="module")
def declared():
    """This app's own declaration, the one `python -m devkit smoke` reads."""
    return smoke_declaration.load(ROOT / "smoke.json")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    running = start_app(tmp_path_factory.mktemp("logs"))
    try:
        yield running
    finally:
        running.stop()


def test_the_smoke_command_passes_against_the_sandbox(sandbox):
    result = subprocess.run([sys.executable, "-m", "devkit", "smoke", "--url", sandbox.url + "/", "--timeout", "5"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[1:-1]] == [
        ["ok", "page"], ["ok", "socket"], ["ok", "echo"], ["ok", "broadcast"], ["ok", "malformed"], ["ok", "foreign"],
    ]
    assert all(" ms " in line for line in lines[1:-1])
    assert "Echoing smoke " in lines[3] and '"broadcast": true' in lines[4] and "refused with 403" in lines[6]
    assert lines[-1] == "smoke test passed: 6 steps"


def broken_app(tmp_path, break_it) -> RunningSandbox:
    """A copy of the app with one thing broken, in the real sandbox."""
    root = tmp_path / "app"
    root.mkdir()
    shutil.copy(ROOT / "app.arc", root / "app.arc")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "src", root / "src", ignore=ignore)
    shutil.copytree(ROOT / "public", root / "public", ignore=ignore)
    break_it(root)
    return RunningSandbox(root, args=("--no-reload",))


def silent_default(root):
    (root / "src/ws/default/index.py").write_text("def handler(event, context):\n    return {'statusCode': 200}\n")


def page_without_socket_url(root):
    page = root / "src/http/get-index/index.html"
    page.write_text(page.read_text().replace(' data-wss-url="{{ wss_url }}"', ""))


@pytest.mark.parametrize("break_it, step", [(silent_default, "echo"), (page_without_socket_url, "socket url")])
def test_the_smoke_test_fails_naming_the_broken_step(tmp_path, declared, break_it, step):
    running = broken_app(tmp_path, break_it)
    lines = []
    try:
        assert smoke.run(running.url + "/", declared, timeout=STEP_TIMEOUT, out=lines.append) == 1
    finally:
        running.stop()
    assert lines[-1] == f"smoke test failed at step '{step}'"
    assert lines[-2].split()[:2] == ["FAIL", step.split()[0]]
    assert not any(line.startswith("  ok    " + step) for line in lines)


def test_an_unreachable_page_fails_at_the_first_step(declared):
    from tests.devkit.sandbox.harness import free_port

    lines = []
    assert smoke.run(f"http://127.0.0.1:{free_port()}/", declared, timeout=STEP_TIMEOUT, out=lines.append) == 1
    assert lines[-1] == "smoke test failed at step 'page'"
