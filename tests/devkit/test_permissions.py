"""devkit/permissions.py: declarations -> policies (sandbox ARNs), the evaluator, the hint; and the
DynamoDB gate's reading of requests.

AWS sources: the IAM user guide's "Policy evaluation logic" (an explicit Deny overrides any Allow;
without an Allow the request is implicitly denied), "IAM JSON policy elements: NotAction /
NotResource" and "Resource" (`*` and `?` wildcards; action names are case-insensitive); the DynamoDB
developer guide's "DynamoDB API permissions: Actions, resources, and conditions reference" (an index is
`table/<name>/index/<index>`; a transaction is authorized per item as PutItem, UpdateItem, DeleteItem,
ConditionCheckItem, GetItem).

The app whose declarations are read is the fixture tests/fixtures/relay (route announce, table peers, queue outbox).
"""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devkit import manifest, permissions
from devkit.sandbox.dynamodb_server import requested
from devkit.sandbox.iam import Evaluator
from tests.support.repo import FIXTURES

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/"


def evaluator(*statements) -> Evaluator:
    return Evaluator({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource, **more) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


@pytest.mark.parametrize(
    "statements, action, resource, expected",
    [
        ([allow("dynamodb:Scan", ARN + "t")], "dynamodb:Scan", ARN + "t", "allowed"),
        ([allow("dynamodb:Scan", ARN + "t")], "dynamodb:Scan", ARN + "other", "implicit"),
        ([allow("dynamodb:Scan", ARN + "t")], "dynamodb:Query", ARN + "t", "implicit"),
        # wildcards in actions and in ARNs; `?` is one character
        ([allow("dynamodb:Get*", ARN + "t")], "dynamodb:GetItem", ARN + "t", "allowed"),
        ([allow("dynamodb:Scan", ARN + "app-*")], "dynamodb:Scan", ARN + "app-things", "allowed"),
        ([allow("dynamodb:Scan", ARN + "t?")], "dynamodb:Scan", ARN + "t1", "allowed"),
        ([allow("dynamodb:Scan", ARN + "t?")], "dynamodb:Scan", ARN + "t12", "implicit"),
        # a pattern's other characters are literal (moto would read `.` as any character)
        ([allow("dynamodb:Scan", ARN + "a.b")], "dynamodb:Scan", ARN + "aXb", "implicit"),
        # action names are case-insensitive in IAM (moto alone compares them case-sensitively)
        ([allow("DynamoDB:scan", ARN + "t")], "dynamodb:Scan", ARN + "t", "allowed"),
        # NotAction: everything but the named actions
        ([{"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "Resource": ARN + "t"}], "dynamodb:Scan", ARN + "t", "allowed"),
        ([{"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "Resource": ARN + "t"}], "dynamodb:DeleteItem", ARN + "t", "implicit"),
        # NotResource: every resource but the named ones (moto alone would allow everything)
        ([{"Effect": "Allow", "Action": "dynamodb:Scan", "NotResource": ARN + "secret"}], "dynamodb:Scan", ARN + "t", "allowed"),
        ([{"Effect": "Allow", "Action": "dynamodb:Scan", "NotResource": ARN + "secret"}], "dynamodb:Scan", ARN + "secret", "implicit"),
        ([allow("dynamodb:Scan", "*"), {"Effect": "Deny", "Action": "dynamodb:Scan", "NotResource": ARN + "t"}], "dynamodb:Scan", ARN + "u", "denied"),
        ([allow("dynamodb:Scan", "*"), {"Effect": "Deny", "Action": "dynamodb:Scan", "NotResource": ARN + "t"}], "dynamodb:Scan", ARN + "t", "allowed"),
        # several statements: any Allow allows; an explicit Deny wins whatever the order
        ([allow("dynamodb:Query", ARN + "t"), allow("dynamodb:Scan", ARN + "t")], "dynamodb:Scan", ARN + "t", "allowed"),
        ([{"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}, allow("dynamodb:Scan", ARN + "t")], "dynamodb:Scan", ARN + "t", "denied"),
        ([allow("dynamodb:Scan", ARN + "t"), {"Effect": "Deny", "Action": "dynamodb:Scan", "Resource": ARN + "*"}], "dynamodb:Scan", ARN + "t", "denied"),
        # conditions are not evaluated: the statement applies as if they held
        ([allow("dynamodb:Scan", ARN + "t", Condition={"Bool": {"aws:SecureTransport": "true"}})], "dynamodb:Scan", ARN + "t", "allowed"),
        # execute-api resources: the connection id in the ARN
        (
            [allow("execute-api:ManageConnections", "arn:aws:execute-api:us-east-1:123456789012:api/testing/POST/@connections/*")],
            "execute-api:ManageConnections",
            "arn:aws:execute-api:us-east-1:123456789012:api/testing/POST/@connections/Ab+c/d=",
            "allowed",
        ),
        (
            [allow("execute-api:ManageConnections", "arn:aws:execute-api:us-east-1:123456789012:api/testing/POST/@connections/*")],
            "execute-api:ManageConnections",
            "arn:aws:execute-api:us-east-1:123456789012:api/testing/GET/@connections/Abc=",
            "implicit",
        ),
    ],
)
def test_the_evaluator_judges_as_iam_does(statements, action, resource, expected):
    assert evaluator(*statements).decision(action, resource) == expected


def app():
    return manifest.load(FIXTURES / "relay" / "app.arc")


def local_arns(loaded) -> permissions.LocalArns:
    return permissions.LocalArns(
        "us-east-1",
        "123456789012",
        {"peers": "relay-testing-peers"},
        "abc123",
        "testing",
        lambda f: f"relay-testing-{f.id}",
        secret_names={"signing-key": "relay-testing-signing-key"},
        queue_names={"outbox": "relay-testing-outbox"},
    )


# Patterns in the subset where moto's evaluator is faithful to IAM: lowercase actions, `*` as the only
# wildcard, no character a regular expression reads specially, Action/Resource (not the Not- forms).
_PART = st.text(alphabet="ab:*", min_size=1, max_size=5)
_STATEMENT = st.fixed_dictionaries(
    {"Effect": st.sampled_from(["Allow", "Deny"]), "Action": st.lists(_PART, min_size=1, max_size=3), "Resource": st.lists(_PART, min_size=1, max_size=3)}
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_STATEMENT, min_size=1, max_size=4), st.text(alphabet="ab:", max_size=4), st.text(alphabet="ab:", max_size=4))
def test_the_evaluator_decides_as_motos_evaluator_where_moto_follows_iam(statements, action, resource):
    """The kit's evaluator (standard library, so the sandbox's own process never imports moto's 30 MB)
    against moto's `IAMPolicyStatement` as an oracle, on policies where moto follows the IAM user
    guide's "Policy evaluation logic": an explicit Deny wins, then any Allow, else an implicit deny."""
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    results = [IAMPolicyStatement(s).is_action_permitted(action, resource) for s in statements]
    expected = "denied" if PermissionResult.DENIED in results else "allowed" if PermissionResult.PERMITTED in results else "implicit"
    assert evaluator(*statements).decision(action, resource) == expected


def test_the_sandbox_policy_is_the_role_policy_with_concrete_arns():
    loaded = app()
    document = permissions.policy(loaded.function("announce"), local_arns(loaded))
    assert document == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/relay-testing-ws-announce:*",
            },
            {"Effect": "Allow", "Action": ["dynamodb:Scan"], "Resource": "arn:aws:dynamodb:us-east-1:123456789012:table/relay-testing-peers"},
            {
                "Effect": "Allow",
                "Action": "execute-api:ManageConnections",
                "Resource": "arn:aws:execute-api:us-east-1:123456789012:abc123/testing/POST/@connections/*",
            },
            {
                "Effect": "Allow",
                "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                "Resource": "arn:aws:sqs:us-east-1:123456789012:relay-testing-outbox",
            },
        ],
    }


@pytest.mark.parametrize(
    "route, action, resource, expected",
    [
        (
            "announce",
            "dynamodb:Query",
            ARN + "relay-testing-peers",
            'add "table peers Scan Query" under @permissions in src/ws/announce/config.arc',
        ),
        (
            "announce",
            "sqs:SendMessage",
            "arn:aws:sqs:us-east-1:123456789012:relay-testing-outbox",
            'add "queue outbox send" under @permissions in src/ws/announce/config.arc',
        ),
        (
            "$connect",
            "execute-api:ManageConnections",
            "arn:aws:execute-api:us-east-1:123456789012:abc123/testing/GET/@connections/x",
            'add "manage-connections GET" under @permissions in src/ws/connect/config.arc',
        ),
        (
            "$default",
            "dynamodb:GetItem",
            ARN + "relay-testing-peers/index/byTime",
            ('add @permissions to src/ws/default/config.arc with the lines "table peers GetItem" and "manage-connections POST" (the default it replaces)'),
        ),
        (
            "GET /",
            "s3:GetObject",
            "arn:aws:s3:::bucket/key",
            "allow it with a statement in a statements file named under @permissions in src/http/get-index/config.arc",
        ),
    ],
)
def test_the_hint_is_the_line_to_add_in_the_apps_own_syntax(route, action, resource, expected):
    loaded = app()
    assert permissions.hint(loaded.function(route), action, resource, local_arns(loaded)) == expected


@pytest.mark.parametrize(
    "operation, body, expected",
    [
        ("Scan", {"TableName": "t"}, [("dynamodb:Scan", ARN + "t")]),
        ("Query", {"TableName": "t", "IndexName": "byTime"}, [("dynamodb:Query", ARN + "t/index/byTime")]),
        ("BatchWriteItem", {"RequestItems": {"a": [], "b": []}}, [("dynamodb:BatchWriteItem", ARN + "a"), ("dynamodb:BatchWriteItem", ARN + "b")]),
        (
            "TransactWriteItems",
            {"TransactItems": [{"Put": {"TableName": "a"}}, {"ConditionCheck": {"TableName": "b"}}]},
            [("dynamodb:PutItem", ARN + "a"), ("dynamodb:ConditionCheckItem", ARN + "b")],
        ),
        ("ListTables", {}, [("dynamodb:ListTables", "*")]),
        ("DescribeTable", {"TableName": ARN + "x"}, [("dynamodb:DescribeTable", ARN + "x")]),
    ],
)
def test_the_gate_asks_for_what_aws_authorizes_per_request(operation, body, expected):
    assert requested(operation, body, lambda name: name if name.startswith("arn:") else ARN + name) == expected


def with_grants(kind: str, **declared) -> manifest.Function:
    undeclared = app().function("GET /" if kind == "http" else "$default")
    return dataclasses.replace(undeclared, permissions=manifest.Permissions(undeclared.source_dir / "config.arc", **declared) if declared else None)


@pytest.mark.parametrize(
    "function, expected",
    [
        (with_grants("http"), False),  # an HTTP function's default: its logs only
        (with_grants("ws"), False),  # a WebSocket function's default: its logs and POST @connections
        (with_grants("ws", tables=(manifest.TableGrant("peers", ("PutItem",)),)), True),
        (with_grants("http", statements=(allow("sqs:SendMessage", "*"),)), False),
        (with_grants("http", statements=(allow("dynamodb:GetItem", "*"),)), True),
        (with_grants("http", statements=(allow(["s3:GetObject", "DynamoDB:Query"], "*"),)), True),  # IAM actions ignore case
        (with_grants("http", statements=(allow("dyn*:Get*", "*"),)), True),
        (with_grants("http", statements=(allow("*:GetItem", "*"),)), True),
        (with_grants("http", statements=({"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"},)), False),
        (with_grants("http", statements=({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"},)), True),
    ],
)
def test_what_may_use_tables_is_read_from_the_declaration(function, expected):
    """IAM action names are case-insensitive and take `*` and `?` wildcards (IAM User Guide, "IAM JSON
    policy elements: Action"); NotAction allows everything it does not name ("NotAction")."""
    assert permissions.may_use_tables(function) is expected


@pytest.mark.parametrize(
    "function, expected",
    [
        (with_grants("http"), set()),  # logs only: no client
        (with_grants("ws"), {"apigatewaymanagementapi"}),  # replies through the Management API's client
        (with_grants("ws", tables=(manifest.TableGrant("peers", ("PutItem",)),)), {"dynamodb"}),
        (with_grants("http", statements=(allow(["SQS:SendMessage", "execute-api:ManageConnections"], "*"),)), {"sqs", "apigatewaymanagementapi"}),
        (with_grants("http", statements=(allow("dyn*:Get*", "*"), allow("*", "*"))), set()),  # wildcards name no service
        (with_grants("http", statements=({"Effect": "Deny", "Action": "s3:*", "Resource": "*"},)), set()),
    ],
)
def test_the_clients_a_function_may_use_are_read_from_the_declaration(function, expected):
    """IAM prefixes are case-insensitive (IAM User Guide, "IAM JSON policy elements: Action");
    `execute-api:ManageConnections` is called through boto3's `apigatewaymanagementapi` client
    (botocore's model for that service)."""
    assert permissions.client_services(function) == expected


def test_queue_grants_are_scoped_to_exactly_that_queue():
    """A producer's `queue <name> send` and a consumer's implied rights (the Lambda guide, "Using Lambda with
    Amazon SQS": the execution role needs sqs:ReceiveMessage, DeleteMessage, GetQueueAttributes; SQS authorizes
    SendMessageBatch as sqs:SendMessage), each on the one queue's ARN."""
    from devkit.sandbox.dynamodb_server import sqs_requested

    app = manifest.load(FIXTURES / "queues" / "app.arc")
    arns = permissions.LocalArns("us-east-1", "123456789012", {}, "api", "testing", lambda f: f.id, queue_names={"jobs": "queues-testing-jobs"})
    queue = "arn:aws:sqs:us-east-1:123456789012:queues-testing-jobs"
    producer = Evaluator(permissions.policy(app.function("POST /send"), arns))
    url = "http://127.0.0.1:1/123456789012/queues-testing-jobs"
    [(action, resource)] = sqs_requested("SendMessageBatch", {"QueueUrl": url}, lambda n, o: f"arn:aws:sqs:us-east-1:{o}:{n}")
    assert (action, resource) == ("sqs:SendMessage", queue)
    assert producer.allows(action, resource)
    assert not producer.allows("sqs:SendMessage", queue + "-dlq")
    assert not producer.allows("sqs:ReceiveMessage", queue)
    consumer = Evaluator(permissions.policy(app.function("queue jobs"), arns))
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"):
        assert consumer.allows(action, queue) and not consumer.allows(action, queue + "-dlq")
    assert not consumer.allows("sqs:SendMessage", queue)
    assert not Evaluator(permissions.policy(app.function("POST /sneak"), arns)).allows("sqs:SendMessage", queue)
