"""Golden tests of this app's stack: its generated template (routes, table, app name), cfn-lint clean, the checks cfn-lint misses, and whole resources compared.

moto's CloudFormation skips every AWS::ApiGatewayV2 resource, so the APIs, routes, integrations,
stages and the deployment are checked here, on the template itself.
"""

import json
import re

import pytest
from cfnlint.api import ManualArgs, lint

from devkit.deploy import accepted, template
from tests.support.deploy import lint_findings, of_type

SUB_ACCOUNT = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def operated(app_copy):
    """The app with every opt-in switched on: access logs, alarms, PITR and a customer-managed key."""
    from devkit import manifest as manifest_module

    arc = app_copy / "app.arc"
    text = arc.read_text().replace("  expires TTL\n", f"  expires TTL\n  PITR true\n  encrypt {KMS_KEY}\n")
    arc.write_text(text + "\naccess-logs true\nalarms ops@example.com\n")
    return manifest_module.load(arc)


def tag_map(stage: str = "staging") -> dict[str, str]:
    return {"devkit:app": "mywsapp", "devkit:stage": stage}


def tag_list(stage: str = "staging") -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tag_map(stage).items()]


def skips(*checks: str) -> dict:
    """The Metadata that carries the reasons for these accepted checkov checks (devkit/deploy/accepted.py)."""
    reasons = {a.check: a.reason for a in accepted.ACCEPTED}
    return {"checkov": {"skip": [{"id": check, "comment": reasons[check]} for check in checks]}}


def statements(document: dict) -> list[dict]:
    return [
        s for role in of_type(document, "AWS::IAM::Role").values() for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]
    ]


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_cfn_lint_finds_nothing_not_even_informational(app_manifest, code_keys, stage):
    assert lint_findings(template.build(app_manifest, stage, code_keys)) == []


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_cfn_lint_finds_nothing_with_every_option_on(operated, code_keys, stage):
    """Access logs, alarms, PITR and a customer-managed key: still clean."""
    assert lint_findings(template.build(operated, stage, code_keys)) == []


@pytest.mark.parametrize(
    "app, stage, expected",
    [
        ("mywsapp", "staging", "MywsappStaging"),
        ("mywsapp", "production", "MywsappProduction"),
        ("my-ws-app", "staging", "MyWsAppStaging"),
    ],
)
def test_stack_name_is_camel_case_app_and_stage(app, stage, expected):
    assert template.stack_name(app, stage) == expected


# What cfn-lint does not catch (WEBSOCKETS, LAMBDA, lambda:Invoke, a missing selection expression).


def test_websocket_api_protocol_and_route_selection(staging):
    api = staging["Resources"]["WsApi"]["Properties"]
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"


def test_every_integration_is_aws_proxy_and_http_ones_use_payload_2(staging):
    integrations = of_type(staging, "AWS::ApiGatewayV2::Integration")
    assert len(integrations) == 6  # GET /, /_static, and $connect, $default, $disconnect, broadcast
    assert {i["Properties"]["IntegrationType"] for i in integrations.values()} == {"AWS_PROXY"}
    http = [i for i in integrations.values() if i["Properties"]["ApiId"] == {"Ref": "HttpApi"}]
    assert [i["Properties"]["PayloadFormatVersion"] for i in http] == ["2.0", "2.0"]


def test_every_permission_invokes_with_a_scoped_source_arn(staging):
    permissions = of_type(staging, "AWS::Lambda::Permission")
    assert len(of_type(staging, "AWS::Lambda::Function")) == 8
    assert len(permissions) == 7  # every function an API invokes (the authorizer's: test_authorizer_template); deliver is invoked by its event source mapping
    for permission in permissions.values():
        properties = permission["Properties"]
        assert properties["Action"] == "lambda:InvokeFunction"
        assert properties["Principal"] == "apigateway.amazonaws.com"
        assert properties["SourceArn"]["Fn::Sub"].startswith(SUB_ACCOUNT + ":${")


