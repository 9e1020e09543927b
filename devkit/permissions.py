"""A function's `@permissions` -> its IAM policy document, for deploy (the role) and for the sandbox
(enforcement): one code path, two kinds of ARN.

`policy(function, arns)` builds the statements over an `Arns` resolver: deploy passes one that answers
with CloudFormation values (`Fn::GetAtt`, `Fn::Sub` with `${AWS::Partition}`), the sandbox one that
answers with concrete ARNs (`LocalArns`). The sandbox judges calls against it (devkit/sandbox/iam.py).
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Protocol

from devkit.manifest import Function, Permissions

LOG_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]
# A producer's `queue <name> send`: SendMessageBatch is authorized as sqs:SendMessage (SQS developer
# guide, "Amazon SQS API permissions: Actions and resource reference").
SEND_ACTIONS = ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
# What Lambda's event source mapping does with the consumer's role (Lambda guide, "Using Lambda with
# Amazon SQS": execution role permissions): implied for every queue's consumer.
CONSUMER_ACTIONS = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]
MANAGE_CONNECTIONS = "execute-api:ManageConnections"
READ_SECRET = "secretsmanager:GetSecretValue"
# Actions whose calls may name an index (`IndexName`): their grant also covers `table/<name>/index/*`.
INDEX_ACTIONS = ("Query",)
# The pseudo parameters a statements file may use; the sandbox substitutes them, deploy leaves them to
# CloudFormation (`Fn::Sub`).
PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"


def default(function: Function) -> Permissions:
    """What a function that declares nothing may do: a WebSocket function may reply to clients (POST
    @connections), an HTTP function only writes its logs."""
    source = function.source_dir / "config.arc"
    return Permissions(source, manage_connections=("POST",) if function.kind == "ws" else ())


def declared(function: Function) -> Permissions:
    """The function's own `@permissions`, or its kind's default."""
    return function.permissions or default(function)


def may_use_tables(function: Function) -> bool:
    """True when `function`'s declaration may allow a DynamoDB call: a `table` grant, or a statement
    whose Action (or any NotAction) could cover a `dynamodb:` action. The sandbox holds such a
    function's invocations until the tables exist; the others need not wait."""
    grants = declared(function)
    if grants.tables or any("NotAction" in s for s in grants.statements if s.get("Effect") == "Allow"):
        return True
    return any(fnmatch.fnmatchcase("dynamodb", prefix) for prefix in _allowed_prefixes(grants))


def _allowed_prefixes(grants: Permissions) -> list[str]:
    """The service prefixes (lowercased, wildcards kept) of every action an Allow statement names."""
    return [
        action.split(":", 1)[0].lower()
        for statement in grants.statements
        if statement.get("Effect") == "Allow"
        for action in _listed(statement.get("Action", []))
    ]


# The boto3 client through which a function uses what an IAM prefix authorizes, where the two names differ.
CLIENT_FOR_PREFIX = {"execute-api": "apigatewaymanagementapi"}


def client_services(function: Function) -> set[str]:
    """The boto3 service names `function`'s declaration lets it call: `dynamodb` for a table grant, the
    Management API's client for `manage-connections`, and each statement's action prefixes (wildcard
    prefixes name nothing). The sandbox loads these clients' models once, ahead of the workers."""
    grants = declared(function)
    services = {"dynamodb"} if grants.tables else set()
    if grants.secrets:
        services.add("secretsmanager")
    if grants.send_to:
        services.add("sqs")
    if grants.manage_connections:
        services.add(CLIENT_FOR_PREFIX["execute-api"])
    for prefix in _allowed_prefixes(grants):
        if prefix and not any(c in prefix for c in "*?"):
            services.add(CLIENT_FOR_PREFIX.get(prefix, prefix))
    return services


class Arns(Protocol):
    """Where the resources a policy names live: CloudFormation values (deploy) or ARNs (sandbox)."""

    def log_group(self, function: Function) -> Any: ...
    def table(self, name: str) -> Any: ...
    def table_indexes(self, name: str) -> Any: ...
    def management_api(self, method: str) -> Any: ...
    def queue(self, name: str) -> Any: ...  # the ARN of the queue declared as `name`
    def text(self, value: str) -> Any: ...  # a statements-file string that may hold ${AWS::...}
    def secret(self, name: str) -> Any: ...


