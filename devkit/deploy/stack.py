"""The AWS side of a deploy, through boto3: credentials, the deployment bucket, uploads, change sets,
stack events, outputs and deletion. Every function takes its clients as arguments, so tests hand in
moto's (or a stub) and nothing here prints: progress goes to the `on_event` / `on_wait` callbacks.

Expected failures raise `CredentialsError` or `DeployError` with a message a person can act on.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import boto3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSOError,
    TokenRetrievalError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from devkit.deploy import tags as tag_names

# botocore's failures to reach AWS or to get its answer (refused, reset, timed out, TLS, proxy): no
# credential problem, so the commands report them as what they are (devkit/deploy/command.py).
NETWORK_ERRORS = (BotoConnectionError, HTTPClientError)

NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
TEMPLATE_BODY_LIMIT = 51_200  # bytes CloudFormation accepts inline; larger templates go through S3
POLL_SECONDS = 2.0
HOW_TO_PROVIDE = "set AWS_PROFILE to a profile made with `aws configure` (or `aws configure sso`), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
# The deployment bucket's lifecycle: a package is deleted this many days after it was last uploaded or
# refreshed, and every deploy refreshes the packages its stack uses (before and after), once older than
# REFRESH_AFTER_DAYS. So only packages no deploy has used for PACKAGE_DAYS go; Lambda keeps its own copy.
PACKAGE_DAYS = 90
REFRESH_AFTER_DAYS = 7


class CredentialsError(Exception):
    """No usable AWS credentials; the message says which problem and how to provide them."""


class DeployError(Exception):
    """A deploy or destroy that did not finish; `failures` lists (resource, status, reason)."""

    def __init__(self, message: str, failures: list[StackEvent] | None = None, rolled_back: bool = False):
        super().__init__(message)
        self.failures = failures or []
        self.rolled_back = rolled_back


@dataclass(frozen=True)
class StackEvent:
    id: str
    timestamp: datetime
    logical_id: str
    resource_type: str
    status: str
    reason: str = ""


@dataclass(frozen=True)
class Result:
    action: str  # "created", "updated", "unchanged", "deleted" or "absent"
    status: str  # the stack's final status ("" when absent)
    outputs: dict[str, str] = field(default_factory=dict)


def session(region: str) -> boto3.Session:
    """A boto3 session for `region` with the caller's usual credentials (profile, environment, SSO...)."""
    try:
        return boto3.Session(region_name=region)
    except ProfileNotFound as error:
        raise CredentialsError(f"{error}: {HOW_TO_PROVIDE}") from None


def account_id(aws: boto3.Session) -> str:
    """The account the credentials belong to (STS GetCallerIdentity); proves they work."""
    try:
        return aws.client("sts").get_caller_identity()["Account"]
    except NoCredentialsError:
        raise CredentialsError(f"no AWS credentials found: {HOW_TO_PROVIDE}") from None
    except PartialCredentialsError as error:
        raise CredentialsError(f"incomplete AWS credentials ({error}): {HOW_TO_PROVIDE}") from None
    except ProfileNotFound as error:
        raise CredentialsError(f"{error}: {HOW_TO_PROVIDE}") from None
    except (SSOError, TokenRetrievalError) as error:
        raise CredentialsError(f"the AWS SSO session could not be used ({error}): run `aws sso login`") from None
    except NETWORK_ERRORS:
        raise  # not a credentials problem: the caller names what failed
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        raise CredentialsError(f"AWS refused the credentials ({code}): {HOW_TO_PROVIDE}") from None
    except BotoCoreError as error:
        raise CredentialsError(f"AWS credentials could not be loaded ({error}): {HOW_TO_PROVIDE}") from None


def bucket_name(account: str, region: str) -> str:
    """The deployment bucket shared by every devkit app of one account and region."""
    return f"devkit-deploy-{account}-{region}"


