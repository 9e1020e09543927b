"""The `context` object Lambda passes to a handler, built as AWS's Python runtime builds it.

Mirrors `awslambdaric/lambda_context.py` (aws/aws-lambda-python-runtime-interface-client): names,
log group and stream, memory (a string, read from the environment) and version come from Lambda's
reserved variables; `aws_request_id` is Lambda's own id for the invocation (a UUID, not API Gateway's
`requestId`); `identity` is an object whose Cognito fields are None; `client_context` is None for
invocations through API Gateway. Standard library only: worker_main.py imports it by path.
"""

import os
import time
from collections.abc import Callable, Mapping


class CognitoIdentity:
    """`context.identity`: set only for invocations through the Mobile SDK, so both fields are None."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, cognito_identity_id=None, cognito_identity_pool_id=None):
        self.cognito_identity_id = cognito_identity_id
        self.cognito_identity_pool_id = cognito_identity_pool_id


class LambdaContext:
    """Lambda's context for one invocation; `clock` (epoch seconds) is injectable for tests."""

    def __init__(
        self,
        invoke_id: str,
        epoch_deadline_time_in_ms: int,
        invoked_function_arn: str,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        environ = os.environ if environ is None else environ
        self.aws_request_id = invoke_id
        self.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = None
        self.client_context = None
        self.identity = CognitoIdentity()
        self._deadline_ms = epoch_deadline_time_in_ms
        self._clock = clock

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(self._clock() * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext(aws_request_id={self.aws_request_id}, function_name={self.function_name})"


def function_arn(region: str, account_id: str, function_name: str) -> str:
    """The unqualified ARN Lambda puts in `invoked_function_arn` when invoked without a qualifier."""
    return f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