def test_source_arns_name_the_api_stage_and_route(staging):
    arns = {k: v["Properties"]["SourceArn"]["Fn::Sub"] for k, v in of_type(staging, "AWS::Lambda::Permission").items()}
    assert arns["WsConnectPermission"] == SUB_ACCOUNT + ":${WsApi}/staging/$connect"
    assert arns["WsBroadcastPermission"] == SUB_ACCOUNT + ":${WsApi}/staging/broadcast"
    assert arns["HttpGetIndexPermission"] == SUB_ACCOUNT + ":${HttpApi}/*/GET/"
    assert arns["StaticPermission"] == SUB_ACCOUNT + ":${HttpApi}/*/GET/_static/*"


def test_no_wildcard_resource_no_dynamodb_star_no_literal_partition(staging):
    for statement in statements(staging):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert "*" not in resources
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not any(a.endswith("*") for a in actions)
    assert "arn:aws:" not in json.dumps(staging)
    assert "amazonaws.com/" not in json.dumps(staging).replace("apigateway.amazonaws.com", "")


def test_websocket_deployment_depends_on_every_route_and_the_stage_is_named_after_the_stage(staging):
    routes = sorted(k for k, v in of_type(staging, "AWS::ApiGatewayV2::Route").items() if v["Properties"]["ApiId"] == {"Ref": "WsApi"})
    [(name, deployment)] = of_type(staging, "AWS::ApiGatewayV2::Deployment").items()
    assert routes == ["WsBroadcastRoute", "WsConnectRoute", "WsDefaultRoute", "WsDisconnectRoute"]
    assert deployment["DependsOn"] == routes
    assert staging["Resources"]["WsStage"]["Properties"]["DeploymentId"] == {"Ref": name}


def test_a_changed_route_set_gets_a_new_deployment(app_manifest, code_keys, app_copy):
    from devkit import manifest as manifest_module

    before = of_type(template.build(app_manifest, "staging", code_keys), "AWS::ApiGatewayV2::Deployment")
    arc = app_copy / "app.arc"
    arc.write_text(arc.read_text().replace("broadcast ", "broadcast\nwhisper "))
    (app_copy / "src/ws/whisper").mkdir()
    (app_copy / "src/ws/whisper/index.py").write_text("def handler(event, context):\n    return {'statusCode': 200}\n")
    changed = manifest_module.load(arc)
    keys = dict(code_keys, **{"ws-whisper": "mywsapp/ws-whisper/x.zip"})
    after = of_type(template.build(changed, "staging", keys), "AWS::ApiGatewayV2::Deployment")
    assert before.keys() != after.keys()
    assert "WsWhisperRoute" in next(iter(after.values()))["DependsOn"]


# Whole resources, compared as data.


def test_websocket_api_resource(staging):
    assert staging["Resources"]["WsApi"] == {
        "Type": "AWS::ApiGatewayV2::Api",
        "Properties": {
            "Name": "MywsappStaging-ws",
            "ProtocolType": "WEBSOCKET",
            "RouteSelectionExpression": "$request.body.action",
            "Tags": tag_map(),
        },
    }


def test_broadcast_route_integration_and_permission(staging):
    resources = staging["Resources"]
    assert resources["WsBroadcastRoute"] == {
        "Type": "AWS::ApiGatewayV2::Route",
        "Properties": {
            "ApiId": {"Ref": "WsApi"},
            "RouteKey": "broadcast",
            "Target": {"Fn::Sub": "integrations/${WsBroadcastIntegration}"},
        },
    }
    assert resources["WsBroadcastIntegration"] == {
        "Type": "AWS::ApiGatewayV2::Integration",
        "Properties": {
            "ApiId": {"Ref": "WsApi"},
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": {
                "Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${WsBroadcastFunction.Arn}/invocations"
            },
            "TimeoutInMillis": 29000,
        },
    }
    assert resources["WsBroadcastPermission"] == {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": "WsBroadcastFunction"},
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": {"Fn::Sub": SUB_ACCOUNT + ":${WsApi}/staging/broadcast"},
        },
    }


