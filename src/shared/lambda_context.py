"""Lambda's `context` object for handlers invoked with a plain dict (Architect's `arc sandbox`).

Lambda passes an object (`context.function_name`, `context.get_remaining_time_in_millis()`, ...);
Architect's sandbox passes a dict of some of those fields, which Powertools' `inject_lambda_context`
cannot read. `accepts_dict_context` wraps a handler so it always receives an object.
"""

import functools
import time
from types import SimpleNamespace

_DEFAULT_TIMEOUT_MS = 10_000  # Architect says nothing of the deadline; the app's functions have 10 s


def from_dict(fields: dict) -> SimpleNamespace:
    """An object with the attributes of Lambda's Python context, filled from `fields` where given."""
    deadline = time.monotonic() * 1000 + _DEFAULT_TIMEOUT_MS
    name = str(fields.get("function_name", "unknown"))
    return SimpleNamespace(
        function_name=name,
        function_version=str(fields.get("function_version", "$LATEST")),
        invoked_function_arn=str(fields.get("invoked_function_arn", "")),
        memory_limit_in_mb=int(fields.get("memory_limit_in_mb") or 128),
        aws_request_id=str(fields.get("aws_request_id", "")),
        log_group_name=str(fields.get("log_group_name", f"/aws/lambda/{name}")),
        log_stream_name=str(fields.get("log_stream_name", "")),
        identity=None,
        client_context=None,
        get_remaining_time_in_millis=lambda: max(0, int(deadline - time.monotonic() * 1000)),
    )


def accepts_dict_context(handler):
    """Decorate a handler (outermost) so a dict `context` reaches it as an object; objects pass as they are."""

    @functools.wraps(handler)
    def wrapper(event, context):
        return handler(event, from_dict(context) if isinstance(context, dict) else context)

    return wrapper
