"""The `context` object Lambda passes to a handler, with the attributes Powertools reads."""

import time
from collections.abc import Callable


class LambdaContext:
    """Lambda's context for one invocation; `clock` (seconds, monotonic) is injectable for tests."""

    def __init__(
        self,
        function_name: str,
        request_id: str,
        timeout_seconds: float,
        memory_mb: int,
        region: str,
        account_id: str,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + request_id.replace("-", "")[:32]
        self.identity = None
        self.client_context = None
        self._clock = clock
        self._deadline = clock() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))
