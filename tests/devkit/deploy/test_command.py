"""`python -m devkit deploy | destroy` as a user runs them, on the fixture app tests/fixtures/relay (stack
RelayStaging): the dry run end to end in a subprocess, missing credentials, and the whole flow against
moto (see test_stack.py for what moto cannot show)."""

import json
import os
import re
import subprocess
import sys
import zipfile
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from moto.server import ThreadedMotoServer

from devkit import cli, manifest
from devkit.deploy import command, stack
from devkit.errors import ServiceError
from devkit.progress import Progress
from tests.support.deploy import APP, AWS_VARIABLES, give_api_gateway_a_cloudwatch_role, main
from tests.support.repo import ROOT

PACKAGES = len(manifest.load(APP).functions) + 1  # one a function, and public/'s static one
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..ApiGatewayV2:UserWarning")  # moto skips them, see test_stack


def test_dry_run_on_a_fresh_clone_needs_no_aws_account(relay_copy, tmp_path):
    """The real command in a subprocess, in a fresh copy of an app, no credentials anywhere, real pip for the Lambda platform."""
    env = {k: v for k, v in os.environ.items() if k not in AWS_VARIABLES}
    empty = tmp_path / "empty"
    empty.write_text("")
    env.update(
        AWS_CONFIG_FILE=str(empty),
        AWS_SHARED_CREDENTIALS_FILE=str(empty),
        AWS_EC2_METADATA_DISABLED="true",
        DEVKIT_BUILD_DIR=str(tmp_path / "build"),
        PYTHONPATH=str(ROOT),  # the kit, as the user's checkout has it; the app is the working directory's app.arc
    )
    result = subprocess.run(
        [sys.executable, "-m", "devkit", "deploy", "--stage", "staging", "--dry-run"], cwd=relay_copy, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "Dry run: stack RelayStaging in us-east-1" in result.stdout
    assert "No AWS call was made" in result.stdout
    document = json.loads((tmp_path / "build/template.json").read_text())
    assert document["Resources"]["WsApi"]["Properties"]["ProtocolType"] == "WEBSOCKET"
    zips = sorted(p.name for p in (tmp_path / "build/packages").iterdir())
    assert zips == [
        "authorizer-gate.zip",
        "http-get-index.zip",
        "queue-outbox.zip",
        "static.zip",
        "ws-announce.zip",
        "ws-connect.zip",
        "ws-default.zip",
        "ws-disconnect.zip",
    ]
    assert "jinja2/__init__.py" in zipfile.ZipFile(tmp_path / "build/packages/http-get-index.zip").namelist()


@pytest.mark.parametrize("argv", [["deploy", "--stage", "staging"], ["destroy", "--stage", "production", "--yes"]])
def test_missing_credentials_is_one_clear_line(no_aws, build, fake_pip, capsys, argv):
    assert main(*argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("error: no AWS credentials found: set AWS_PROFILE")
    assert "aws configure" in captured.err and "AWS_ACCESS_KEY_ID" in captured.err
    assert ("`--dry-run` needs none" in captured.err) == (argv[0] == "deploy")  # destroy has no dry run
    assert fake_pip.calls == []  # it failed before packaging anything


def test_a_missing_profile_is_one_clear_line(no_aws, build, capsys, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "nobody")
    assert main("deploy", "--stage", "staging") == 2
    assert capsys.readouterr().err.startswith("error: The config profile (nobody) could not be found: set AWS_PROFILE")


def test_deploy_then_deploy_again_then_destroy(moto, capsys):
    assert main("deploy", "--stage", "staging") == 0
    first = capsys.readouterr().out
    assert "deployment bucket devkit-deploy-123456789012-us-east-1 (created)" in first
    assert "  uploaded  ws-connect" in first
    assert "Stack RelayStaging created (CREATE_COMPLETE)." in first
    # moto's change sets leave no Outputs, so the URLs are not printed here; test_stack.py covers outputs.

    assert main("deploy", "--stage", "staging") == 0
    second = capsys.readouterr().out
    assert "  unchanged ws-connect" in second
    assert "No changes: stack RelayStaging is already up to date." in second

    assert main("destroy", "--stage", "staging", "--yes") == 0
    assert "Stack RelayStaging deleted." in capsys.readouterr().out
    assert main("destroy", "--stage", "staging", "--yes") == 0
    assert "Nothing to destroy" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, status, line",
    [
        (("deploy", "--stage", "staging"), 1, "Deploy failed: stack RelayStaging belongs to app 'other', not 'relay'"),
        (("destroy", "--stage", "staging", "--yes"), 2, "error: stack RelayStaging belongs to app 'other', not 'relay'"),
    ],
)
def test_deploy_and_destroy_refuse_a_stack_that_another_app_owns(moto, capsys, argv, status, line):
    """The command passes its app to the owner check (test_stack_owner.py checks the check itself)."""
    import boto3

    cfn = boto3.client("cloudformation", region_name="us-east-1")
    taken = {"TemplateBody": json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})}
    stack.deploy(cfn, "RelayStaging", taken, {}, poll_seconds=0, app="other")
    assert main(*argv) == status
    captured = capsys.readouterr()
    assert line in captured.out + captured.err
    described = cfn.describe_stacks(StackName="RelayStaging")["Stacks"][0]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    assert [r["LogicalResourceId"] for r in cfn.describe_stack_resources(StackName="RelayStaging")["StackResources"]] == ["Topic"]


