"""The app's fixtures: its handlers in-process under moto, as Lambda would load them, and a Lambda context.
(The app in the real sandbox is devkit.testing's `sandbox`, enabled in tests/conftest.py.)"""

import boto3
import pytest
from moto import mock_aws

from devkit import manifest
from devkit.contract import DUMMY_CREDENTIALS
from devkit.sandbox.loader import load_handler
from tests.app.support import APP, ROOT, SIGNING_KEY, TABLE, WSS_URL, forget_cached_clients, make_context


@pytest.fixture
def aws(monkeypatch):
    """moto's DynamoDB, SQS (the deliver queue), Management API and Secrets Manager (the token signing
    key), with the runtime contract set as the deploy sets it."""
    for name, value in {
        **DUMMY_CREDENTIALS,
        "AWS_DEFAULT_REGION": "us-east-1",
        "ARC_ENV": "testing",
        "ARC_APP_NAME": APP,
        "ARC_WSS_URL": WSS_URL,
        "ARC_TABLE_CONNECTIONS": TABLE,
        "ARC_ALLOWED_ORIGINS": "https://chat.example.com",
        "ARC_SECRET_SIGNING_KEY": SIGNING_KEY,
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
            TableName=TABLE,
            KeySchema=connections.key_schema(),
            AttributeDefinitions=connections.attribute_definitions(),
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("secretsmanager").create_secret(Name=SIGNING_KEY, SecretString="k" * 64)
        forget_cached_clients()
        yield dynamodb
        forget_cached_clients()


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


@pytest.fixture
def lambda_context():
    return make_context()