def test_broadcast_function_resource(staging):
    assert staging["Resources"]["WsBroadcastFunction"] == {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Description": "mywsapp staging: broadcast",
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "Handler": "index.handler",
            "MemorySize": 256,
            "Timeout": 29,
            "Code": {"S3Bucket": {"Ref": "DeploymentBucket"}, "S3Key": "mywsapp/ws-broadcast/" + "0" * 64 + ".zip"},
            "Role": {"Fn::GetAtt": ["WsBroadcastRole", "Arn"]},
            "LoggingConfig": {"LogGroup": {"Ref": "WsBroadcastLogGroup"}},
            "Environment": {
                "Variables": {
                    "ARC_ENV": "staging",
                    "ARC_APP_NAME": "mywsapp",
                    "POWERTOOLS_SERVICE_NAME": "mywsapp",
                    "ARC_WSS_URL": {"Fn::Sub": "wss://${WsApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/staging"},
                    "ARC_ALLOWED_ORIGINS": {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"},
                    "ARC_TABLE_CONNECTIONS": {"Ref": "TableConnections"},
                    "ARC_SECRET_SIGNING_KEY": {"Ref": "SecretSigningKey"},
                    "ARC_QUEUE_DELIVER": {"Ref": "QueueDeliver"},
                }
            },
            "Tags": tag_list(),
        },
        "Metadata": skips("CKV_AWS_117", "CKV_AWS_116", "CKV_AWS_173", "CKV_AWS_115"),
    }
    assert staging["Resources"]["WsBroadcastLogGroup"] == {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {"RetentionInDays": template.LOG_RETENTION_DAYS, "Tags": tag_list()},
        "Metadata": skips("CKV_AWS_158"),
    }


def test_broadcast_role_resource(staging):
    assert staging["Resources"]["WsBroadcastRole"] == {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
            },
            "Policies": [
                {
                    "PolicyName": "least-privilege",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                "Resource": {"Fn::GetAtt": ["WsBroadcastLogGroup", "Arn"]},
                            },
                            {"Effect": "Allow", "Action": ["dynamodb:Scan"], "Resource": {"Fn::GetAtt": ["TableConnections", "Arn"]}},
                            {
                                "Effect": "Allow",
                                "Action": "execute-api:ManageConnections",
                                "Resource": {"Fn::Sub": SUB_ACCOUNT + ":${WsApi}/staging/POST/@connections/*"},
                            },
                            {
                                "Effect": "Allow",
                                "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                                "Resource": {"Fn::GetAtt": ["QueueDeliver", "Arn"]},
                            },
                        ],
                    },
                }
            ],
            "Tags": tag_list(),
        },
    }


def test_the_deliver_queue_its_dead_letter_queue_and_event_source(staging):
    """CloudFormation's AWS::SQS::Queue and AWS::Lambda::EventSourceMapping; the Lambda guide, "Using
    Lambda with Amazon SQS" (visibility timeout 6x the function's, ReportBatchItemFailures)."""
    resources = staging["Resources"]
    assert resources["QueueDeliverDlq"] == {
        "Type": "AWS::SQS::Queue",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Metadata": skips("CKV_AWS_27"),
        "Properties": {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 1209600, "Tags": tag_list()},
    }
    assert resources["QueueDeliver"] == {
        "Type": "AWS::SQS::Queue",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Metadata": skips("CKV_AWS_27"),
        "Properties": {
            "SqsManagedSseEnabled": True,
            "VisibilityTimeout": 174,
            "MessageRetentionPeriod": 345600,
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["QueueDeliverDlq", "Arn"]}, "maxReceiveCount": 5},
            "Tags": tag_list(),
        },
    }
    assert resources["QueueDeliverEventSource"] == {
        "Type": "AWS::Lambda::EventSourceMapping",
        "DependsOn": ["QueueDeliverRole"],
        "Properties": {
            "EventSourceArn": {"Fn::GetAtt": ["QueueDeliver", "Arn"]},
            "FunctionName": {"Ref": "QueueDeliverFunction"},
            "BatchSize": 10,
            "Enabled": True,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    }
    [policy] = resources["QueueDeliverRole"]["Properties"]["Policies"]
    assert {
        "Effect": "Allow",
        "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"],
        "Resource": {"Fn::GetAtt": ["QueueDeliver", "Arn"]},
    } in policy["PolicyDocument"]["Statement"]
    assert staging["Outputs"]["QueueDeliverUrl"] == {"Description": "SQS queue deliver", "Value": {"Ref": "QueueDeliver"}}