def test_destroy_without_a_terminal_asks_for_yes(moto, capsys, monkeypatch):
    assert main("deploy", "--stage", "staging") == 0
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main("destroy", "--stage", "staging") == 2
    assert "pass --yes to confirm" in capsys.readouterr().err


def test_destroy_answered_no_deletes_nothing(moto, capsys, monkeypatch):
    assert main("deploy", "--stage", "staging") == 0
    monkeypatch.setattr(command, "confirm", lambda question: False)
    assert main("destroy", "--stage", "staging") == 1
    assert "Nothing deleted." in capsys.readouterr().out
    import boto3

    assert boto3.client("cloudformation", region_name="us-east-1").describe_stacks(StackName="RelayStaging")["Stacks"]


def test_a_failed_deploy_prints_the_failing_resources_and_the_rollback(moto, capsys, monkeypatch):
    failure = stack.StackEvent(
        "e1", datetime(2025, 1, 1, tzinfo=timezone.utc), "WsConnectFunction", "AWS::Lambda::Function", "CREATE_FAILED", "Runtime python3.99 is not supported"
    )

    def failing_deploy(*args, **kwargs):
        raise stack.DeployError("stack RelayStaging ended ROLLBACK_COMPLETE", [failure], rolled_back=True)

    monkeypatch.setattr(stack, "deploy", failing_deploy)
    assert main("deploy", "--stage", "staging") == 1
    out = capsys.readouterr().out
    assert "Deploy failed: stack RelayStaging ended ROLLBACK_COMPLETE" in out
    assert "  WsConnectFunction (AWS::Lambda::Function): Runtime python3.99 is not supported" in out
    assert "CloudFormation rolled back" in out


def test_aws_refusing_a_call_is_one_line(moto, capsys, monkeypatch):
    original = command.template.build

    def broken(*args, **kwargs):
        document = original(*args, **kwargs)
        document["Resources"]["WsConnectFunction"]["Properties"]["Role"] = {"Fn::GetAtt": ["NoSuchRole", "Arn"]}
        return document

    monkeypatch.setattr(command.template, "build", broken)
    assert main("deploy", "--stage", "staging") == 1  # AWS refused a call: exit 1, as for any AWS failure
    err = capsys.readouterr().err
    assert err.startswith("error: AWS refused ") and "NoSuchRole" in err and err.count("\n") == 1


