"""The app's manifest -> one CloudFormation template, built as plain dicts (JSON), with no AWS call.

`build(manifest, stage, code_keys)` returns the template for stack `stack_name(app, stage)`:

- an HTTP API (payload format 2.0, `$default` stage) with one Lambda per `@http` route, and
  `GET /_static/{proxy+}` served by a generated Lambda that bundles `public/` (see `static_handler`);
- a WebSocket API (`$request.body.action`) with `$connect`, `$default`, `$disconnect` and each custom
  route, `AWS_PROXY` integrations, a stage named after the stage, and a deployment that depends on
  every route (its logical id carries a hash of the routes, so a changed route set is redeployed);
- per function: the Lambda (runtime, architecture, memory, timeout from the manifest and config.arc),
  its log group with a retention period, its own IAM role (its config.arc's `@permissions`, see devkit/permissions.py) and an
  invoke permission scoped by `SourceArn` to its API, stage and route;
- with `@ws-authorizer`: the `$connect` Lambda REQUEST authorizer (see `authorizer`);
- one DynamoDB table per `@tables` entry: on-demand, TTL on the declared attribute, SSE on; in
  production deletion-protected and retained when the stack goes (staging deletes it with the stack);
- stage throttling on both APIs (`@aws throttle-rate` / `throttle-burst`, a function's config.arc for
  its own route), and explicit integration timeouts (API Gateway's maximums);
- per function, reserved concurrency: `@aws concurrency`, else production's default (see `concurrency`);
- per `@queues` entry: the queue, its dead-letter queue and its consumer's event source mapping
  (see `queues`), the consumer's function like any other;
- alarms (`@aws alarms true|false|<email>`, one per dead-letter queue too) and API access logs
  (`@aws access-logs true|false`), on by default in production, see `operations`;
- on every taggable resource, the app, the stage and the user's `@tags` (see `tags`), and the reason
  for each scanner finding the kit accepts in its Metadata (see `accepted`).

`code_keys` maps each function id (and `STATIC_ID`) to its package's S3 key in the bucket given as the
stack parameter `DeploymentBucket`. ARNs use `${AWS::Partition}`; nothing names `arn:aws` literally.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

from devkit import contract, permissions
from devkit.deploy import accepted, authorizer, concurrency, operations, secrets, tags
from devkit.deploy import queues as queue_resources
from devkit.manifest import INTEGRATION_TIMEOUT_SECONDS, Function, Manifest, Table

STATIC_ID = "static"  # the generated function serving public/
STATIC_ROUTE_KEY = "GET /_static/{proxy+}"
STATIC_MEMORY_MB = 128
STATIC_TIMEOUT_SECONDS = 5
LOG_RETENTION_DAYS = operations.LOG_RETENTION_DAYS
STAGES = ("staging", "production")
PROTECTED_STAGES = ("production",)  # tables kept and deletion-protected, stack termination-protected
# The APIs' URLs, spelled out rather than `Fn::GetAtt <Api>.ApiEndpoint` (the same value), so that moto,
# which skips every AWS::ApiGatewayV2 resource, can still run the template in the deploy-flow tests.
HTTP_URL = "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
WS_URL = "wss://${WsApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"


class TemplateError(Exception):
    """The manifest asks for something the template cannot express; the message says what to change."""


def stack_name(app: str, stage: str) -> str:
    """`mywsapp`, `staging` -> `MywsappStaging`; `my-ws-app` -> `MyWsAppStaging`; `chat-2` -> `Chat-2Staging`.

    One app name, one stack name, and never two apps to one stack: a dash before a lowercase letter
    becomes that letter's capital (app names are lowercase, so a capital can only mean a dash), and
    any other dash (before a digit, another dash, or at the end) is kept. So `chat-2` and `chat2`,
    `a--b` and `a-b`, `app-` and `app` get different stacks; `stack.deploy` also checks the owner tag.
    """
    first, *rest = app.split("-")
    encoded = first[:1].upper() + first[1:]
    for part in rest:
        encoded += part[:1].upper() + part[1:] if part[:1].isalpha() else "-" + part
    return encoded + _camel(stage)


def has_static(manifest: Manifest) -> bool:
    """True when the app has a `public/` folder to serve at `/_static/*`."""
    return manifest.public_dir.is_dir()


def build(manifest: Manifest, stage: str, code_keys: Mapping[str, str]) -> dict:
    """The whole template for `stage`; `code_keys` must hold every function id (and STATIC_ID if served)."""
    if stage not in STAGES:
        raise TemplateError(f"stage {stage!r}: expected one of {', '.join(STAGES)}")
    _check_names(manifest)
    resources: dict[str, dict] = {}
    outputs: dict[str, dict] = {}
    env = _environment(manifest, stage)
    resources.update(secrets.resources(manifest, stage))
    for table in manifest.tables:
        resources[_table_id(table.name)] = _table(table, stage)
        outputs[_table_id(table.name) + "Name"] = {
            "Description": f"DynamoDB table {table.name} ({contract.table_variable(table.name)})",
            "Value": {"Ref": _table_id(table.name)},
        }
    if manifest.http_functions or has_static(manifest):
        resources.update(_http_api(manifest, stage))
        outputs["PageUrl"] = {"Description": "The app's page", "Value": {"Fn::Sub": HTTP_URL + "/"}}
    for function in manifest.http_functions:
        resources.update(_function(manifest, stage, function, env, _key(code_keys, function.id)))
        resources.update(_http_route(_logical(function.id), function.route_key))
    if has_static(manifest):
        static = _static_function(manifest)
        resources.update(_function(manifest, stage, static, {}, _key(code_keys, STATIC_ID), _logical(STATIC_ID)))
        resources.update(_http_route(_logical(STATIC_ID), STATIC_ROUTE_KEY))
    if "HttpApiStage" in resources:
        _throttle(resources["HttpApiStage"], manifest, manifest.http_functions, "HttpApi")
    if manifest.ws_functions:
        routes: dict[str, dict] = {}
        for function in manifest.ws_functions:
            resources.update(_function(manifest, stage, function, env, _key(code_keys, function.id)))
            routes.update(_ws_route(_logical(function.id), function.route_key, stage))
        if manifest.authorizer:  # with the routes, so a changed authorizer is redeployed too
            guard = manifest.authorizer.function
            resources.update(_function(manifest, stage, guard, env, _key(code_keys, guard.id)))
            authorizer.attach(routes, manifest.authorizer, _logical(guard.id), _logical(_connect(manifest).id))
        resources.update(routes)
        resources.update(_ws_api(manifest, stage, routes))
        _throttle(resources["WsStage"], manifest, manifest.ws_functions, "WsApi")
        outputs["WebSocketUrl"] = {"Description": "The app's WebSocket URL", "Value": {"Fn::Sub": WS_URL + "/" + stage}}
    for function in manifest.queue_functions:
        resources.update(_function(manifest, stage, function, env, _key(code_keys, function.id)))
    if manifest.queues:
        found, queue_outputs = queue_resources.resources(manifest, lambda f: _logical(f.id))
        resources.update(found)
        outputs.update(queue_outputs)
    if operations.enabled(manifest.aws.access_logs, stage in PROTECTED_STAGES):
        for stage_id in ("HttpApiStage", "WsStage"):
            if stage_id in resources:
                resources.update(operations.access_logs(resources[stage_id], stage_id))
    if operations.enabled(manifest.aws.alarms, stage in PROTECTED_STAGES):
        functions = [_logical(f.id) for f in manifest.functions] + ([_logical(STATIC_ID)] if has_static(manifest) else [])
        watches = operations.function_watches(functions) + operations.api_watches([a for a in ("HttpApi", "WsApi") if a in resources], stage)
        watches += queue_resources.dead_letter_watches(manifest)
        email = manifest.aws.alarms if isinstance(manifest.aws.alarms, str) else None
        resources.update(operations.alarms(email, watches))
    tags.apply(resources, tags.resource_tags(manifest.app, stage, manifest.tags))
    accepted.annotate(resources)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"{manifest.app} ({stage}): generated by devkit from app.arc; edit app.arc, not this file",
        "Parameters": {
            "DeploymentBucket": {"Type": "String", "Description": "The private bucket holding the function packages"},
        },
        "Resources": resources,
        "Outputs": outputs,
    }


def _check_names(manifest: Manifest) -> None:
    seen: dict[str, str] = {}
    for name in [f.id for f in manifest.functions] + [STATIC_ID] + ["table-" + t.name for t in manifest.tables]:
        logical = _logical(name)
        if logical in seen:
            raise TemplateError(f"{seen[logical]!r} and {name!r} give the same CloudFormation name {logical}; rename one")
        seen[logical] = name
    for function in manifest.http_functions:
        if function.route_key.split(" ", 1)[1].startswith("/_static"):
            raise TemplateError(f"{function.route_key}: /_static/* serves public/; choose another path")


def _environment(manifest: Manifest, stage: str) -> dict:
    """The runtime contract as Lambda environment variables, each value a CloudFormation reference."""
    return contract.variables(
        manifest,
        stage,
        wss_url={"Fn::Sub": WS_URL + "/" + stage},
        allowed_origins={"Fn::Sub": HTTP_URL} if manifest.http_functions or has_static(manifest) else None,
        table_names={t.name: {"Ref": _table_id(t.name)} for t in manifest.tables},
        secret_names={s: {"Ref": secrets.logical(s)} for s in manifest.secrets},
        queue_urls={q.name: {"Ref": queue_resources.queue_id(q.name)} for q in manifest.queues},
    )


def _function(manifest: Manifest, stage: str, function: Function, env: dict, code_key: str, name: str = "") -> dict:
    """The Lambda, its log group and its role, named `<Logical>Function`, `...LogGroup`, `...Role`."""
    name = name or _logical(function.id)
    properties: dict = {
        "Description": f"{manifest.app} {stage}: {function.route_key}",
        "Runtime": function.runtime,
        "Architectures": [function.architecture],
        "Handler": function.handler,
        "MemorySize": function.memory,
        "Timeout": function.timeout,
        "Code": {"S3Bucket": {"Ref": "DeploymentBucket"}, "S3Key": code_key},
        "Role": {"Fn::GetAtt": [name + "Role", "Arn"]},
        "LoggingConfig": {"LogGroup": {"Ref": name + "LogGroup"}},
    }
    reserved = concurrency.reserved(function, stage in PROTECTED_STAGES)
    if reserved is not None:
        properties["ReservedConcurrentExecutions"] = reserved
    if env:
        properties["Environment"] = {"Variables": dict(env)}
    return {
        name + "Function": {"Type": "AWS::Lambda::Function", "Properties": properties},
        name + "LogGroup": operations.log_group(),
        name + "Role": _role(permissions.policy(function, _StackArns(name, stage))),
    }


class _StackArns:
    """The resources a role names, as CloudFormation values of this template (see devkit/permissions.py)."""

    def __init__(self, function_logical: str, stage: str):
        self.function_logical, self.stage = function_logical, stage

    def log_group(self, function: Function) -> dict:
        return {"Fn::GetAtt": [self.function_logical + "LogGroup", "Arn"]}

    def table(self, name: str) -> dict:
        return {"Fn::GetAtt": [_table_id(name), "Arn"]}

    def table_indexes(self, name: str) -> dict:
        return {"Fn::Sub": "${" + _table_id(name) + ".Arn}/index/*"}

    def management_api(self, method: str) -> dict:
        return {"Fn::Sub": _execute_api_arn("WsApi", f"{self.stage}/{method}/@connections/*")}

    def queue(self, name: str) -> dict:
        return {"Fn::GetAtt": [queue_resources.queue_id(name), "Arn"]}

    def text(self, value: str) -> dict:
        return {"Fn::Sub": value}

    def secret(self, name: str) -> dict:
        return {"Ref": secrets.logical(name)}


def _role(policy: dict) -> dict:
    """The function's own role: Lambda may assume it, and it holds the function's declared policy."""
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
            },
            "Policies": [{"PolicyName": "least-privilege", "PolicyDocument": policy}],
        },
    }


def _http_api(manifest: Manifest, stage: str) -> dict:
    return {
        "HttpApi": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {"Name": stack_name(manifest.app, stage) + "-http", "ProtocolType": "HTTP"},
        },
        "HttpApiStage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {"ApiId": {"Ref": "HttpApi"}, "StageName": "$default", "AutoDeploy": True},
        },
    }


def _http_route(name: str, route_key: str) -> dict:
    """Integration (payload 2.0), route and invoke permission for one HTTP route."""
    method, path = route_key.split(" ", 1)
    arn_path = "/".join("*" if segment.startswith("{") else segment for segment in path.split("/"))
    source = f"*/{'*' if method == 'ANY' else method}{arn_path}"  # any stage: the HTTP API has only $default
    return {
        name + "Integration": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": {"Ref": "HttpApi"},
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": {"Fn::GetAtt": [name + "Function", "Arn"]},
                "PayloadFormatVersion": "2.0",
                "TimeoutInMillis": INTEGRATION_TIMEOUT_SECONDS["http"] * 1000,
            },
        },
        **_route(name, "HttpApi", route_key, source),
    }


def _ws_route(name: str, route_key: str, stage: str) -> dict:
    """Integration, route and invoke permission for one WebSocket route."""
    return {
        name + "Integration": {
            "Type": "AWS::ApiGatewayV2::Integration",
            "Properties": {
                "ApiId": {"Ref": "WsApi"},
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": {
                    "Fn::Sub": ("arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${" + name + "Function.Arn}/invocations")
                },
                "TimeoutInMillis": INTEGRATION_TIMEOUT_SECONDS["ws"] * 1000,
            },
        },
        **_route(name, "WsApi", route_key, f"{stage}/{route_key}"),
    }


def _route(name: str, api: str, route_key: str, source: str) -> dict:
    """The route to `name`'s integration on `api`, and the permission that lets `source` invoke it."""
    return {
        name + "Route": {
            "Type": "AWS::ApiGatewayV2::Route",
            "Properties": {"ApiId": {"Ref": api}, "RouteKey": route_key, "Target": {"Fn::Sub": "integrations/${" + name + "Integration}"}},
        },
        name + "Permission": _permission(name, api, source),
    }


