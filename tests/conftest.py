"""Helpers every test may use: paths, AWS sample events, a Lambda context."""

import json
import uuid
from pathlib import Path

import pytest

from devkit.contract import ACCOUNT_ID
from devkit.sandbox.context import LambdaContext

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"


def load_event(name: str) -> dict:
    """A fresh copy of `tests/events/<name>.json`."""
    return json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture
def lambda_context():
    return LambdaContext("test-function", str(uuid.uuid4()), 10, 128, "us-east-1", ACCOUNT_ID)
