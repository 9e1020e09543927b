"""Scanner findings the kit accepts, with the reason, written where the resource is.

checkov (and scanners reading its format) reports these checks as failed on a default template; each
is a choice, not an oversight, and its reason travels in the resource's `Metadata` in the form checkov
reads (`{"checkov": {"skip": [{"id": ..., "comment": ...}]}}`). Each reason here is also, word for word,
a row of docs/deploy.md's "Scanner findings" table (a test holds them together). A check is skipped
only on a resource that really fails it: a table with `PITR true` carries no PITR reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Accepted:
    check: str  # checkov's id
    resource_type: str
    reason: str
    applies: Callable[[dict], bool] = lambda properties: True  # does this resource fail the check?


ACCEPTED = (
    Accepted(
        "CKV_AWS_117",
        "AWS::Lambda::Function",
        "No VPC: the functions reach only AWS's public, IAM-authorised endpoints (DynamoDB, the API Gateway "
        "Management API) over TLS; a VPC would add NAT or endpoint charges and no private resource to reach.",
    ),
    Accepted(
        "CKV_AWS_116",
        "AWS::Lambda::Function",
        "No Lambda dead-letter queue: API Gateway invokes every function synchronously and a failure goes back "
        "to the caller; a Lambda DLQ only catches asynchronous invocations (queues have their own redrive).",
    ),
    Accepted(
        "CKV_AWS_173",
        "AWS::Lambda::Function",
        "Environment encrypted with Lambda's AWS-managed key: the variables are table names and URLs, "
        "no secrets, so a customer-managed key would add cost and a key policy for nothing.",
    ),
    Accepted(
        "CKV_AWS_115",
        "AWS::Lambda::Function",
        "No reserved concurrency: outside production a function reserves none unless `@aws concurrency` declares "
        "it, and `@aws concurrency unthrottled` opts one out (production reserves 50 each by default).",
        lambda properties: "ReservedConcurrentExecutions" not in properties,
    ),
    Accepted(
        "CKV_AWS_158",
        "AWS::Logs::LogGroup",
        "Log group encrypted by CloudWatch Logs' own service-managed encryption, not a KMS key: the logs hold "
        "no request bodies or message text, and a customer-managed key would add $1 a month and a key policy.",
    ),
    Accepted(
        "CKV_AWS_119",
        "AWS::DynamoDB::Table",
        "Table encrypted with the AWS-managed KMS key; `encrypt <KMS key ARN>` under the table in app.arc "
        "picks a customer-managed key ($1 a month plus requests).",
        lambda properties: "KMSMasterKeyId" not in properties.get("SSESpecification", {}),
    ),
    Accepted(
        "CKV_AWS_28",
        "AWS::DynamoDB::Table",
        "No point-in-time recovery: it is Architect's per-table option `PITR true` (about $0.20 per GB-month); "
        "production tables are kept and deletion-protected either way.",
        lambda properties: "PointInTimeRecoverySpecification" not in properties,
    ),
    Accepted(
        "CKV_AWS_149",
        "AWS::SecretsManager::Secret",
        "Secret encrypted with Secrets Manager's AWS-managed key: it is the app's token signing key, read only by "
        "the roles granted `secret <name>`; a customer-managed key would add $1 a month and a key policy.",
    ),
    Accepted(
        "CKV_AWS_27",
        "AWS::SQS::Queue",
        "Queue encrypted with SQS-managed keys (SSE-SQS, `SqsManagedSseEnabled`), which checkov does not read as "
        "encryption; a KMS key would add $1 a month, a key policy and KMS requests per message.",
    ),
    Accepted(
        "CKV_AWS_26",
        "AWS::SNS::Topic",
        "Alarm topic not encrypted: CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key, and it carries only alarm names and states.",
    ),
    Accepted(
        "CKV_AWS_95",
        "AWS::ApiGatewayV2::Stage",
        "No access logs: they follow `@aws access-logs` (on by default in production, opt-in elsewhere, $0.50 "
        "per GB); the functions' own logs and the alarms cover errors either way.",
        lambda properties: "AccessLogSettings" not in properties,
    ),
)


def annotate(resources: dict[str, dict]) -> None:
    """Add each accepted check's reason to the Metadata of every resource in `resources` it applies to."""
    for resource in resources.values():
        skips = [{"id": a.check, "comment": a.reason} for a in ACCEPTED if a.resource_type == resource["Type"] and a.applies(resource.get("Properties", {}))]
        if skips:
            resource.setdefault("Metadata", {})["checkov"] = {"skip": skips}
