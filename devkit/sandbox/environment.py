"""What a worker process sees: Lambda's reserved variables, the runtime contract, the endpoints of the
embedded services, and nothing of the developer's real AWS set-up.

Lambda's variables follow "Using Lambda environment variables" (defined runtime environment
variables) in the AWS Lambda developer guide. `DEVKIT_*` variables are the kit's own, read only by
`worker_main.py`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from devkit import contract, packages
from devkit.manifest import Function, Manifest
from devkit.sandbox.iam import access_key_id

# From the developer's shell: what a Python process needs to run and to find certificates.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def function_name(manifest: Manifest, function: Function) -> str:
    """`<app>-testing-<function id>`: the local stand-in for the deployed function's name."""
    return f"{manifest.app}-{contract.LOCAL_STAGE}-{function.id}"


def lambda_variables(manifest: Manifest, function: Function) -> dict[str, str]:
    """The variables Lambda's runtime defines for `function` (a new log stream each call: one per worker,
    as each Lambda execution environment has its own)."""
    name = function_name(manifest, function)
    return {
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex,  # one per worker
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
        "AWS_REGION": manifest.aws.region,
        "AWS_DEFAULT_REGION": manifest.aws.region,
        "LAMBDA_TASK_ROOT": str(function.source_dir),
        "LAMBDA_RUNTIME_DIR": str(Path(__file__).parent),
        "TZ": ":UTC",
    }


def worker_environment(
    manifest: Manifest,
    function: Function,
    *,
    wss_url: str,
    allowed_origins: str,
    table_names: Mapping[str, str],
    dynamodb_endpoint: str,
    real_credentials: bool = False,
    secret_names: Mapping[str, str] | None = None,
    queue_urls: Mapping[str, str] | None = None,
    sqs_endpoint: str | None = None,
) -> dict[str, str]:
    """Everything `function`'s worker process gets.

    With `real_credentials` (an external DynamoDB endpoint and the developer's keys in the shell), the
    shell's `AWS_*` settings pass through; otherwise the worker holds only dummy credentials, so no
    handler can reach a real AWS account by accident, whose access key id names the function
    (devkit/sandbox/iam.py judges its calls by it).
    """
    env = {k: os.environ[k] for k in PASSED_THROUGH if k in os.environ}
    env.update(lambda_variables(manifest, function))
    env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint
    if manifest.secrets:  # the embedded moto server keeps them too
        env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = dynamodb_endpoint
    if manifest.queues and sqs_endpoint:
        env["AWS_ENDPOINT_URL_SQS"] = sqs_endpoint
    env.update(
        contract.variables(
            manifest,
            contract.LOCAL_STAGE,
            wss_url=wss_url,
            allowed_origins=allowed_origins,
            table_names=table_names,
            secret_names=secret_names,
            queue_urls=queue_urls,
        )
    )
    env.update(
        {
            "DEVKIT_HANDLER_FILE": function.handler_file,
            "DEVKIT_SHARED_DIR": str(manifest.shared_dir),
            "DEVKIT_ACCOUNT_ID": contract.ACCOUNT_ID,
            # What the function can import beyond its folder, `shared` and the standard library, as on Lambda.
            "DEVKIT_IMPORTABLE": ",".join(sorted(packages.importable(manifest, function))),
            "DEVKIT_REQUIREMENTS": packages.requirements_path(manifest, function),
        }
    )
    if real_credentials:
        env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_") and "ENDPOINT" not in k and k not in env})
    else:
        env.update(contract.DUMMY_CREDENTIALS, AWS_ACCESS_KEY_ID=access_key_id(function))
    return env
