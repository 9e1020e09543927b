"""Where things are in this repository, and the AWS sample events under tests/events."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
FIXTURES = ROOT / "tests" / "fixtures"


def load_event(name: str) -> dict:
    """A fresh copy of `tests/events/<name>.json`."""
    return json.loads((EVENTS / f"{name}.json").read_text())