def test_alarms_watch_the_dead_letter_queue(operated, code_keys):
    """The SQS developer guide, "Creating alarms for dead-letter queues": ApproximateNumberOfMessagesVisible."""
    resources = template.build(operated, "staging", code_keys)["Resources"]
    alarm = resources["QueueDeliverDlqAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Threshold"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible", 1)
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["QueueDeliverDlq", "QueueName"]}}]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert "QueueDeliverFunctionErrorsAlarm" not in resources and "QueueDeliverErrorsAlarm" in resources


CONNECTIONS_TABLE = {
    "BillingMode": "PAY_PER_REQUEST",
    "AttributeDefinitions": [{"AttributeName": "connectionId", "AttributeType": "S"}],
    "KeySchema": [{"AttributeName": "connectionId", "KeyType": "HASH"}],
    "SSESpecification": {"SSEEnabled": True},
    "TimeToLiveSpecification": {"AttributeName": "expires", "Enabled": True},
}


@pytest.mark.parametrize(
    "stage, expected",
    [
        (
            "staging",
            {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": "Delete",
                "UpdateReplacePolicy": "Delete",
                "Properties": {**CONNECTIONS_TABLE, "Tags": tag_list("staging")},
                "Metadata": skips("CKV_AWS_119", "CKV_AWS_28"),
            },
        ),
        (
            "production",
            {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {**CONNECTIONS_TABLE, "DeletionProtectionEnabled": True, "Tags": tag_list("production")},
                "Metadata": skips("CKV_AWS_119", "CKV_AWS_28"),
            },
        ),
    ],
)
def test_production_keeps_and_protects_its_tables_staging_deletes_them(app_manifest, code_keys, stage, expected):
    assert template.build(app_manifest, stage, code_keys)["Resources"]["TableConnections"] == expected


def test_staging_and_production_differ_only_where_the_profile_says(app_manifest, code_keys):
    """Whole resources of both stages side by side: besides the stage's name in names, ARNs, URLs,
    descriptions and tags, only the tables' protection, the functions' reserved concurrency, the API
    stages' access logs (with their log groups) and the alarms differ."""

    def as_staging(document: dict) -> dict:  # the stage's name out, and the deployment's hash of it
        text = json.dumps(document).replace("production", "staging").replace("Production", "Staging")
        return json.loads(re.sub(r"WsDeployment[0-9a-f]{10}", "WsDeployment", text))

    staging = as_staging(template.build(app_manifest, "staging", code_keys))
    production = as_staging(template.build(app_manifest, "production", code_keys))
    differing = {k for k in staging["Resources"] if staging["Resources"][k] != production["Resources"][k]}
    functions = {k for k, v in staging["Resources"].items() if v["Type"] == "AWS::Lambda::Function"}
    assert differing == {"TableConnections", "HttpApiStage", "WsStage"} | functions
    for name in functions:  # reserved concurrency, and so no reason for lacking it
        assert production["Resources"][name]["Properties"]["ReservedConcurrentExecutions"] == 50
        del production["Resources"][name]["Properties"]["ReservedConcurrentExecutions"]
        assert production["Resources"][name]["Metadata"]["checkov"]["skip"][:3] == staging["Resources"][name]["Metadata"]["checkov"]["skip"][:3]
    added = production["Resources"].keys() - staging["Resources"].keys()
    assert added == {"HttpApiStageAccessLogs", "WsStageAccessLogs"} | {k for k in added if k.endswith("Alarm")}
    # access logs; errors and throttles per function (static too); two 5xx; each dead-letter queue's depth
    assert len(added) == 2 + (len(app_manifest.functions) + 1) * 2 + 2 + len(app_manifest.queues)
    assert not staging["Resources"].keys() - production["Resources"].keys()


def test_table_options_pitr_and_a_customer_managed_key(operated, code_keys):
    """Architect's `PITR true` and `encrypt <KMS key ARN>` (arc.codes/docs/en/reference/app.arc/tables)."""
    properties = template.build(operated, "staging", code_keys)["Resources"]["TableConnections"]["Properties"]
    assert properties == {
        **CONNECTIONS_TABLE,
        "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": KMS_KEY},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "Tags": tag_list(),
    }