def _ws_api(manifest: Manifest, stage: str, routes: dict[str, dict]) -> dict:
    """The API, its stage, and a deployment named by a hash of the routes so a changed set redeploys."""
    route_ids = sorted(k for k, v in routes.items() if v["Type"] == "AWS::ApiGatewayV2::Route")
    digest = hashlib.sha256(json.dumps(routes, sort_keys=True).encode()).hexdigest()[:10]
    deployment = "WsDeployment" + digest
    return {
        "WsApi": {
            "Type": "AWS::ApiGatewayV2::Api",
            "Properties": {
                "Name": stack_name(manifest.app, stage) + "-ws",
                "ProtocolType": "WEBSOCKET",
                "RouteSelectionExpression": "$request.body.action",
            },
        },
        deployment: {
            "Type": "AWS::ApiGatewayV2::Deployment",
            "DependsOn": route_ids,
            "Properties": {"ApiId": {"Ref": "WsApi"}},
        },
        "WsStage": {
            "Type": "AWS::ApiGatewayV2::Stage",
            "Properties": {"ApiId": {"Ref": "WsApi"}, "StageName": stage, "DeploymentId": {"Ref": deployment}},
        },
    }


def _throttle(stage_resource: dict, manifest: Manifest, functions: tuple[Function, ...], api: str) -> None:
    """Every route gets the app's stage throttle; a function whose config.arc sets its own gets a route setting."""
    properties = stage_resource["Properties"]
    properties["DefaultRouteSettings"] = _limits(manifest.aws.throttle_rate, manifest.aws.throttle_burst)
    own = {
        f.route_key: _limits(f.throttle_rate, f.throttle_burst)
        for f in functions
        if (f.throttle_rate, f.throttle_burst) != (manifest.aws.throttle_rate, manifest.aws.throttle_burst)
    }
    if own:
        properties["RouteSettings"] = own
        if api == "HttpApi":  # an auto-deployed stage must not name a route before it exists
            stage_resource["DependsOn"] = sorted(_logical(f.id) + "Route" for f in functions if f.route_key in own)


