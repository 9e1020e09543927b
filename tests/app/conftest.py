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
from tests.support.app import APP, SIGNING_KEY, TABLE

WSS_URL = "wss://abc123.execute-api.us-east-1.amazonaws.com/testing"


@pytest.fixture
def aws(monkeypatch):
    """moto's DynamoDB, Management API and Secrets Manager (the token signing key), with the runtime
    contract set as the deploy sets it."""
    for name, value in {
        **DUMMY_CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1",
        "ARC_ENV": "testing", "ARC_APP_NAME": APP, "ARC_WSS_URL": WSS_URL,
        "ARC_TABLE_CONNECTIONS": TABLE, "ARC_ALLOWED_ORIGINS": "https://chat.example.com",
        "ARC_SECRET_SIGNING_KEY": SIGNING_KEY,
        "POWERTOOLS_SERVICE_NAME": APP,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        [connections] = manifest.load(ROOT / "app.arc").tables  # the keys app.arc declares
        dynamodb.create_table(
            TableName=TABLE, KeySchema=connections.key_schema(),
            AttributeDefinitions=connections.attribute_definitions(), BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("secretsmanager").create_secret(Name=SIGNING_KEY, SecretString="k" * 64)
        _forget_cached_clients()
        yield dynamodb
        _forget_cached_clients()


def _forget_cached_clients():
    """The shared modules cache boto3 clients per process, as on Lambda; each test starts afresh."""
    for name in ("shared.connections", "shared.sender"):
        module = sys.modules.get(name)
        if module is not None:
            module._client = None
    if "shared.tokens" in sys.modules:
        sys.modules["shared.tokens"]._key = None  # read from the secret once per cold start


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