def test_http_api_has_one_default_stage_that_deploys_itself_throttled(staging):
    assert staging["Resources"]["HttpApi"]["Properties"]["ProtocolType"] == "HTTP"
    assert staging["Resources"]["HttpApiStage"] == {
        "Type": "AWS::ApiGatewayV2::Stage",
        "Properties": {
            "ApiId": {"Ref": "HttpApi"},
            "StageName": "$default",
            "AutoDeploy": True,
            "DefaultRouteSettings": {"ThrottlingRateLimit": 100, "ThrottlingBurstLimit": 200},
            "Tags": tag_map(),
        },
        "Metadata": skips("CKV_AWS_95"),
    }
    routes = {v["Properties"]["RouteKey"] for v in of_type(staging, "AWS::ApiGatewayV2::Route").values() if v["Properties"]["ApiId"] == {"Ref": "HttpApi"}}
    assert routes == {"GET /", "GET /_static/{proxy+}"}


def test_websocket_stage_throttles_every_route_and_broadcast_tighter(staging):
    """Stage throttling: DefaultRouteSettings for all routes, RouteSettings keyed by route key
    (AWS::ApiGatewayV2::Stage RouteSettings in the CloudFormation reference); broadcast's own limits
    come from src/ws/broadcast/config.arc."""
    [deployment] = of_type(staging, "AWS::ApiGatewayV2::Deployment")
    assert staging["Resources"]["WsStage"] == {
        "Type": "AWS::ApiGatewayV2::Stage",
        "Properties": {
            "ApiId": {"Ref": "WsApi"},
            "StageName": "staging",
            "DeploymentId": {"Ref": deployment},
            "DefaultRouteSettings": {"ThrottlingRateLimit": 100, "ThrottlingBurstLimit": 200},
            "RouteSettings": {"broadcast": {"ThrottlingRateLimit": 2, "ThrottlingBurstLimit": 4}},
            "Tags": tag_map(),
        },
        "Metadata": skips("CKV_AWS_95"),
    }


def test_throttle_settings_come_from_app_arc_and_config_arc(app_copy, code_keys):
    from devkit import manifest as manifest_module

    arc = app_copy / "app.arc"
    arc.write_text(arc.read_text() + "\nthrottle-rate 7\nthrottle-burst 9\n")
    (app_copy / "src/ws/broadcast/config.arc").unlink()
    (app_copy / "src/http/get-index/config.arc").write_text("@aws\nthrottle-rate 3\n")
    document = template.build(manifest_module.load(arc), "staging", code_keys)
    http, ws = document["Resources"]["HttpApiStage"], document["Resources"]["WsStage"]
    assert ws["Properties"]["DefaultRouteSettings"] == {"ThrottlingRateLimit": 7, "ThrottlingBurstLimit": 9}
    assert "RouteSettings" not in ws["Properties"]
    assert http["Properties"]["RouteSettings"] == {"GET /": {"ThrottlingRateLimit": 3, "ThrottlingBurstLimit": 9}}
    assert http["DependsOn"] == ["HttpGetIndexRoute"]  # an auto-deployed stage cannot name a route not yet made
    assert lint_findings(document) == []


def test_integrations_wait_as_long_as_api_gateway_allows(staging):
    """API Gateway's integration timeout: 50 ms to 29 s for WebSocket APIs, to 30 s for HTTP APIs
    (API Gateway quotas pages; AWS::ApiGatewayV2::Integration TimeoutInMillis)."""
    timeouts = {v["Properties"]["ApiId"]["Ref"]: v["Properties"]["TimeoutInMillis"] for v in of_type(staging, "AWS::ApiGatewayV2::Integration").values()}
    assert timeouts == {"HttpApi": 30000, "WsApi": 29000}


def test_access_logs_and_alarms_are_off_in_staging_by_default(staging):
    assert not of_type(staging, "AWS::CloudWatch::Alarm") and not of_type(staging, "AWS::SNS::Topic")
    assert not any("AccessLogSettings" in v["Properties"] for v in of_type(staging, "AWS::ApiGatewayV2::Stage").values())