def test_progress_prints_events_and_draws_a_spinner_only_on_a_terminal():
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    event = stack.StackEvent("e", datetime(2025, 1, 1, tzinfo=timezone.utc), "WsApi", "AWS::ApiGatewayV2::Api", "CREATE_FAILED", "Bad name")
    plain, terminal = io.StringIO(), Terminal()
    for stream in (plain, terminal):
        out = Progress(stream)
        command.waiting(out)()
        out.line(command.event_line(event))
    assert plain.getvalue().count("\n") == 1 and "waiting" not in plain.getvalue()
    assert "CREATE_FAILED" in plain.getvalue() and "WsApi  Bad name" in plain.getvalue()
    spinner, _, rest = terminal.getvalue().partition("(0 s)")
    assert spinner == "\r\x1b[2K  / waiting for CloudFormation " and rest.startswith("\r\x1b[2K  "), "drawn, then erased"


def test_production_deploy_turns_termination_protection_on(moto, capsys, monkeypatch):
    """moto has no UpdateTerminationProtection (test_stack.py checks the call against botocore's model),
    so the calls are recorded here."""
    calls = []
    monkeypatch.setattr(stack, "set_termination_protection", lambda cfn, name, on: calls.append((name, on)))
    give_api_gateway_a_cloudwatch_role()
    assert main("deploy", "--stage", "production") == 0
    out = capsys.readouterr().out
    assert calls == [("RelayProduction", True)]
    assert "Termination protection is on" in out
    assert "Smoke test skipped: the stack has no PageUrl output." in out  # moto leaves no outputs


