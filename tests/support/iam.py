"""Helpers for the sandbox's IAM tests on the `permissions` fixture app: its table, a function's own
client (signing with that function's key), and the error of a denied call."""

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.sandbox import DUMMY_AWS, SHORT

ACCOUNT = "123456789012"

TABLE = "grants-testing-things"

TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{TABLE}"


def role(function_id: str) -> str:
    name = f"grants-testing-{function_id}"
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}-role/{name}"


def as_function(sandbox, service: str, function_id: str):
    """A boto3 client signing with `function_id`'s own key, as its handler's client does."""
    endpoint = sandbox.dynamodb_endpoint if service == "dynamodb" else sandbox.url
    options = dict(DUMMY_AWS, aws_access_key_id=f"sandbox-{function_id}")
    return boto3.client(service, endpoint_url=endpoint, config=SHORT, **options)


def denied(call) -> dict:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response