def test_access_logs_go_to_a_log_group_per_stage_with_retention(operated, code_keys):
    resources = template.build(operated, "production", code_keys)["Resources"]
    for stage_id in ("HttpApiStage", "WsStage"):
        settings = resources[stage_id]["Properties"]["AccessLogSettings"]
        assert settings["DestinationArn"] == {"Fn::GetAtt": [stage_id + "AccessLogs", "Arn"]}
        assert json.loads(settings["Format"])["requestId"] == "$context.requestId"
        assert resources[stage_id + "AccessLogs"] == {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {"RetentionInDays": template.LOG_RETENTION_DAYS, "Tags": tag_list("production")},
            "Metadata": skips("CKV_AWS_158"),
        }
        assert "Metadata" not in resources[stage_id]  # logging: nothing to explain
    assert "$context.eventType" in resources["WsStage"]["Properties"]["AccessLogSettings"]["Format"]


def test_alarms_mail_the_address_on_errors_throttles_and_api_failures(operated, code_keys):
    resources = template.build(operated, "production", code_keys)["Resources"]
    assert resources["AlarmTopic"] == {
        "Type": "AWS::SNS::Topic",
        "Properties": {"Subscription": [{"Protocol": "email", "Endpoint": "ops@example.com"}], "Tags": tag_list("production")},
        "Metadata": skips("CKV_AWS_26"),
    }
    alarms = of_type({"Resources": resources}, "AWS::CloudWatch::Alarm")
    assert len(alarms) == 8 * 2 + 2 + 1  # errors and throttles per function, server errors per API, the dead-letter queue
    assert resources["WsBroadcastErrorsAlarm"] == {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": "WsBroadcast: Lambda errors in the last 5 minutes",
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "WsBroadcastFunction"}}],
            "Statistic": "Sum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": "AlarmTopic"}],
            "Tags": tag_list("production"),
        },
    }
    http, ws = resources["HttpApiErrorsAlarm"]["Properties"], resources["WsApiErrorsAlarm"]["Properties"]
    # HTTP API metrics by ApiId alone (developerguide/http-api-metrics.html): its one stage is $default.
    assert (http["MetricName"], http["Dimensions"]) == ("5xx", [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}])
    assert (ws["MetricName"], ws["Dimensions"]) == ("ExecutionError", [{"Name": "ApiId", "Value": {"Ref": "WsApi"}}, {"Name": "Stage", "Value": "production"}])


def test_outputs_give_page_url_websocket_url_and_table_names(staging):
    assert {k: v["Value"] for k, v in staging["Outputs"].items()} == {
        "TableConnectionsName": {"Ref": "TableConnections"},
        "PageUrl": {"Fn::Sub": "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"},
        "WebSocketUrl": {"Fn::Sub": "wss://${WsApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/staging"},
        "QueueDeliverUrl": {"Ref": "QueueDeliver"},
    }


# Least privilege, route by route.


