"""Helpers for the deploy tests: the AWS settings that could reach a real account, and a fake pip."""

import re
from pathlib import Path

from devkit.deploy import package

AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION",
)



class FakePip:
    """Stands in for `pip install --platform ...`: writes a marker package per requirement, records calls."""

    def __init__(self):
        self.calls: list[tuple[str, package.Platform]] = []

    def __call__(self, requirements: Path, platform: package.Platform, target: Path) -> None:
        text = requirements.read_text()
        self.calls.append((text, platform))
        for line in text.splitlines():
            name = re.split(r"[<>=!~;\[ #]", line.strip(), maxsplit=1)[0]
            if name:
                (target / name.replace("-", "_").lower()).mkdir(exist_ok=True)
                (target / name.replace("-", "_").lower() / "__init__.py").write_text(f"# fake, {platform.pip_platforms[0]}\n")
        (target / "bin").mkdir(exist_ok=True)
        (target / "bin" / "some-script").write_text("#!/bin/sh\n")
