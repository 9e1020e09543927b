"""`python -m devkit deploy | destroy` as a user runs them: the dry run end to end in a subprocess,
missing credentials, and the whole flow against moto (see test_stack.py for what moto cannot show)."""

import json
import os
import re
import subprocess
import sys
import zipfile
from datetime import datetime, timezone

import pytest
from moto import mock_aws

from devkit import cli
from devkit.deploy import command, stack
from tests.conftest import ROOT
from tests.devkit.deploy.conftest import AWS_VARIABLES

APP = str(ROOT / "app.arc")
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS..ApiGatewayV2:UserWarning")  # moto skips them, see test_stack


@pytest.fixture
def build(tmp_path, monkeypatch):
    folder = tmp_path / "build"
    monkeypatch.setenv(command.BUILD_DIR_VARIABLE, str(folder))
    monkeypatch.setattr(stack, "POLL_SECONDS", 0)
    return folder


def main(*argv):
    return cli.main(["--app", APP, *argv])


def test_dry_run_on_a_fresh_clone_needs_no_aws_account(tmp_path):
    """The real command in a subprocess, no credentials anywhere, real pip for the Lambda platform."""
    env = {k: v for k, v in os.environ.items() if k not in AWS_VARIABLES}
    empty = tmp_path / "empty"
    empty.write_text("")
    env.update(AWS_CONFIG_FILE=str(empty), AWS_SHARED_CREDENTIALS_FILE=str(empty), AWS_EC2_METADATA_DISABLED="true",
               DEVKIT_BUILD_DIR=str(tmp_path / "build"))
    result = subprocess.run([sys.executable, "-m", "devkit", "deploy", "--stage", "staging", "--dry-run"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Dry run: stack MywsappStaging in us-east-1" in result.stdout
    assert "No AWS call was made" in result.stdout
    document = json.loads((tmp_path / "build/template.json").read_text())
    assert document["Resources"]["WsApi"]["Properties"]["ProtocolType"] == "WEBSOCKET"
    zips = sorted(p.name for p in (tmp_path / "build/packages").iterdir())
    assert zips == ["http-get-index.zip", "static.zip", "ws-broadcast.zip", "ws-connect.zip", "ws-default.zip",
                    "ws-disconnect.zip"]
    assert "jinja2/__init__.py" in zipfile.ZipFile(tmp_path / "build/packages/http-get-index.zip").namelist()


@pytest.mark.parametrize("argv", [["deploy", "--stage", "staging"], ["destroy", "--stage", "production", "--yes"]])
def test_missing_credentials_is_one_clear_line(no_aws, build, fake_pip, capsys, argv):
    assert main(*argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("error: no AWS credentials found: set AWS_PROFILE")
    assert "aws configure" in captured.err and "AWS_ACCESS_KEY_ID" in captured.err
    assert fake_pip.calls == []  # it failed before packaging anything


def test_a_missing_profile_is_one_clear_line(no_aws, build, capsys, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "nobody")
    assert main("deploy", "--stage", "staging") == 2
    assert capsys.readouterr().err.startswith("error: The config profile (nobody) could not be found: set AWS_PROFILE")


@pytest.fixture
def moto(fake_aws, build, fake_pip):
    with mock_aws():
        yield


def test_deploy_then_deploy_again_then_destroy(moto, capsys):
    assert main("deploy", "--stage", "staging") == 0
    first = capsys.readouterr().out
    assert "deployment bucket devkit-deploy-123456789012-us-east-1 (created)" in first
    assert "  uploaded  ws-connect" in first
    assert "Stack MywsappStaging created (CREATE_COMPLETE)." in first
    # moto's change sets leave no Outputs, so the URLs are not printed here; test_stack.py covers outputs.

    assert main("deploy", "--stage", "staging") == 0
    second = capsys.readouterr().out
    assert "  unchanged ws-connect" in second
    assert "No changes: stack MywsappStaging is already up to date." in second

    assert main("destroy", "--stage", "staging", "--yes") == 0
    assert "Stack MywsappStaging deleted." in capsys.readouterr().out
    assert main("destroy", "--stage", "staging", "--yes") == 0
    assert "Nothing to destroy" in capsys.readouterr().out


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

    assert boto3.client("cloudformation", region_name="us-east-1").describe_stacks(StackName="MywsappStaging")["Stacks"]


def test_a_failed_deploy_prints_the_failing_resources_and_the_rollback(moto, capsys, monkeypatch):
    failure = stack.StackEvent("e1", datetime(2025, 1, 1, tzinfo=timezone.utc), "WsConnectFunction",
                               "AWS::Lambda::Function", "CREATE_FAILED", "Runtime python3.99 is not supported")

    def failing_deploy(*args, **kwargs):
        raise stack.DeployError("stack MywsappStaging ended ROLLBACK_COMPLETE", [failure], rolled_back=True)

    monkeypatch.setattr(stack, "deploy", failing_deploy)
    assert main("deploy", "--stage", "staging") == 1
    out = capsys.readouterr().out
    assert "Deploy failed: stack MywsappStaging ended ROLLBACK_COMPLETE" in out
    assert "  WsConnectFunction (AWS::Lambda::Function): Runtime python3.99 is not supported" in out
    assert "CloudFormation rolled back" in out


def test_aws_refusing_a_call_is_one_line(moto, capsys, monkeypatch):
    original = command.template.build

    def broken(*args, **kwargs):
        document = original(*args, **kwargs)
        document["Resources"]["WsConnectFunction"]["Properties"]["Role"] = {"Fn::GetAtt": ["NoSuchRole", "Arn"]}
        return document

    monkeypatch.setattr(command.template, "build", broken)
    assert main("deploy", "--stage", "staging") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: AWS refused ") and "NoSuchRole" in err and err.count("\n") == 1


def test_progress_prints_events_and_draws_a_spinner_only_on_a_terminal():
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    event = stack.StackEvent("e", datetime(2025, 1, 1, tzinfo=timezone.utc), "WsApi", "AWS::ApiGatewayV2::Api",
                             "CREATE_FAILED", "Bad name")
    plain, terminal = io.StringIO(), Terminal()
    for out in (command.Progress(plain), command.Progress(terminal)):
        out.wait()
        out.event(event)
    assert plain.getvalue().count("\n") == 1 and "waiting" not in plain.getvalue()
    assert "CREATE_FAILED" in plain.getvalue() and "WsApi  Bad name" in plain.getvalue()
    assert "\r  / waiting for CloudFormation" in terminal.getvalue() and "\r\033[K" in terminal.getvalue()


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
    assert re.search(r"Interrupted\. Stack MywsappStaging is ([A-Z_]+|absent \(not created, or deleted\))\.", out), out
