"""One app, one stack: the app-name -> stack-name mapping is one-to-one, every stack carries its app's
exact name in a `devkit:app` tag, and deploy/destroy refuse a stack tagged for another app.

Against moto's CloudFormation (`mock_aws`), which keeps stack tags as CloudFormation does (stack-level
`Tags` on the change set, returned by DescribeStacks). Stack name rules: the CloudFormation API reference,
CreateStack `StackName`: "can contain only alphanumeric characters (case sensitive) and hyphens. It must
start with an alphabetic character and can't be longer than 128 characters."
"""

from __future__ import annotations

import itertools
import json
import re

import boto3
import pytest
from moto import mock_aws

from devkit.deploy import stack, template

REGION = "us-east-1"
TEMPLATE = {"TemplateBody": json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})}
STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")


@pytest.fixture
def cfn(fake_aws):
    with mock_aws():
        yield boto3.client("cloudformation", region_name=REGION)


@pytest.mark.parametrize(
    "app, stage, expected",
    [
        ("mywsapp", "staging", "MywsappStaging"),  # unchanged for every name whose dashes precede a letter
        ("my-ws-app", "production", "MyWsAppProduction"),
        ("chat-2", "staging", "Chat-2Staging"),
        ("chat2", "staging", "Chat2Staging"),
        ("a--b", "staging", "A-BStaging"),
        ("a-b", "staging", "ABStaging"),
        ("app-", "staging", "App-Staging"),
        ("app", "staging", "AppStaging"),
    ],
)
def test_stack_names(app, stage, expected):
    assert template.stack_name(app, stage) == expected


def test_no_two_app_names_share_a_stack_name():
    """Every valid app name of up to six characters over letters, a digit and dashes, both stages."""
    names = ["".join(p) for n in range(1, 7) for p in itertools.product("ab2-", repeat=n) if p[0].isalpha()]
    seen: dict[str, tuple[str, str]] = {}
    for app in names:
        for stage in ("staging", "production"):
            name = template.stack_name(app, stage)
            assert STACK_NAME.match(name), name
            assert seen.setdefault(name, (app, stage)) == (app, stage), f"{(app, stage)} and {seen[name]} -> {name}"


def test_a_stack_is_tagged_with_its_app(cfn):
    name = template.stack_name("chat-2", "staging")
    stack.deploy(cfn, name, TEMPLATE, {}, poll_seconds=0, app="chat-2")
    tags = {t["Key"]: t["Value"] for t in cfn.describe_stacks(StackName=name)["Stacks"][0]["Tags"]}
    assert tags == {"devkit:app": "chat-2", "devkit:stack": name}


def test_updating_another_apps_stack_is_refused_naming_both(cfn):
    """What happened before the mapping was fixed: `chat-2` deployed onto `chat2`'s stack."""
    shared = "Chat2Staging"
    stack.deploy(cfn, shared, TEMPLATE, {}, poll_seconds=0, app="chat2")
    changed = {"TemplateBody": json.dumps({"Resources": {"Other": {"Type": "AWS::SNS::Topic"}}})}
    with pytest.raises(stack.DeployError, match=r"stack Chat2Staging belongs to app 'chat2', not 'chat-2'"):
        stack.deploy(cfn, shared, changed, {}, poll_seconds=0, app="chat-2")
    with pytest.raises(stack.DeployError, match="belongs to app 'chat2'"):
        stack.destroy(cfn, shared, poll_seconds=0, app="chat-2")
    assert cfn.describe_stacks(StackName=shared)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    resources = cfn.describe_stack_resources(StackName=shared)["StackResources"]
    assert [r["LogicalResourceId"] for r in resources] == ["Topic"]  # untouched
    assert stack.deploy(cfn, shared, changed, {}, poll_seconds=0, app="chat2").action == "updated"  # its own app may


def test_an_untagged_stack_from_an_older_deploy_may_be_updated(cfn):
    """No tag, no owner known: allowed. (On AWS the update's change set adds the tag; moto keeps the
    tags a stack was created with, so that part is not checked here.)"""
    name = template.stack_name("mywsapp", "staging")
    stack.deploy(cfn, name, TEMPLATE, {}, poll_seconds=0)  # as deploy did before the tag existed
    changed = {"TemplateBody": json.dumps({"Resources": {"Other": {"Type": "AWS::SNS::Topic"}}})}
    assert stack.deploy(cfn, name, changed, {}, poll_seconds=0, app="mywsapp").action == "updated"
