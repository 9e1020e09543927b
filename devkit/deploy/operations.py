"""Operations for a stack (each costs money; docs/deploy.md says how much):

- `access_logs(stage, stage_id)` (on in production, `enabled`): one JSON line per request or WebSocket event, into a log
  group kept `LOG_RETENTION_DAYS`. A WebSocket stage can only log through the account's API Gateway
  CloudWatch role (`stack.cloudwatch_role_missing` checks it before a deploy); an HTTP API stage needs none.
- `alarms(email, watches)` (on in production, `enabled`): an alarm per `Watch` (each function's
  errors and throttles, each API's server-side errors, each dead-letter queue's depth), and with an
  email address an SNS topic mailing it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

LOG_RETENTION_DAYS = 30
ALARM_PERIOD_SECONDS = 300

# $context variables: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging-variables.html
# and .../websocket-api-logging.html. No headers, no bodies, no query strings: nothing a user typed.
ACCESS_LOG_FORMATS = {
    "HttpApiStage": {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "time": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationError": "$context.integrationErrorMessage",
    },
    "WsStage": {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "time": "$context.requestTime",
        "eventType": "$context.eventType",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "connectionId": "$context.connectionId",
        "integrationError": "$context.integrationErrorMessage",
    },
}

# Server-side errors per API, from API Gateway's metric tables (namespace AWS/ApiGateway):
# HTTP APIs (developerguide/http-api-metrics.html): `5xx`, by ApiId (the API has only the $default stage);
# WebSocket APIs (developerguide/apigateway-websocket-api-logging.html): `ExecutionError`, "errors that
# occurred when calling the integration", by ApiId and Stage. (`IntegrationError` also counts a
# function's deliberate 4xx, such as $connect refusing a foreign origin, so it would cry wolf.)
API_ERRORS = {
    "HttpApi": ("5xx", "answered with a 5xx"),
    "WsApi": ("ExecutionError", "could not run a route's function"),
}


@dataclass(frozen=True)
class Watch:
    """One alarm: `statistic` of `metric` over ALARM_PERIOD_SECONDS at `threshold` or more."""

    name: str  # the alarm's logical id is `<name>Alarm`
    description: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, object], ...]  # (name, CloudFormation value)
    statistic: str = "Sum"
    threshold: int = 1


def enabled(setting: bool | str | None, production: bool) -> bool:
    """`@aws access-logs` / `@aws alarms`: unset, on in production only; true (or an email address), on; false, off."""
    return production if setting is None else setting is not False


def function_watches(functions: Sequence[str]) -> list[Watch]:
    """Any error or throttle of each function (logical name; the Lambda is `<name>Function`)."""
    return [
        Watch(
            f"{function}{metric}",
            f"{function}: Lambda {metric.lower()} in the last 5 minutes",
            "AWS/Lambda",
            metric,
            (("FunctionName", {"Ref": function + "Function"}),),
        )
        for function in functions
        for metric in ("Errors", "Throttles")
    ]


def api_watches(apis: Sequence[str], stage: str) -> list[Watch]:
    """Any server-side error of each API (`HttpApi`, `WsApi`)."""
    watches = []
    for api in apis:
        metric, meaning = API_ERRORS[api]
        dimensions: tuple[tuple[str, object], ...] = (("ApiId", {"Ref": api}),) + ((("Stage", stage),) if api == "WsApi" else ())
        watches.append(Watch(f"{api}Errors", f"{api}: the API {meaning} in the last 5 minutes", "AWS/ApiGateway", metric, dimensions))
    return watches


def queue_depth_watch(queue: str, name: str) -> Watch:
    """A dead-letter queue (logical id `queue`) holding any message: something failed every retry.
    The hook for queues: add one per dead-letter queue to the watches `alarms()` gets."""
    return Watch(
        name,
        f"{name}: messages waiting in the dead-letter queue",
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        (("QueueName", {"Fn::GetAtt": [queue, "QueueName"]}),),
        statistic="Maximum",
    )


def access_logs(stage: dict, stage_id: str) -> dict:
    """Point `stage` (changed in place) at a new log group; returns the log group resource."""
    group = stage_id + "AccessLogs"
    stage["Properties"]["AccessLogSettings"] = {
        "DestinationArn": {"Fn::GetAtt": [group, "Arn"]},
        "Format": json.dumps(ACCESS_LOG_FORMATS[stage_id], separators=(",", ":")),
    }
    return {group: log_group()}


def log_group() -> dict:
    """A log group kept LOG_RETENTION_DAYS; it goes with the stack in every stage (logs are not app data)."""
    return {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete", "Properties": {"RetentionInDays": LOG_RETENTION_DAYS}}


def alarms(email: str | None, watches: Sequence[Watch]) -> dict:
    """An alarm per watch, each firing within 5 minutes; with `email`, an SNS topic mailing that address
    (AWS mails a confirmation link first) that every alarm notifies. Without, the alarms show in the
    CloudWatch console and its alarm list, and notify nobody."""
    resources: dict[str, dict] = {}
    if email:
        resources["AlarmTopic"] = {
            "Type": "AWS::SNS::Topic",
            "Properties": {"Subscription": [{"Protocol": "email", "Endpoint": email}]},
        }
    for watch in watches:
        resources[watch.name + "Alarm"] = _alarm(watch, [{"Ref": "AlarmTopic"}] if email else [])
    return resources


def _alarm(watch: Watch, actions: list) -> dict:
    properties = {
        "AlarmDescription": watch.description,
        "Namespace": watch.namespace,
        "MetricName": watch.metric,
        "Dimensions": [{"Name": name, "Value": value} for name, value in watch.dimensions],
        "Statistic": watch.statistic,
        "Period": ALARM_PERIOD_SECONDS,
        "EvaluationPeriods": 1,
        "Threshold": watch.threshold,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",  # no traffic is not a failure
    }
    if actions:
        properties["AlarmActions"] = actions
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}
