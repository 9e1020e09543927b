"""The runtime contract: the environment variables a handler reads, built once for the sandbox and
for deploy, and the few constants both sides of the kit share.

A handler learns where it runs only from these variables (`src/shared/config.py` reads them). The
sandbox passes plain strings; deploy passes CloudFormation values (`{"Ref": ...}`, `{"Fn::Sub": ...}`),
so `variables()` takes each value from its caller and decides only which names exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devkit.manifest import Manifest

DEFAULT_PORT = 3333  # the sandbox's one port, as Architect's sandbox
LOCAL_STAGE = "testing"  # ARC_ENV in the sandbox, and its WebSocket stage name
ACCOUNT_ID = "123456789012"  # the account every local ARN and event names (AWS's documentation account)
# Credentials for the embedded services: never real, so nothing local can reach an AWS account.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox"}


def table_variable(table: str) -> str:
    """`ARC_TABLE_<NAME>`: the variable holding the physical name of the table declared as `table`.

    `src/shared/config.py` applies the same rule from its side of the contract (the app never imports
    the kit); tests/devkit/test_contract.py checks that the two agree.
    """
    return "ARC_TABLE_" + re.sub(r"[^A-Z0-9]", "_", table.upper())


def secret_variable(secret: str) -> str:
    """`ARC_SECRET_<NAME>`: the variable holding the name of the secret a function reads as `secret <name>`."""
    return "ARC_SECRET_" + re.sub(r"[^A-Z0-9]", "_", secret.upper())


def queue_variable(queue: str) -> str:
    """`ARC_QUEUE_<NAME>`: the variable holding the URL of the queue declared as `queue` (SendMessage's
    `QueueUrl`); `src/shared/config.py` applies the same rule."""
    return "ARC_QUEUE_" + re.sub(r"[^A-Z0-9]", "_", queue.upper())


def variables(
    manifest: Manifest,
    stage: str,
    *,
    wss_url: Any,
    allowed_origins: Any,
    table_names: Mapping[str, Any],
    secret_names: Mapping[str, Any] | None = None,
    queue_urls: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The contract's variables for every function of `manifest` on `stage`.

    `ARC_WSS_URL` exists only for an app with `@ws`, `ARC_ALLOWED_ORIGINS` only when `allowed_origins`
    is given (an app that serves pages), one `ARC_TABLE_<NAME>` per declared table, from
    `table_names` (declared name -> physical name), one `ARC_SECRET_<NAME>` per secret, from `secret_names`,
    and one `ARC_QUEUE_<NAME>` per declared queue, from `queue_urls` (declared name -> URL).
    """
    env: dict[str, Any] = {"ARC_ENV": stage, "ARC_APP_NAME": manifest.app, "POWERTOOLS_SERVICE_NAME": manifest.app}
    if manifest.ws_functions:
        env["ARC_WSS_URL"] = wss_url
    if allowed_origins is not None:
        env["ARC_ALLOWED_ORIGINS"] = allowed_origins
    for table in manifest.tables:
        env[table_variable(table.name)] = table_names[table.name]
    for secret in manifest.secrets:
        env[secret_variable(secret)] = (secret_names or {})[secret]
    for queue in manifest.queues:
        env[queue_variable(queue.name)] = (queue_urls or {})[queue.name]
    return env
