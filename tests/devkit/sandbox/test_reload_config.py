"""Configuration edits while the sandbox runs: a function's `@permissions`, timeout and memory apply to
its next invocation; what needs a restart (a new route, tables) is said in one line; a denial never
suggests a grant that is already declared (devkit/sandbox/reload.py, server.py, iam.py).

No AWS source: on AWS a configuration change is a deploy (UpdateFunctionConfiguration, a new role
policy), and the function's next invocation runs with it. The denials' wording is AWS's
(tests/devkit/sandbox/test_iam.py cites it); the hints after it are the sandbox's own.
"""

import pytest

from tests.support.iam import TABLE, as_function, denied
from tests.support.sandbox import RunningSandbox, copy_fixture, wait_until
from tests.support.sockets import ask, connect


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    running = RunningSandbox(copy_fixture("permissions", tmp_path_factory.mktemp("app")))  # reload on
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def edits(sandbox):
    """Write files of the app; each is put back as it was after the test (and that reload awaited)."""
    originals: dict = {}

    def edit(relative: str, text: str) -> None:
        path = sandbox.app_dir / relative
        originals.setdefault(path, path.read_text() if path.exists() else None)
        path.write_text(text)

    yield edit
    if not originals:
        return
    before = len(sandbox.output())
    for path, text in originals.items():
        if text is None:
            path.unlink()
        else:
            path.write_text(text)
    # each file under src/ is named in a "reloaded:" line; app.arc alone ends in "applied:" (each edit here changes a setting)
    sources = [str(path.relative_to(sandbox.app_dir)) for path in originals if path.name != "app.arc"]
    awaited = sources or ["applied: "]
    wait_until(lambda: all(text in sandbox.output()[before:] for text in awaited), what=f"the sandbox's reload of {awaited} after the files were put back")


def after(sandbox, text: str, timeout: float = 10) -> str:
    """The sandbox's output after the first line holding `text` (waited for)."""
    sandbox.wait_for_output(text, timeout)
    output = sandbox.output()
    return output[output.index(text) :]


def test_a_permissions_edit_applies_to_the_next_invocation(sandbox, edits):
    sandbox.dynamodb().put_item(TableName=TABLE, Item={"id": {"S": "one"}})
    ws = connect(sandbox)
    assert ask(ws, {"action": "count"})["message"] == "Internal server error"
    sandbox.wait_for_output('add "table things Scan" under @permissions in src/ws/count/config.arc')
    config = (sandbox.app_dir / "src/ws/count/config.arc").read_text()
    edits("src/ws/count/config.arc", config + "table things Scan\n")
    later = after(sandbox, "applied: ws-count (@permissions); their next invocation runs with it")
    assert ask(ws, {"action": "count"}) == {"count": 1}
    ws.close()
    assert "IAM denied" not in later


def test_timeout_and_memory_edits_apply_to_the_next_invocation(sandbox, edits):
    edits(
        "src/ws/default/index.py",
        (
            "import json, os, time\nimport boto3\n\n"
            "def handler(event, context):\n"
            "    time.sleep(1.5)\n"
            "    boto3.client('apigatewaymanagementapi', endpoint_url='http' + os.environ['ARC_WSS_URL'][2:]).post_to_connection(\n"
            "        ConnectionId=event['requestContext']['connectionId'], Data=json.dumps({'memory': context.memory_limit_in_mb}))\n"
            "    return {'statusCode': 200}\n"
        ),
    )
    edits("src/ws/default/config.arc", "@aws\ntimeout 1\n")
    sandbox.wait_for_output("applied: ws-default (timeout 10 -> 1 s)")
    ws = connect(sandbox)
    assert ask(ws, {"say": "slow"})["message"] == "Internal server error"
    sandbox.wait_for_output("Task timed out after 1.00 seconds")
    edits("src/ws/default/config.arc", "@aws\ntimeout 3\nmemory 512\n")
    sandbox.wait_for_output("applied: ws-default (memory 256 -> 512 MB, timeout 1 -> 3 s)")
    assert ask(ws, {"say": "slow"}) == {"memory": "512"}
    ws.close()


def test_a_new_route_in_app_arc_says_in_one_line_that_a_restart_is_needed(sandbox, edits):
    (sandbox.app_dir / "src/ws/extra").mkdir(exist_ok=True)
    edits("src/ws/extra/index.py", "def handler(event, context):\n    return {'statusCode': 200}\n")
    arc = (sandbox.app_dir / "app.arc").read_text()
    edits("app.arc", arc.replace("@tables", "extra\n\n@tables"))
    sandbox.wait_for_output(
        "restart the sandbox (Ctrl-C, then make sandbox) to apply new route(s) extra; until then it runs with the configuration it started with"
    )


def test_a_broken_config_arc_is_named_and_the_previous_configuration_stays(sandbox, edits):
    edits("src/ws/count/config.arc", "@permissions\ntable nosuchtable Scan\n")
    sandbox.wait_for_output("src/ws/count/config.arc:2:")
    sandbox.wait_for_output("the sandbox runs on with the configuration it had")


def test_a_denial_by_an_explicit_deny_names_the_statements_file_not_a_grant_to_add(sandbox):
    """audit declares `table things Scan GetItem` and a statements file denying GetItem."""
    denied(lambda: as_function(sandbox, "dynamodb", "ws-audit").get_item(TableName=TABLE, Key={"id": {"S": "x"}}))
    line = after(sandbox, "IAM denied audit (ws-audit): dynamodb:GetItem").splitlines()[0]
    assert line.endswith("an explicit Deny in a statements file named under @permissions in src/ws/audit/config.arc denies it")


def test_a_denial_on_an_index_of_a_granted_table_does_not_suggest_the_declared_line(sandbox):
    denied(lambda: as_function(sandbox, "dynamodb", "ws-audit").scan(TableName=TABLE, IndexName="by-name"))
    line = after(sandbox, "IAM denied audit (ws-audit): dynamodb:Scan").splitlines()[0]
    assert line.endswith(
        '"table things Scan GetItem" in src/ws/audit/config.arc covers the table, not its indexes '
        "(only a Query grant reaches them): use a statements file for Scan on an index"
    )
    assert "add " not in line


def test_an_app_arc_memory_edit_applies_to_every_function_it_changes(sandbox, edits):
    arc = (sandbox.app_dir / "app.arc").read_text()
    edits("app.arc", arc + "\n@aws\nmemory 1024\n")
    line = after(sandbox, "applied: http-get-index (memory 256 -> 1024 MB)").splitlines()[0]
    for function_id in ("ws-connect", "ws-default", "ws-disconnect", "ws-count", "ws-audit"):
        assert f"{function_id} (memory 256 -> 1024 MB" in line