def test_destroy_production_turns_protection_off_after_asking_and_says_how_to_delete_the_kept_tables(moto, capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(stack, "set_termination_protection", lambda cfn, name, on: calls.append(("protect", on)))
    give_api_gateway_a_cloudwatch_role()
    assert main("deploy", "--stage", "production") == 0
    capsys.readouterr()

    def answer(question):
        calls.append(("asked", question))
        return True

    monkeypatch.setattr(command, "confirm", answer)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    assert main("destroy", "--stage", "production") == 0
    out = capsys.readouterr().out
    assert [c[0] for c in calls] == ["protect", "asked", "protect"] and calls[2] == ("protect", False)
    assert "turn its termination protection off and delete its functions and APIs (its tables are kept)" in calls[1][1]
    assert "Turned termination protection off for RelayProduction" in out
    assert "Stack RelayProduction deleted." in out
    table = next(line.split()[2] for line in out.splitlines() if line.startswith("Kept table "))
    assert f"aws dynamodb update-table --region us-east-1 --table-name {table} --no-deletion-protection-enabled" in out
    assert f"aws dynamodb delete-table --region us-east-1 --table-name {table}" in out


def test_destroy_staging_keeps_nothing_and_never_touches_protection(moto, capsys, monkeypatch):
    monkeypatch.setattr(stack, "set_termination_protection", lambda *a: pytest.fail("staging is not protected"))
    assert main("deploy", "--stage", "staging") == 0
    assert main("destroy", "--stage", "staging", "--yes") == 0
    out = capsys.readouterr().out
    assert "Stack RelayStaging deleted." in out and "Kept table" not in out and "dry-run" not in out


@pytest.mark.parametrize(
    "arc_region, env_region, expected",
    [
        ("eu-west-1", "ap-south-1", "stack RelayStaging in eu-west-1, from @aws region in app.arc"),
        (None, "ap-south-1", "stack RelayStaging in ap-south-1, from $AWS_REGION (app.arc sets no @aws region)"),
        (None, None, "stack RelayStaging in us-east-1, from the default"),
    ],
)
def test_the_first_line_says_which_region_wins(relay_copy, tmp_path, monkeypatch, capsys, arc_region, env_region, expected):
    arc = relay_copy / "app.arc"
    text = arc.read_text().replace("region us-east-1\n", f"region {arc_region}\n" if arc_region else "")
    arc.write_text(text)
    if env_region:
        monkeypatch.setenv("AWS_REGION", env_region)
    else:
        monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv(command.BUILD_DIR_VARIABLE, str(tmp_path / "build"))
    monkeypatch.setattr(command.package, "build_all", lambda *a, **k: {})
    monkeypatch.setattr(command.template, "build", lambda *a, **k: {})
    monkeypatch.setattr(command, "_describe", lambda *a: None)
    assert cli.main(["--app", str(arc), "deploy", "--stage", "staging", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith(expected)


@pytest.mark.parametrize("setting, stage", [("access-logs true", "staging"), ("", "production")])
def test_access_logs_without_the_cloudwatch_role_stop_before_anything_is_built(moto, relay_copy, capsys, fake_pip, setting, stage):
    """Asked for in staging, or production's default."""
    arc = relay_copy / "app.arc"
    arc.write_text(arc.read_text() + f"\n{setting}\n")
    assert cli.main(["--app", str(arc), "deploy", "--stage", stage]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: access logs are on, but API Gateway in us-east-1 has no CloudWatch role")
    assert err.rstrip().endswith("or `@aws access-logs false`")
    assert fake_pip.calls == []


def test_manifest_warnings_are_printed_before_the_deploy(relay_copy, tmp_path, monkeypatch, capsys):
    (relay_copy / "src/ws/default/config.arc").write_text("@aws\ntimeout 60\n")
    monkeypatch.setenv(command.BUILD_DIR_VARIABLE, str(tmp_path / "build"))
    monkeypatch.setattr(command.package, "build_all", lambda *a, **k: {})
    monkeypatch.setattr(command.template, "build", lambda *a, **k: {})
    monkeypatch.setattr(command, "_describe", lambda *a: None)
    assert cli.main(["--app", str(relay_copy / "app.arc"), "deploy", "--stage", "staging", "--dry-run"]) == 0
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"warning: {relay_copy / 'src/ws/default/config.arc'}:2: $default has timeout 60 s")


@pytest.mark.parametrize("argv, verdict, status", [([], 0, 0), ([], 1, 1), (["--no-smoke"], None, 0)])
def test_deploy_ends_with_the_smoke_test_on_the_page_unless_skipped(moto, capsys, monkeypatch, argv, verdict, status):
    """moto leaves no outputs, so the deployed stack's answer is played back with a PageUrl."""
    page = "https://abc123.execute-api.us-east-1.amazonaws.com/"
    monkeypatch.setattr(stack, "deploy", lambda *a, **k: stack.Result("created", "CREATE_COMPLETE", {"PageUrl": page}))
    tested = []
    monkeypatch.setattr(command.smoke_test, "run", lambda url, declaration, **k: tested.append(url) or verdict)
    assert main("deploy", "--stage", "staging", *argv) == status
    assert tested == ([] if verdict is None else [page])
    if verdict == 1:
        assert "The stack is deployed, but the smoke test failed" in capsys.readouterr().out


def test_smoke_by_stage_reads_the_stacks_page_url(moto, capsys, monkeypatch):
    assert main("smoke", "--stage", "staging") == 2
    assert "there is no stack RelayStaging in us-east-1: deploy it first" in capsys.readouterr().err
    assert main("deploy", "--stage", "staging", "--no-smoke") == 0
    assert main("smoke", "--stage", "staging") == 2  # moto leaves no outputs
    assert capsys.readouterr().err.endswith("stack RelayStaging has no PageUrl output to test\n")
    monkeypatch.setattr(stack, "outputs", lambda cfn, name: {"PageUrl": "https://abc.example/"})
    tested = []
    monkeypatch.setattr(command.smoke_test, "run", lambda url, declaration, timeout: tested.append((url, timeout)) or 0)
    assert main("smoke", "--stage", "staging", "--timeout", "3") == 0
    assert tested == [("https://abc.example/", 3.0)]


@pytest.mark.parametrize("argv, status", [([], 2), (["--no-smoke"], None), (["--dry-run"], None)])
def test_a_deploy_that_will_smoke_test_reads_the_declaration_before_anything_else(relay_copy, monkeypatch, capsys, argv, status):
    """A broken smoke.json would otherwise surface only after a whole deploy; `--no-smoke` and `--dry-run` do not need it."""

    def went_further(*args, **kwargs):
        raise AssertionError("went past the declaration")

    (relay_copy / "smoke.json").write_text("{")
    monkeypatch.setattr(command.stack, "session", went_further)
    monkeypatch.setattr(command.package, "build_all", went_further)
    if status is None:
        with pytest.raises(AssertionError, match="went past the declaration"):
            cli.main(["--app", str(relay_copy / "app.arc"), "deploy", "--stage", "staging", *argv])
        return
    assert cli.main(["--app", str(relay_copy / "app.arc"), "deploy", "--stage", "staging", *argv]) == status
    assert capsys.readouterr().err == (
        f"error: {relay_copy / 'smoke.json'}:1: not valid JSON (Expecting property name enclosed in double quotes): expected one JSON object\n"
    )


@pytest.mark.parametrize("verb", ["deploy", "destroy"])
def test_ctrl_c_while_waiting_says_where_the_stack_stands(moto, capsys, monkeypatch, verb):
    """moto finishes a stack at once, so the wait is interrupted by a stand-in raising KeyboardInterrupt."""
    if verb == "destroy":
        assert main("deploy", "--stage", "staging") == 0
        capsys.readouterr()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stack, "_wait_for_stack", interrupted)
    args = ("deploy", "--stage", "staging") if verb == "deploy" else ("destroy", "--stage", "staging", "--yes")
    assert main(*args) == 130
    out = capsys.readouterr().out
    assert re.search(r"Interrupted\. Stack RelayStaging is ([A-Z_]+|absent \(not created, or deleted\))\.", out), out


# --- AWS or the network failing under a command ---


@pytest.fixture
def moto_server(fake_aws, build, fake_pip, no_tls_deny, monkeypatch):
    """moto as a real server, reached over HTTP through AWS_ENDPOINT_URL, so a test can stop it in the
    middle of a command: every later call then meets a port with nothing listening (connection refused).
    AWS_MAX_ATTEMPTS=1: botocore's retries would only make the same refusal slower."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://{}:{}".format(*server.get_host_and_port()))
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    yield server
    server.stop()


def stopping_first(monkeypatch, server, module, name: str, after_calls: int = 0):
    """Replace `module.name` with a version that stops `server` once it has been called `after_calls` times."""
    original, calls = getattr(module, name), []

    def wrapped(*args, **kwargs):
        if len(calls) == after_calls:
            server.stop()
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("error: "), err
    return err


def test_deploy_losing_aws_while_uploading_is_one_line_naming_the_upload(moto_server, capsys, monkeypatch):
    stopping_first(monkeypatch, moto_server, stack, "upload", after_calls=1)
    assert main("deploy", "--stage", "staging") == 1
    err = one_error_line(capsys)
    assert re.match(
        r"error: uploading \S+'s package to devkit-deploy-123456789012-us-east-1 failed: "
        r"Could not connect to the endpoint URL: ",
        err,
    ), err


def test_deploy_losing_aws_while_waiting_for_the_stack_says_cloudformation_carries_on(moto_server, capsys, monkeypatch):
    stopping_first(monkeypatch, moto_server, stack, "_wait_for_stack")
    assert main("deploy", "--stage", "staging") == 1
    err = one_error_line(capsys)
    assert err.startswith("error: deploying stack RelayStaging failed: Could not connect to the endpoint URL: "), err
    assert "CloudFormation carries on without this command" in err
    assert "aws cloudformation describe-stacks --stack-name RelayStaging" in err


def test_destroy_losing_aws_while_deleting_is_one_line(moto_server, capsys, monkeypatch):
    assert main("deploy", "--stage", "staging", "--no-smoke") == 0
    capsys.readouterr()
    stopping_first(monkeypatch, moto_server, stack, "destroy")
    assert main("destroy", "--stage", "staging", "--yes") == 1
    assert one_error_line(capsys).startswith("error: deleting stack RelayStaging failed: Could not connect to the endpoint URL: ")


def test_smoke_losing_aws_while_reading_the_stack_is_one_line(moto_server, capsys, monkeypatch):
    stopping_first(monkeypatch, moto_server, stack, "stack_status")
    assert main("smoke", "--stage", "staging") == 1
    assert one_error_line(capsys).startswith("error: reading stack RelayStaging's page URL failed: Could not connect")


def test_no_aws_at_all_is_one_line_about_the_credentials_check(moto_server, capsys):
    moto_server.stop()
    assert main("destroy", "--stage", "staging", "--yes") == 1
    assert one_error_line(capsys).startswith("error: checking the AWS credentials failed: Could not connect to the endpoint URL")


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionClosedError(endpoint_url="https://cloudformation.us-east-1.amazonaws.com/"),
        ReadTimeoutError(endpoint_url="https://s3.us-east-1.amazonaws.com/"),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
)
def test_every_kind_of_lost_connection_becomes_one_service_error(failure):
    """What a server that closes connections, or stops answering, makes botocore raise."""
    with pytest.raises(ServiceError, match=r"^uploading x failed: .+"), command.aws_errors("uploading x"):
        raise failure


def interrupting(monkeypatch, module, name: str, on_call: int) -> None:
    """Make call number `on_call` of `module.name` raise KeyboardInterrupt, as Ctrl-C would."""
    original, calls = getattr(module, name), []

    def wrapped(*args, **kwargs):
        calls.append(name)
        if len(calls) == on_call:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapped)


def test_ctrl_c_while_packaging_says_what_was_built_and_that_nothing_reached_aws(moto, capsys, monkeypatch):
    import boto3

    interrupting(monkeypatch, command.package, "write", on_call=3)
    assert main("deploy", "--stage", "staging") == 130
    out = capsys.readouterr().out
    started = re.findall(r"^packaging (\S+)", out, re.MULTILINE)
    assert len(started) == 3
    assert out.splitlines()[-1] == (
        f"Interrupted while packaging {started[2]} (2 of {PACKAGES} packages built): nothing was sent to AWS, and stack RelayStaging was not changed."
    )
    assert boto3.client("s3", region_name="us-east-1").list_buckets()["Buckets"] == []


def test_ctrl_c_while_uploading_says_which_packages_are_in_the_bucket(moto, capsys, monkeypatch):
    import boto3

    interrupting(monkeypatch, stack, "upload", on_call=3)
    assert main("deploy", "--stage", "staging") == 130
    out = capsys.readouterr().out
    uploaded = re.findall(r"^  uploaded  (\S+)", out, re.MULTILINE)
    assert len(uploaded) == 2
    third = re.findall(r"^packaging (\S+)", out, re.MULTILINE)[2]
    assert out.splitlines()[-1] == (
        f"Interrupted while uploading {third}: 2 of {PACKAGES} packages are in the deployment bucket "
        f"({', '.join(uploaded)}), {PACKAGES - 2} not; stack RelayStaging was not changed."
    )
    assert stack.stack_status(boto3.client("cloudformation", region_name="us-east-1"), "RelayStaging") == ""


def test_ctrl_c_at_the_destroy_question_says_nothing_was_deleted(moto, capsys, monkeypatch):
    import boto3

    assert main("deploy", "--stage", "staging", "--no-smoke") == 0
    capsys.readouterr()

    def interrupted(question):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "confirm", interrupted)
    assert main("destroy", "--stage", "staging") == 130
    assert capsys.readouterr().out.splitlines()[-1] == ("Interrupted before anything was deleted: stack RelayStaging was not changed.")
    assert stack.stack_status(boto3.client("cloudformation", region_name="us-east-1"), "RelayStaging") == "CREATE_COMPLETE"