def _limits(rate: int, burst: int) -> dict:
    return {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}


def _permission(name: str, api: str, source: str) -> dict:
    return {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": name + "Function"},
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": {"Fn::Sub": _execute_api_arn(api, source)},
        },
    }


def _execute_api_arn(api: str, rest: str) -> str:
    return "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${" + api + "}/" + rest


def _table(table: Table, stage: str) -> dict:
    """Production keeps its tables: deletion protection on, and retained when the stack is deleted or the
    table replaced (`destroy` says how to remove them for good). Staging's go with the stack."""
    properties: dict = {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": table.attribute_definitions(),
        "KeySchema": table.key_schema(),
        # Always encrypted with a KMS key; `encrypt <key ARN>` picks the customer-managed key.
        "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": table.encrypt} if isinstance(table.encrypt, str) else {"SSEEnabled": True},
    }
    if table.ttl_attribute:
        properties["TimeToLiveSpecification"] = {"AttributeName": table.ttl_attribute, "Enabled": True}
    if table.pitr:
        properties["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
    protected = stage in PROTECTED_STAGES
    if protected:
        properties["DeletionProtectionEnabled"] = True
    policy = "Retain" if protected else "Delete"
    return {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": policy, "UpdateReplacePolicy": policy, "Properties": properties}


def _static_function(manifest: Manifest) -> Function:
    """The generated function serving public/ (a Function so it is packaged and templated like the rest)."""
    return Function(
        name=STATIC_ID,
        kind="http",
        route_key=STATIC_ROUTE_KEY,
        source_dir=manifest.public_dir,
        handler_file="index.py",
        runtime=manifest.aws.runtime,
        architecture=manifest.aws.architecture,
        memory=STATIC_MEMORY_MB,
        timeout=STATIC_TIMEOUT_SECONDS,
        concurrency=manifest.aws.concurrency,
    )


def _connect(manifest: Manifest) -> Function:
    found = manifest.function("$connect")
    assert found is not None, "an app with @ws always has $connect"
    return found


def _key(code_keys: Mapping[str, str], function_id: str) -> str:
    try:
        return code_keys[function_id]
    except KeyError:
        raise TemplateError(f"no package for function {function_id}; package every function first") from None


def _table_id(name: str) -> str:
    return _logical("table-" + name)


def _logical(name: str) -> str:
    """A CloudFormation logical id: `ws-connect` -> `WsConnect`, `table-rooms` -> `TableRooms`."""
    return _camel(name)


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)
