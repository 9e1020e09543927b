"""`python -m devkit smoke`: runs what the app declares in smoke.json; passes against the real sandbox
running this repository's app, and fails, naming the step, against copies of the app broken in one place
each; a missing or malformed declaration is one line naming the file. No AWS: the deployed path differs
only in the URL (a stack's `PageUrl` output), which `make smoke-staging` / `smoke-production` read."""

import json
import shutil
import subprocess
import sys
import urllib.request

import pytest

from devkit import cli
from devkit.deploy import smoke, smoke_declaration
from tests.support.repo import ROOT
from tests.support.sandbox import RunningSandbox, app_fixture, free_port

STEP_TIMEOUT = 1.5  # seconds: short, so the failing cases are quick; the sandbox echoes in milliseconds


@pytest.fixture(scope="module")
def declared():
    """This app's own declaration, the one `python -m devkit smoke` reads."""
    return smoke_declaration.load(ROOT / "smoke.json")


sandbox = app_fixture("module")


def test_the_smoke_command_passes_against_the_sandbox(sandbox):
    result = subprocess.run(
        [sys.executable, "-m", "devkit", "smoke", "--url", sandbox.url + "/", "--timeout", "5"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines[1:-1]] == [
        ["ok", "page"],
        ["ok", "socket"],
        ["ok", "echo"],
        ["ok", "broadcast"],
        ["ok", "malformed"],
        ["ok", "no"],
        ["ok", "foreign"],
    ]
    assert all(" ms " in line for line in lines[1:-1])
    assert "offering 2 subprotocol(s)" in lines[2] and "Echoing smoke " in lines[3] and '"broadcast": true' in lines[4]
    assert "refused with 401" in lines[6] and "refused with 403" in lines[7]
    assert lines[-1] == "smoke test passed: 7 steps"


def broken_app(tmp_path, break_it) -> RunningSandbox:
    """A copy of the app with one thing broken, in the real sandbox."""
    root = tmp_path / "app"
    root.mkdir()
    shutil.copy(ROOT / "app.arc", root / "app.arc")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "src", root / "src", ignore=ignore)
    shutil.copytree(ROOT / "public", root / "public", ignore=ignore)
    break_it(root)
    running = RunningSandbox(root, args=("--no-reload",))
    # Warm the page's worker first: under load its cold start alone can outlast the short step timeout.
    try:
        urllib.request.urlopen(running.url + "/", timeout=30).close()
    except BaseException:
        running.stop()
        raise
    return running


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
    lines = []
    assert smoke.run(f"http://127.0.0.1:{free_port()}/", declared, timeout=STEP_TIMEOUT, out=lines.append) == 1
    assert lines[-1] == "smoke test failed at step 'page'"


def declaration_with(tmp_path, change) -> smoke_declaration.Declaration:
    """This app's declaration with `change(document)` applied, loaded from a file of its own."""
    document = json.loads((ROOT / "smoke.json").read_text())
    change(document)
    path = tmp_path / "smoke.json"
    path.write_text(json.dumps(document))
    return smoke_declaration.load(path)


def wrong_echo(document):
    document["steps"][0]["expect"]["text"] = "{iso_time} - Echo {token}"


def broadcast_flag_false(document):
    document["steps"][1]["expect"]["broadcast"] = False


def no_csp_but_a_missing_attribute(document):
    document["page"]["content_security_policy"] = False
    document["socket_url"]["html_attribute"] = "data-no-such-url"


@pytest.mark.parametrize(
    "change, step",
    [
        (wrong_echo, "echo"),
        (broadcast_flag_false, "broadcast"),
        (no_csp_but_a_missing_attribute, "socket url"),
    ],
)
def test_the_declaration_decides_what_each_step_checks(sandbox, tmp_path, change, step):
    """The same running app fails once its declaration expects something it does not do: the runner checks
    the declared regular expressions and exact values, not a format of its own."""
    lines = []
    assert smoke.run(sandbox.url + "/", declaration_with(tmp_path, change), timeout=STEP_TIMEOUT, out=lines.append) == 1
    assert lines[-1] == f"smoke test failed at step '{step}'"
    assert "no matching reply" in lines[-2] or "data-no-such-url" in lines[-2]


def test_the_smoke_steps_are_the_runners_around_the_declared_ones(sandbox, tmp_path):
    def one_step(document):
        document["steps"] = [{"name": "hello", "socket": "x", "send": {"text": "hello {token}"}, "expect": {"text": "{iso_time} - Echoing hello {token}"}}]

    lines = []
    assert smoke.run(sandbox.url + "/", declaration_with(tmp_path, one_step), timeout=5, out=lines.append) == 0
    assert [line.split()[1] for line in lines[1:-1]] == ["page", "socket", "hello", "no", "foreign"]
    assert lines[-1] == "smoke test passed: 5 steps"