def ensure_bucket(s3, name: str, region: str, account: str) -> bool:
    """Create the deployment bucket if needed (True when created) and (re)apply its settings:
    all public access blocked, a policy refusing every request not made over TLS, SSE-S3 encryption,
    versioning, and the lifecycle that deletes packages no deploy has used for PACKAGE_DAYS."""
    try:
        s3.head_bucket(Bucket=name, ExpectedBucketOwner=account)
        created = False
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise DeployError(f"the deployment bucket {name} exists but is not this account's ({code}); it cannot be used") from None
        config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **config)
        created = True
    s3.put_public_access_block(
        Bucket=name,
        ExpectedBucketOwner=account,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ExpectedBucketOwner=account,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}],
        },
    )
    s3.put_bucket_versioning(Bucket=name, ExpectedBucketOwner=account, VersioningConfiguration={"Status": "Enabled"})
    # The policy and the lifecycle are whole documents shared by every app of the account and region:
    # rewritten only when they differ, so a deploy does not replace them under another one in flight.
    policy = tls_only_policy(name, s3.meta.partition)
    if _current(s3.get_bucket_policy, "NoSuchBucketPolicy", name, account, lambda r: json.loads(r["Policy"])) != policy:
        s3.put_bucket_policy(Bucket=name, ExpectedBucketOwner=account, Policy=json.dumps(policy))
    if _current(s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration", name, account, lambda r: r["Rules"]) != LIFECYCLE_RULES:
        s3.put_bucket_lifecycle_configuration(Bucket=name, ExpectedBucketOwner=account, LifecycleConfiguration={"Rules": LIFECYCLE_RULES})
    return created


def _current(read: Callable, missing: str, bucket: str, account: str, value: Callable[[dict], object]) -> object:
    """What `read` (a bucket's Get call) holds now, through `value`; None when the bucket has none (`missing`)."""
    try:
        return value(read(Bucket=bucket, ExpectedBucketOwner=account))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == missing:
            return None
        raise


def tls_only_policy(bucket: str, partition: str = "aws") -> dict:
    """Deny any request to the bucket or its objects over plain HTTP (aws:SecureTransport false)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:{partition}:s3:::{bucket}", f"arn:{partition}:s3:::{bucket}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


LIFECYCLE_RULES = [
    {
        "ID": "delete-unused-packages",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Expiration": {"Days": PACKAGE_DAYS},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},  # a refresh or deletion leaves one behind
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    },
    {"ID": "delete-expired-markers", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"ExpiredObjectDeleteMarker": True}},
]


def refresh(s3, bucket: str, account: str, keys: set[str], now: datetime | None = None) -> list[str]:
    """Restart the lifecycle clock of each key older than REFRESH_AFTER_DAYS (a copy onto itself);
    returns the keys that are gone already (a rollback to them could not restore that code)."""
    now = now or datetime.now(timezone.utc)
    missing = []
    for key in sorted(keys):
        try:
            modified = s3.head_object(Bucket=bucket, Key=key, ExpectedBucketOwner=account)["LastModified"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                missing.append(key)
                continue
            raise
        if now - modified > timedelta(days=REFRESH_AFTER_DAYS):
            s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key}, MetadataDirective="REPLACE", ExpectedBucketOwner=account)
    return missing


def packages_in_use(cfn, name: str, bucket: str) -> set[str]:
    """The S3 keys of the packages the deployed stack `name` runs (none when there is no stack)."""
    try:
        body = cfn.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
    except ClientError as error:
        if "does not exist" in str(error):
            return set()
        raise
    document = body if isinstance(body, dict) else json.loads(body)
    return {
        code["S3Key"]
        for resource in document.get("Resources", {}).values()
        if isinstance(code := resource.get("Properties", {}).get("Code"), dict) and isinstance(code.get("S3Key"), str)
    }


def set_termination_protection(cfn, name: str, enabled: bool) -> None:
    """Turn stack `name`'s termination protection on or off (a stack with it on cannot be deleted)."""
    cfn.update_termination_protection(StackName=name, EnableTerminationProtection=enabled)


def retained_tables(cfn, name: str) -> list[tuple[str, str]]:
    """(logical id, table name) of every table in stack `name`, read before a delete that keeps them."""
    pages = cfn.get_paginator("list_stack_resources").paginate(StackName=name)
    return [
        (r["LogicalResourceId"], r["PhysicalResourceId"])
        for page in pages
        for r in page["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::DynamoDB::Table" and r.get("PhysicalResourceId")
    ]


def cloudwatch_role_missing(apigateway) -> bool:
    """True when the account has no API Gateway CloudWatch role, without which a WebSocket stage
    cannot write access logs (`get_account()['cloudwatchRoleArn']`, set once per account and region)."""
    return not apigateway.get_account().get("cloudwatchRoleArn")


def upload(s3, bucket: str, account: str, key: str, data: bytes) -> bool:
    """Put `data` at `key` unless it is there already (keys are content hashes); True when uploaded."""
    try:
        s3.head_object(Bucket=bucket, Key=key, ExpectedBucketOwner=account)
        return False
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
            raise
    s3.put_object(Bucket=bucket, Key=key, Body=data, ExpectedBucketOwner=account)
    return True


def template_source(s3, bucket: str, account: str, key_prefix: str, body: str) -> dict[str, str]:
    """`TemplateBody` when small enough, else upload it and give `TemplateURL`."""
    if len(body.encode()) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": body}
    key = f"{key_prefix}/templates/{hashlib.sha256(body.encode()).hexdigest()}.json"
    upload(s3, bucket, account, key, body.encode())
    return {"TemplateURL": f"{s3.meta.endpoint_url}/{bucket}/{key}"}


def deploy(
    cfn,
    name: str,
    template: dict[str, str],
    parameters: dict[str, str],
    on_event: Callable[[StackEvent], None] = lambda e: None,
    on_wait: Callable[[], None] = lambda: None,
    on_notice: Callable[[str], None] = lambda m: None,
    poll_seconds: float = POLL_SECONDS,
    app: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Result:
    """Create or update stack `name` through a change set; waits, reporting events as they arrive.

    `template` is `template_source(...)`. Returns "unchanged" when the change set has no changes (and
    deletes it). Raises DeployError with the failed resources when the stack does not reach *_COMPLETE.
    With `app`, the stack is tagged `devkit:app=<app>` and one tagged for another app is never touched;
    `tags` (`tags.resource_tags`) are the stack's tags besides `devkit:stack`, which CloudFormation also
    copies onto each resource it creates.
    """
    if app is not None:
        check_owner(cfn, name, app)
    status = stack_status(cfn, name)
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise DeployError(f"stack {name} is busy ({status}); wait for it to finish and deploy again")
    if status == "ROLLBACK_COMPLETE":
        on_notice(f"stack {name} failed to create earlier and holds nothing (ROLLBACK_COMPLETE); deleting it first")
        destroy(cfn, name, on_event, on_wait, poll_seconds)
        status = ""
    change_type = "CREATE" if status in ("", "REVIEW_IN_PROGRESS") else "UPDATE"
    try:
        change_set = cfn.create_change_set(
            StackName=name,
            ChangeSetName=f"devkit-{int(time.time())}",
            ChangeSetType=change_type,
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())],
            Capabilities=["CAPABILITY_IAM"],
            Tags=_tags(name, app, tags),
            **template,
        )
    except ClientError as error:  # some implementations refuse an empty change set outright
        if any(marker in str(error) for marker in NO_CHANGES):
            return Result("unchanged", status, outputs(cfn, name))
        raise
    change_set_id, stack_id = change_set["Id"], change_set["StackId"]
    described = _wait_for_change_set(cfn, change_set_id, on_wait, poll_seconds)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason", "")
        if any(marker in reason for marker in NO_CHANGES):
            cfn.delete_change_set(ChangeSetName=change_set_id)
            return Result("unchanged", stack_status(cfn, stack_id), outputs(cfn, stack_id))
        raise DeployError(f"CloudFormation rejected the change set: {reason}")
    seen = {e.id for e in _events(cfn, stack_id, set())}
    cfn.execute_change_set(ChangeSetName=change_set_id)
    final = _wait_for_stack(cfn, stack_id, seen, on_event, on_wait, poll_seconds)
    if final.status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        rolled_back = final.status in ("ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")
        raise DeployError(f"stack {name} ended {final.status}", final.failures, rolled_back)
    return Result("created" if change_type == "CREATE" else "updated", final.status, outputs(cfn, stack_id))


def destroy(
    cfn,
    name: str,
    on_event: Callable[[StackEvent], None] = lambda e: None,
    on_wait: Callable[[], None] = lambda: None,
    poll_seconds: float = POLL_SECONDS,
    app: str | None = None,
) -> Result:
    """Delete stack `name` and wait; "absent" when there was none. The deployment bucket stays.

    With `app`, a stack tagged for another app is refused (DeployError), never deleted.
    """
    if app is not None:
        check_owner(cfn, name, app)
    try:
        stack_id = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackId"]
    except ClientError as error:
        if "does not exist" in str(error):
            return Result("absent", "")
        raise
    seen = {e.id for e in _events(cfn, stack_id, set())}
    cfn.delete_stack(StackName=stack_id)
    final = _wait_for_stack(cfn, stack_id, seen, on_event, on_wait, poll_seconds)
    if final.status != "DELETE_COMPLETE":
        raise DeployError(f"stack {name} ended {final.status}", final.failures)
    return Result("deleted", final.status)


OWNER_TAG = tag_names.APP_TAG  # the exact @app name of the app a stack belongs to


def check_owner(cfn, name: str, app: str) -> None:
    """Raise DeployError when stack `name` exists and is tagged as another app's (untagged: older deploys, allowed)."""
    try:
        described = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in str(error):
            return
        raise
    owner = {t["Key"]: t["Value"] for t in described.get("Tags") or []}.get(OWNER_TAG)
    if owner is not None and owner != app:
        raise DeployError(
            f"stack {name} belongs to app {owner!r}, not {app!r} (its {OWNER_TAG} tag); rename one of the apps in app.arc, or remove that stack first"
        )


def _tags(name: str, app: str | None, tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    return tag_names.stack_tags(name, {**({OWNER_TAG: app} if app is not None else {}), **(tags or {})})


def outputs(cfn, stack: str) -> dict[str, str]:
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


@dataclass
class _Final:
    status: str
    failures: list[StackEvent]


def stack_status(cfn, stack: str) -> str:
    """The stack's status, or "" when it does not exist."""
    try:
        return cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except ClientError as error:
        if "does not exist" in str(error):
            return ""
        raise


def _wait_for_change_set(cfn, change_set_id: str, on_wait: Callable[[], None], poll_seconds: float) -> dict:
    while True:
        described = cfn.describe_change_set(ChangeSetName=change_set_id)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return described
        _pause(on_wait, poll_seconds)


def _wait_for_stack(cfn, stack_id: str, seen: set[str], on_event: Callable[[StackEvent], None], on_wait: Callable[[], None], poll_seconds: float) -> _Final:
    failures: list[StackEvent] = []
    while True:
        status = stack_status(cfn, stack_id)  # read before the events, so none are missed at the end
        for event in _events(cfn, stack_id, seen):
            seen.add(event.id)
            on_event(event)
            if event.status.endswith("_FAILED"):
                failures.append(event)
        if status and not status.endswith("_IN_PROGRESS"):
            return _Final(status, failures)
        _pause(on_wait, poll_seconds)


def wait_for_change_set(cfn, change_set_id: str, on_wait: Callable[[], None], poll_seconds: float) -> dict:
    """Describe change set `change_set_id` once it is ready or failed."""
    return _wait_for_change_set(cfn, change_set_id, on_wait, poll_seconds)


def wait_for_stack(cfn, stack_id: str, seen: set[str], on_event: Callable[[StackEvent], None], on_wait: Callable[[], None], poll_seconds: float) -> _Final:
    """Report the stack's events not in `seen` until it settles; its final status and failed events."""
    return _wait_for_stack(cfn, stack_id, seen, on_event, on_wait, poll_seconds)


def _pause(on_wait: Callable[[], None], seconds: float) -> None:
    """Sleep `seconds`, calling `on_wait` about ten times a second (it draws the spinner)."""
    deadline = time.monotonic() + seconds
    while True:
        on_wait()
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(0.1, left))


def _events(cfn, stack_id: str, seen: set[str]) -> list[StackEvent]:
    """Events not in `seen`, oldest first (CloudFormation pages them newest first)."""
    new: list[StackEvent] = []
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack_id):
        for raw in page["StackEvents"]:
            if raw["EventId"] in seen:
                return new[::-1]
            new.append(
                StackEvent(
                    raw["EventId"],
                    raw["Timestamp"],
                    raw["LogicalResourceId"],
                    raw["ResourceType"],
                    raw["ResourceStatus"],
                    raw.get("ResourceStatusReason", ""),
                )
            )
    return new[::-1]