def policy(function: Function, arns: Arns) -> dict:
    """The function's identity-based policy: its logs, its table grants, the Management API, the queues
    it sends to, its own queue's (a consumer's) rights, its statements file, in that order."""
    grants = declared(function)
    statements: list[dict] = [{"Effect": "Allow", "Action": list(LOG_ACTIONS), "Resource": arns.log_group(function)}]
    for grant in sorted(grants.tables, key=lambda g: g.table):
        resource = arns.table(grant.table)
        if any(a in INDEX_ACTIONS for a in grant.actions):
            resource = [resource, arns.table_indexes(grant.table)]
        statements.append({"Effect": "Allow", "Action": ["dynamodb:" + a for a in grant.actions], "Resource": resource})
    if grants.manage_connections:
        resources = [arns.management_api(m) for m in grants.manage_connections]
        statements.append({"Effect": "Allow", "Action": MANAGE_CONNECTIONS, "Resource": resources[0] if len(resources) == 1 else resources})
    for name in grants.secrets:
        statements.append({"Effect": "Allow", "Action": READ_SECRET, "Resource": arns.secret(name)})
    for queue in sorted(grants.send_to):
        statements.append({"Effect": "Allow", "Action": list(SEND_ACTIONS), "Resource": arns.queue(queue)})
    if function.kind == "queue":
        statements.append({"Effect": "Allow", "Action": list(CONSUMER_ACTIONS), "Resource": arns.queue(function.name)})
    statements += [_substitute(s, arns.text) for s in grants.statements]
    return {"Version": "2012-10-17", "Statement": statements}


def _substitute(value: Any, text) -> Any:
    if isinstance(value, str):
        return text(value) if "${" in value else value
    if isinstance(value, list):
        return [_substitute(v, text) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, text) for k, v in value.items()}
    return value


class LocalArns:
    """Concrete ARNs for the sandbox: its region, the documentation account, its physical table names,
    its WebSocket API id and stage."""

    def __init__(
        self,
        region: str,
        account: str,
        table_names: dict[str, str],
        api_id: str,
        stage: str,
        function_name,
        *,
        secret_names: dict[str, str] | None = None,
        queue_names: dict[str, str] | None = None,
    ):
        self.region, self.account, self.table_names = region, account, table_names
        self.secret_names = secret_names or {}
        self.api_id, self.stage, self.function_name = api_id, stage, function_name
        self.queue_names = queue_names or {}  # declared name -> physical name

    def log_group(self, function: Function) -> str:
        return f"arn:{PARTITION}:logs:{self.region}:{self.account}:log-group:/aws/lambda/{self.function_name(function)}:*"

    def table(self, name: str) -> str:
        return self.table_arn(self.table_names[name])

    def table_arn(self, physical: str) -> str:
        return f"arn:{PARTITION}:dynamodb:{self.region}:{self.account}:table/{physical}"

    def table_indexes(self, name: str) -> str:
        return self.table(name) + "/index/*"

    def management_api(self, method: str, connection_id: str = "*") -> str:
        return f"arn:{PARTITION}:execute-api:{self.region}:{self.account}:{self.api_id}/{self.stage}/{method}/@connections/{connection_id}"

    def secret(self, name: str) -> str:
        """As IAM names a secret by name: Secrets Manager adds `-` and six random characters to its ARN."""
        return f"arn:{PARTITION}:secretsmanager:{self.region}:{self.account}:secret:{self.secret_names[name]}-??????"

    def queue(self, name: str) -> str:
        return self.queue_arn(self.queue_names[name])

    def queue_arn(self, physical: str) -> str:
        return f"arn:{PARTITION}:sqs:{self.region}:{self.account}:{physical}"

    def text(self, value: str) -> str:
        values = {"AWS::Partition": PARTITION, "AWS::Region": self.region, "AWS::AccountId": self.account, "AWS::URLSuffix": URL_SUFFIX}
        return re.sub(r"\$\{([^}]+)\}", lambda m: values.get(m[1], m[0]), value)


def hint(function: Function, action: str, resource: str, arns: LocalArns) -> str:
    """The `@permissions` line that would allow `action` on `resource`, and where it goes."""
    grants = declared(function)
    where = grants.source.relative_to(function.source_dir.parents[2])  # src/<kind>/<name>/config.arc
    service, _, name = action.partition(":")
    line = None
    if service == "dynamodb":
        tables = {arns.table(t): t for t in arns.table_names}
        table = tables.get(re.sub(r"/index/.*$", "", resource))
        if table is not None:
            existing = next((g.actions for g in grants.tables if g.table == table), ())
            if name in existing:  # declared, yet not allowed: the call names an index
                return (
                    f'"{" ".join(("table", table, *existing))}" in {where} covers the table, not its indexes '
                    f"(only a Query grant reaches them): use a statements file for {name} on an index"
                )
            line = " ".join(("table", table, *existing, name))
    elif service == "sqs":
        queues = {arns.queue(q): q for q in arns.queue_names}
        if resource in queues:
            line = f"queue {queues[resource]} send"
    elif action == MANAGE_CONNECTIONS:
        method = resource.split("/")[2] if resource.count("/") >= 3 else "POST"
        line = " ".join(("manage-connections", *dict.fromkeys((*grants.manage_connections, method))))
    if line is None:
        return f"allow it with a statement in a statements file named under @permissions in {where}"
    if function.permissions is None and grants.manage_connections and not line.startswith("manage-connections"):
        return f'add @permissions to {where} with the lines "{line}" and "manage-connections POST" (the default it replaces)'
    return f'add "{line}" under @permissions in {where}'


def _listed(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