@pytest.mark.parametrize(
    "text, message",
    [
        (None, ("smoke.json: not found: expected the app's smoke-test declaration (JSON) next to app.arc; see docs/deploy.md, Smoke test")),
        ('{"steps": [\n', "smoke.json:2: not valid JSON (Expecting value): expected one JSON object"),
        ("[]", "smoke.json: expected one JSON object with socket_url and steps (page optional)"),
        ('{"steps": []}', "smoke.json: expected a key 'socket_url'"),
        ('{"socket_url": {"html_attribute": "x"}, "steps": [], "stpes": []}', "smoke.json: stpes: expected no such key; one of page, socket_url, steps"),
        ('{"socket_url": {"html_attribute": ""}, "steps": []}', "smoke.json: socket_url.html_attribute: expected a non-empty string"),
        (
            '{"page": {"content_security_policy": "yes"}, "socket_url": {"html_attribute": "x"}, "steps": []}',
            "smoke.json: page.content_security_policy: expected true or false",
        ),
        ('{"socket_url": {"html_attribute": "x"}, "steps": {}}', "smoke.json: steps: expected a list of steps"),
        (
            '{"socket_url": {"html_attribute": "x"}, "steps": [{"name": "a", "socket": "s", "send": 1, "expect": {"t": "x"}}]}',
            "smoke.json: steps[0].send: expected a JSON object (sent as JSON) or a string (sent as raw text)",
        ),
        (
            '{"socket_url": {"html_attribute": "x"}, "steps": [{"name": "a", "socket": "s", "send": "x", "expect": {}}]}',
            "smoke.json: steps[0].expect: expected a JSON object of reply field -> regular expression (or exact value)",
        ),
        (
            '{"socket_url": {"html_attribute": "x"}, "steps": [{"name": "a", "socket": "s", "send": "x", "expect": {"t": "(x"}}]}',
            "smoke.json: steps[0].expect.t: expected a regular expression (missing ), unterminated subpattern at position 0)",
        ),
        (
            '{"socket_url": {"html_attribute": "x"}, "steps": [{"name": "a", "socket": "s", "send": "x", "expect": {"t": "{tokn}"}}]}',
            "smoke.json: steps[0].expect: expected only the placeholders {iso_time}, {token}, not {tokn}",
        ),
        (
            '{"socket_url": {"html_attribute": "x"}, "steps": [{"name": "a", "socket": "s", "send": "{iso_time}", "expect": {"t": "x"}}]}',
            "smoke.json: steps[0].send: expected only the placeholders {token}, not {iso_time}",
        ),
        (
            '{"socket_url": {"html_attribute": "x"}, "steps": [{"name": "page", "socket": "s", "send": "x", "expect": {"t": "x"}}]}',
            "smoke.json: steps[0].name: expected a name no other step has (the runner's own: page, socket url, no subprotocols, foreign origin)",
        ),
        (
            '{"socket_url": {"html_attribute": "x"}, "steps": [{"name": "a", "send": "x", "expect": {"t": "x"}}]}',
            "smoke.json: steps[0]: expected a key 'socket'",
        ),
    ],
)
def test_a_missing_or_malformed_declaration_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys, text, message):
    """Checked before any request: `smoke --url` at a port nobody serves still reports the declaration."""
    shutil.copy(ROOT / "app.arc", tmp_path / "app.arc")
    if text is not None:
        (tmp_path / "smoke.json").write_text(text)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--app", "app.arc", "smoke", "--url", "http://127.0.0.1:9/"]) == 2
    assert capsys.readouterr() == ("", f"error: {message}\n")


def test_declared_subprotocols_come_from_the_page_and_a_socket_without_them_must_be_refused(sandbox, tmp_path):
    """The app's authorizer refuses a socket offering no token (401): the runner checks it; a declaration
    naming an attribute the page lacks fails at the socket-url step, naming it."""

    def no_token(document):
        document["socket_url"]["subprotocols"] = ["chat", {"html_attribute": "data-missing"}]

    lines = []
    assert smoke.run(sandbox.url + "/", declaration_with(tmp_path, no_token), timeout=5, out=lines.append) == 1
    assert "the page has no data-missing attribute (a declared subprotocol)" in lines[2]


@pytest.mark.parametrize("subprotocols", ["chat", [1], [{"attribute": "x"}]])
def test_malformed_subprotocols_name_their_place(tmp_path, subprotocols):
    path = tmp_path / "smoke.json"
    path.write_text(json.dumps({"socket_url": {"html_attribute": "x", "subprotocols": subprotocols}, "steps": []}))
    with pytest.raises(smoke_declaration.ManifestError, match="socket_url.subprotocols"):
        smoke_declaration.load(path)
