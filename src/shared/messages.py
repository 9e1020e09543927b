"""The chat's message rules: what a client may send and what it gets back.

A client sends `{"text": "..."}` (and `"action": "broadcast"` to reach everyone). Anything else is
answered with `{"error": "<what was wrong>"}`; nothing here raises for user input except `InvalidMessage`.
"""

import json
from datetime import datetime, timezone

# Characters (code points). The longest reply is 4,000 characters that JSON escapes as 12 bytes each
# (an emoji is the surrogate pair "\ud83d\ude00"): about 48 KB, inside the Management API's 128 KB
# `Data` limit. A reply over 32 KB reaches the client as several frames of at most 32 KB (API Gateway's
# frame size; the sandbox splits it the same way), which every WebSocket client reassembles.
MAX_TEXT_LENGTH = 4000


class InvalidMessage(ValueError):
    """The client's message breaks a rule; `str()` says which, in words a person can act on."""


def parse_text(body: str | None) -> str:
    """Return the `text` of a client message, or raise `InvalidMessage`."""
    if body is None or body == "":
        raise InvalidMessage('empty message: send JSON such as {"text": "hello"}')
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidMessage('message is not valid JSON: send JSON such as {"text": "hello"}') from None
    if not isinstance(message, dict):
        raise InvalidMessage('message must be a JSON object such as {"text": "hello"}')
    if "text" not in message:
        raise InvalidMessage('message has no "text" field')
    text = message["text"]
    if not isinstance(text, str):
        raise InvalidMessage('"text" must be a string')
    if not text.strip():
        raise InvalidMessage('"text" is empty')
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidMessage(f'"text" is {len(text)} characters long; the limit is {MAX_TEXT_LENGTH}')
    return text


def timestamp(now: datetime) -> str:
    """ISO 8601 UTC with milliseconds, exactly as JavaScript's `Date.prototype.toISOString()`."""
    now = now.astimezone(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def echo(text: str, now: datetime, sender: str | None = None) -> dict:
    """The reply to the sender of `text`, naming them when known."""
    return {"text": f"{timestamp(now)} - Echoing {text}"} | ({"from": sender} if sender else {})


def broadcast(text: str, now: datetime, broadcast_id: str, sender: str | None = None) -> dict:
    """What every connection receives when someone broadcasts `text`: its sender's name too, when known.
    Delivery is at least once (a retried queue message posts again), so each broadcast carries its `id`:
    the page shows an id once."""
    return {"text": f"{timestamp(now)} - {text}", "broadcast": True, "id": broadcast_id} | ({"from": sender} if sender else {})


def error(reason: str) -> dict:
    """The reply to a message that broke a rule."""
    return {"error": reason}
