"""Helpers for the deploy tests: the AWS settings that could reach a real account, a fake pip, and the
command run on the fixture app tests/fixtures/relay (one of each thing the kit deploys), not on the starter app."""

import json
import re
from pathlib import Path

from cfnlint.api import ManualArgs, lint

from devkit import cli
from devkit.deploy import package
from tests.support.repo import FIXTURES

AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


class FakePip:
    """Stands in for `pip install --platform ...`: writes a marker package per requirement, records calls."""

    def __init__(self):
        self.calls: list[tuple[str, package.Platform]] = []

    def __call__(self, requirements: Path, platform: package.Platform, target: Path) -> None:
        text = requirements.read_text()
        self.calls.append((text, platform))
        for line in text.splitlines():
            name = re.split(r"[<>=!~;\[ #]", line.strip(), maxsplit=1)[0]
            if name:
                (target / name.replace("-", "_").lower()).mkdir(exist_ok=True)
                (target / name.replace("-", "_").lower() / "__init__.py").write_text(f"# fake, {platform.pip_platforms[0]}\n")
        (target / "bin").mkdir(exist_ok=True)
        (target / "bin" / "some-script").write_text("#!/bin/sh\n")


def of_type(document: dict, kind: str) -> dict[str, dict]:
    return {k: v for k, v in document["Resources"].items() if v["Type"] == kind}


def lint_findings(document: dict) -> list[str]:
    """Every cfn-lint finding, informational rules (I3011 and the rest) included."""
    config = ManualArgs(regions=["us-east-1", "eu-west-1"], include_checks=["I"])
    return [str(m) for m in lint(json.dumps(document), config=config)]


RELAY = FIXTURES / "relay"  # the deploy tests' app: its stack is RelayStaging or RelayProduction, its table peers
APP = str(RELAY / "app.arc")


def main(*argv):
    """`python -m devkit --app tests/fixtures/relay/app.arc <argv>`, in this process."""
    return cli.main(["--app", APP, *argv])


def give_api_gateway_a_cloudwatch_role():
    """Production writes access logs by default, and a WebSocket stage needs the account's role for that."""
    import boto3

    boto3.client("apigateway", region_name="us-east-1").update_account(
        patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": "arn:aws:iam::123456789012:role/apigateway-cloudwatch"}]
    )