def granted(document: dict, function: str) -> dict[str, set[str]]:
    """Actions by resource reference for one function's role (table logical id, 'ws', or 'logs')."""
    result: dict[str, set[str]] = {}
    for statement in document["Resources"][function + "Role"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resource = statement["Resource"]
        where = resource["Fn::GetAtt"][0] if "Fn::GetAtt" in resource else resource.get("Ref", "ws")
        result.setdefault(where, set()).update(actions)
    return result


LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
MANAGE = {"execute-api:ManageConnections"}
SEND = {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
CONSUME = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"}


@pytest.mark.parametrize(
    "function, expected",
    [
        ("WsConnect", {"WsConnectLogGroup": LOGS, "TableConnections": {"dynamodb:PutItem"}}),
        ("WsDisconnect", {"WsDisconnectLogGroup": LOGS, "TableConnections": {"dynamodb:DeleteItem"}}),
        ("WsDefault", {"WsDefaultLogGroup": LOGS, "ws": MANAGE}),
        ("WsBroadcast", {"WsBroadcastLogGroup": LOGS, "TableConnections": {"dynamodb:Scan"}, "ws": MANAGE, "QueueDeliver": SEND}),
        (
            "QueueDeliver",
            {"QueueDeliverLogGroup": LOGS, "TableConnections": {"dynamodb:Scan", "dynamodb:BatchWriteItem"}, "ws": MANAGE, "QueueDeliver": SEND | CONSUME},
        ),
        ("HttpGetIndex", {"HttpGetIndexLogGroup": LOGS, "SecretSigningKey": {"secretsmanager:GetSecretValue"}}),
        ("AuthorizerAuthorize", {"AuthorizerAuthorizeLogGroup": LOGS, "SecretSigningKey": {"secretsmanager:GetSecretValue"}}),
        ("Static", {"StaticLogGroup": LOGS}),
    ],
)
def test_each_function_gets_only_what_its_route_needs(staging, function, expected):
    assert granted(staging, function) == expected


def test_static_function_bundles_public_and_gets_no_app_environment(staging):
    properties = staging["Resources"]["StaticFunction"]["Properties"]
    assert "Environment" not in properties
    assert (properties["MemorySize"], properties["Timeout"]) == (template.STATIC_MEMORY_MB, template.STATIC_TIMEOUT_SECONDS)


def test_config_arc_settings_reach_the_function(app_copy, code_keys):
    from devkit import manifest as manifest_module

    (app_copy / "src/ws/broadcast/config.arc").write_text("@aws\nmemory 1024\ntimeout 30\narchitecture x86_64\n")
    document = template.build(manifest_module.load(app_copy / "app.arc"), "production", code_keys)
    properties = document["Resources"]["WsBroadcastFunction"]["Properties"]
    assert (properties["MemorySize"], properties["Timeout"], properties["Architectures"]) == (1024, 30, ["x86_64"])
    assert properties["Environment"]["Variables"]["ARC_ENV"] == "production"


def test_a_granted_table_missing_from_the_manifest_is_a_manifest_error_naming_the_grant(app_copy):
    from devkit import manifest as manifest_module

    arc = app_copy / "app.arc"
    arc.write_text(arc.read_text().replace("connections\n", "sessions\n"))
    with pytest.raises(manifest_module.ManifestError, match=r"src/ws/connect/config.arc:3: table 'connections' is not declared"):
        manifest_module.load(arc)


def test_a_missing_package_is_a_clear_error(app_manifest, code_keys):
    del code_keys["ws-connect"]
    with pytest.raises(template.TemplateError, match="no package for function ws-connect"):
        template.build(app_manifest, "staging", code_keys)


def test_a_role_holds_exactly_the_declared_actions_on_exactly_the_declared_resources(app_copy, code_keys):
    """`table` lines, `manage-connections` methods and a statements file, as CloudFormation values."""
    from devkit import manifest as manifest_module

    folder = app_copy / "src/ws/default"
    (folder / "config.arc").write_text("@permissions\ntable connections GetItem Query\nmanage-connections POST DELETE\nstatements iam.json\n")
    (folder / "iam.json").write_text(
        json.dumps(
            [
                {
                    "Effect": "Allow",
                    "Action": ["sqs:SendMessage"],
                    "Resource": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:jobs",
                }
            ]
        )
    )
    document = template.build(manifest_module.load(app_copy / "app.arc"), "staging", code_keys)
    assert document["Resources"]["WsDefaultRole"]["Properties"]["Policies"] == [
        {
            "PolicyName": "least-privilege",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": {"Fn::GetAtt": ["WsDefaultLogGroup", "Arn"]}},
                    {
                        "Effect": "Allow",
                        "Action": ["dynamodb:GetItem", "dynamodb:Query"],
                        "Resource": [{"Fn::GetAtt": ["TableConnections", "Arn"]}, {"Fn::Sub": "${TableConnections.Arn}/index/*"}],
                    },
                    {
                        "Effect": "Allow",
                        "Action": "execute-api:ManageConnections",
                        "Resource": [
                            {"Fn::Sub": SUB_ACCOUNT + ":${WsApi}/staging/POST/@connections/*"},
                            {"Fn::Sub": SUB_ACCOUNT + ":${WsApi}/staging/DELETE/@connections/*"},
                        ],
                    },
                    {
                        "Effect": "Allow",
                        "Action": ["sqs:SendMessage"],
                        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:jobs"},
                    },
                ],
            },
        }
    ]
    matches = lint(json.dumps(document), config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


def test_an_empty_declaration_leaves_a_websocket_function_only_its_logs(app_copy, code_keys):
    from devkit import manifest as manifest_module

    (app_copy / "src/ws/default/config.arc").write_text("@permissions\n")
    document = template.build(manifest_module.load(app_copy / "app.arc"), "staging", code_keys)
    assert granted(document, "WsDefault") == {"WsDefaultLogGroup": LOGS}
