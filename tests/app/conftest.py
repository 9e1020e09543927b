"""Run the app's handlers in-process under moto, as Lambda would load them."""

import json
import sys
from urllib.parse import quote

import boto3
import pytest
from moto import mock_aws

from devkit import manifest
from devkit.contract import ACCOUNT_ID, DUMMY_CREDENTIALS
from devkit.sandbox.loader import load_handler
from tests.conftest import ROOT
from tests.support.app import APP, TABLE

WSS_URL = "wss://abc123.execute-api.us-east-1.amazonaws.com/testing"


@pytest.fixture
def aws(monkeypatch):
    """moto's DynamoDB, SQS (the deliver queue) and Management API, with the runtime contract set as the
    deploy sets it."""
    for name, value in {
        **DUMMY_CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1",
        "ARC_ENV": "testing", "ARC_APP_NAME": APP, "ARC_WSS_URL": WSS_URL,
        "ARC_TABLE_CONNECTIONS": TABLE, "ARC_ALLOWED_ORIGINS": "https://chat.example.com",
        "POWERTOOLS_SERVICE_NAME": APP,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with mock_aws():
        url = boto3.client("sqs").create_queue(QueueName="mywsapp-testing-deliver")["QueueUrl"]
        monkeypatch.setenv("ARC_QUEUE_DELIVER", url)
        dynamodb = boto3.client("dynamodb")
        [connections] = manifest.load(ROOT / "app.arc").tables  # the keys app.arc declares
        dynamodb.create_table(
            TableName=TABLE, KeySchema=connections.key_schema(),
            AttributeDefinitions=connections.attribute_definitions(), BillingMode="PAY_PER_REQUEST",
        )
        _forget_cached_clients()
        yield dynamodb
        _forget_cached_clients()


def _forget_cached_clients():
    """The shared modules cache boto3 clients per process, as on Lambda; each test starts afresh."""
    for name in ("shared.connections", "shared.sender", "shared.queue"):
        module = sys.modules.get(name)
        if module is not None:
            module._client = None


@pytest.fixture
def handler():
    """handler("ws/default") -> the `handler` function of src/ws/default/index.py."""
    loaded = {}

    def load(function: str):
        if function not in loaded:
            path = ROOT / "src" / function / "index.py"
            loaded[function] = load_handler(path, ROOT / "src" / "shared", "handler_" + function.replace("/", "_").replace("-", "_"))
        return loaded[function]

    return load


def sent_to(connection_id: str) -> list[dict]:
    """What moto's Management API received for `connection_id`, as decoded JSON messages."""
    from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

    backend = apigatewaymanagementapi_backends[ACCOUNT_ID]["us-east-1"]
    key = quote(connection_id, safe="")  # moto keeps the id as it appears, URL-encoded, in the path
    data = backend.connections[key].data.decode() if key in backend.connections else ""
    decoder, messages, index = json.JSONDecoder(), [], 0
    while index < len(data):
        message, index = decoder.raw_decode(data, index)
        messages.append(message)
    return messages


def queued_event(limit: int = 10) -> dict:
    """The deliver queue's waiting messages (up to `limit`) as Lambda's SQS event (AWS's sample shape)."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="mywsapp-testing-deliver")["QueueUrl"]
    messages = []
    while len(messages) < limit:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, limit - len(messages))).get("Messages", [])
        if not got:
            break
        messages += got
    return {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
                         "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:mywsapp-testing-deliver",
                         "awsRegion": "us-east-1"} for m in messages]}
