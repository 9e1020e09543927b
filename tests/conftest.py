"""Helpers every test may use: paths, AWS sample events, a Lambda context."""

import json
import time
import uuid
from pathlib import Path

import pytest

from devkit.contract import ACCOUNT_ID
from devkit.sandbox.context import LambdaContext, function_arn

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"


def load_event(name: str) -> dict:
    """A fresh copy of `tests/events/<name>.json`."""
    return json.loads((EVENTS / f"{name}.json").read_text())


def make_context(seconds_left: float = 10, name: str = "test-function") -> LambdaContext:
    """A Lambda context for function `name` with `seconds_left` before its deadline, as the runtime builds it."""
    environ = {"AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
               "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
               "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]" + uuid.uuid4().hex}
    return LambdaContext(str(uuid.uuid4()), int(time.time() * 1000 + seconds_left * 1000),
                         function_arn("us-east-1", ACCOUNT_ID, name), environ)


@pytest.fixture
def lambda_context():
    return make_context()
