"""Facts about the repository's own app (app.arc at the root) that tests assert on, each written once."""

from devkit.contract import LOCAL_STAGE

APP = "mywsapp"  # @app in app.arc
TABLE = f"{APP}-{LOCAL_STAGE}-connections"  # the connections table as the sandbox names it
SIGNING_KEY = f"{APP}-{LOCAL_STAGE}-signing-key"  # the token signing secret as the sandbox names it
PROTOCOL = "chat"  # the subprotocol the page offers, its token next to it (src/shared/tokens.py)


def protocols(token: str) -> list[str]:
    """What the page offers as `Sec-WebSocket-Protocol`: `chat`, then its token."""
    return [PROTOCOL, token]
# A reply's timestamp: ISO 8601 in UTC with milliseconds, as src/shared/messages.py writes it.
ISO_MILLIS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
