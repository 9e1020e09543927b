"""Opt-in operations for a stack, off by default (each costs money; docs/deploy.md says how much):

- `access_logs(stage, stage_id)`: one JSON line per request or WebSocket event, into a log group kept
  `LOG_RETENTION_DAYS`. A WebSocket stage can only log through the account's API Gateway CloudWatch
  role (`stack.cloudwatch_role_missing` checks it before a deploy); an HTTP API stage needs none.
- `alarms(email, functions, apis, stage)`: an SNS topic mailing `email`, and alarms on each function's
  errors and throttles and on each API's server-side errors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

LOG_RETENTION_DAYS = 30
ALARM_PERIOD_SECONDS = 300

# $context variables: https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging-variables.html
# and .../websocket-api-logging.html. No headers, no bodies, no query strings: nothing a user typed.
ACCESS_LOG_FORMATS = {
    "HttpApiStage": {
        "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "time": "$context.requestTime",
        "routeKey": "$context.routeKey", "status": "$context.status", "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency", "integrationError": "$context.integrationErrorMessage",
    },
    "WsStage": {
        "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "time": "$context.requestTime",
        "eventType": "$context.eventType", "routeKey": "$context.routeKey", "status": "$context.status",
        "connectionId": "$context.connectionId", "integrationError": "$context.integrationErrorMessage",
    },
}

# (namespace, metric, what it means) per API; dimensions ApiId and Stage.
API_ERRORS = {
    "HttpApi": ("5xx", "answered with a 5xx"),
    "WsApi": ("ExecutionError", "could not run a route's function"),
}


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
    return {"Type": "AWS::Logs::LogGroup", "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete",
            "Properties": {"RetentionInDays": LOG_RETENTION_DAYS}}


def alarms(email: str, functions: Sequence[str], apis: Sequence[str], stage: str) -> dict:
    """The topic and its email subscription (AWS mails a confirmation link first), and the alarms:
    any error or throttle of a function, any server-side error of an API, within 5 minutes."""
    resources: dict[str, dict] = {
        "AlarmTopic": {
            "Type": "AWS::SNS::Topic",
            # Not encrypted: CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key.
            "Properties": {"Subscription": [{"Protocol": "email", "Endpoint": email}]},
        },
    }
    for function in functions:
        for metric in ("Errors", "Throttles"):
            resources[f"{function}{metric}Alarm"] = _alarm(
                f"{function}: Lambda {metric.lower()} in the last 5 minutes", "AWS/Lambda", metric,
                [{"Name": "FunctionName", "Value": {"Ref": function + "Function"}}],
            )
    for api in apis:
        metric, meaning = API_ERRORS[api]
        stage_name = "$default" if api == "HttpApi" else stage
        resources[f"{api}ErrorsAlarm"] = _alarm(
            f"{api}: the API {meaning} in the last 5 minutes", "AWS/ApiGateway", metric,
            [{"Name": "ApiId", "Value": {"Ref": api}}, {"Name": "Stage", "Value": stage_name}],
        )
    return resources


def _alarm(description: str, namespace: str, metric: str, dimensions: list[dict]) -> dict:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": dimensions,
            "Statistic": "Sum",
            "Period": ALARM_PERIOD_SECONDS,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",  # no traffic is not a failure
            "AlarmActions": [{"Ref": "AlarmTopic"}],
        },
    }
