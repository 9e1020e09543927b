"""The app's test helpers, each fact about the app written once: its name and table, its reply's
timestamp, AWS sample events shaped for its handlers, a Lambda context, and what moto's Management API
received. The app's tests use these and devkit.testing, nothing of the kit's tests (tests/support/)."""

import json
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import boto3

from devkit.contract import ACCOUNT_ID, LOCAL_STAGE
from devkit.sandbox.context import LambdaContext, function_arn

ROOT = Path(__file__).resolve().parents[2]  # the app: app.arc, src/, public/
EVENTS = ROOT / "tests" / "events"
APP = "mywsapp"  # @app in app.arc
TABLE = f"{APP}-{LOCAL_STAGE}-connections"  # the connections table as the sandbox names it
SIGNING_KEY = f"{APP}-{LOCAL_STAGE}-signing-key"  # the token signing secret as the sandbox names it
PROTOCOL = "chat"  # the subprotocol the page offers, its token next to it (src/shared/tokens.py)
# A reply's timestamp: ISO 8601 in UTC with milliseconds, as src/shared/messages.py writes it.
ISO_MILLIS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
WSS_URL = "wss://abc123.execute-api.us-east-1.amazonaws.com/testing"  # the socket URL the in-process handlers see


def protocols(token: str) -> list[str]:
    """What the page offers as `Sec-WebSocket-Protocol`: `chat`, then its token."""
    return [PROTOCOL, token]


def load_event(name: str) -> dict:
    """A fresh copy of the AWS sample event `tests/events/<name>.json`."""
    return json.loads((EVENTS / f"{name}.json").read_text())


def make_context(seconds_left: float = 10, name: str = "test-function") -> LambdaContext:
    """A Lambda context for function `name` with `seconds_left` before its deadline, as the runtime builds it."""
    environ = {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]" + uuid.uuid4().hex,
    }
    return LambdaContext(str(uuid.uuid4()), int(time.time() * 1000 + seconds_left * 1000), function_arn("us-east-1", ACCOUNT_ID, name), environ)


def message_event(body, connection_id="R1kmxc2VNjMCFIA="):
    event = load_event("ws-message")
    event["body"] = body
    event["requestContext"]["connectionId"] = connection_id
    return event


GUEST = {"principalId": "guest-0000aaaa", "name": "guest-0000aaaa"}  # what the authorizer puts in requestContext.authorizer


def connect_event(origin="https://chat.example.com", connection_id="R1kmxc2VNjMCFIA=", authorizer=GUEST):
    """AWS's `$connect` sample, after the authorizer let the visitor in (`authorizer=None`: none ran)."""
    event = load_event("ws-connect")
    event["requestContext"]["connectionId"] = connection_id
    if authorizer is not None:
        event["requestContext"]["authorizer"] = dict(authorizer)
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers.pop("Origin", None)  # the AWS sample's client sent none
    if origin is not None:
        event["headers"]["Origin"] = origin
        event["multiValueHeaders"]["Origin"] = [origin]
    return event


def rows(dynamodb):
    return {item["connectionId"]["S"]: item for item in dynamodb.scan(TableName=TABLE)["Items"]}


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


def forget_cached_clients():
    """The shared modules cache boto3 clients per process, as on Lambda; each test starts afresh."""
    for name in ("shared.connections", "shared.sender", "shared.queue"):
        module = sys.modules.get(name)
        if module is not None:
            module._client = None
    if "shared.tokens" in sys.modules:
        sys.modules["shared.tokens"]._key = None  # read from the secret once per cold start


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
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:mywsapp-testing-deliver",
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }
