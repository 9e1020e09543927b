"""Which web pages may open a socket: the `Origin` header checked against `ARC_ALLOWED_ORIGINS`."""

from shared import config


def origin_of(event: dict) -> str | None:
    """The `Origin` header of a `$connect` event, whatever its case; None when absent."""
    headers = event.get("headers") or {}
    return next((value for name, value in headers.items() if name.lower() == "origin"), None)


def is_allowed(event: dict) -> bool:
    """True for a listed origin, and for clients that send none (only browsers must send one)."""
    origin = origin_of(event)
    return origin is None or origin.rstrip("/") in config.allowed_origins()
