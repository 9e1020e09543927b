"""Fixtures for the deploy tests: the real app's manifest, a copy of the app to package, a fake pip,
and AWS settings that can never reach a real account."""

import shutil

import pytest

from devkit import manifest as manifest_module
from devkit.contract import DUMMY_CREDENTIALS
from devkit.deploy import package, stack, template
from tests.support.deploy import AWS_VARIABLES, FakePip
from tests.support.repo import ROOT


@pytest.fixture
def app_manifest():
    """The starter app itself."""
    return manifest_module.load(ROOT / "app.arc")


@pytest.fixture
def code_keys(app_manifest):
    keys = {f.id: f"{app_manifest.app}/{f.id}/{'0' * 64}.zip" for f in app_manifest.functions}
    keys[template.STATIC_ID] = f"{app_manifest.app}/static/{'0' * 64}.zip"
    return keys


@pytest.fixture
def staging(app_manifest, code_keys):
    return template.build(app_manifest, "staging", code_keys)


@pytest.fixture
def app_copy(tmp_path):
    """A copy of the app (app.arc, smoke.json, src/, public/) in tmp, to package or to change."""
    root = tmp_path / "app"
    root.mkdir()
    shutil.copy(ROOT / "app.arc", root / "app.arc")
    shutil.copy(ROOT / "smoke.json", root / "smoke.json")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "src", root / "src", ignore=ignore)
    shutil.copytree(ROOT / "public", root / "public", ignore=ignore)
    return root


@pytest.fixture
def fake_pip(monkeypatch):
    """Replace the real platform install everywhere (the command calls `package.pip_install`)."""
    fake = FakePip()
    monkeypatch.setattr(package, "pip_install", fake)
    return fake


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """No credentials from anywhere: environment, config files, or instance metadata."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def fake_aws(no_aws, monkeypatch):
    """Credentials that only moto accepts (set before `mock_aws` starts)."""
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def no_tls_deny(monkeypatch):
    """moto evaluates only `StringEquals` in a bucket policy and treats any other condition as met, so
    the deployment bucket's TLS-only Deny (`Bool aws:SecureTransport false`) would refuse every object
    request moto gets. Flows that upload put a policy without that statement; test_stack.py checks the
    real policy is applied, and only AWS can show it refusing plain HTTP."""
    real = stack.tls_only_policy

    def without_the_deny(bucket, partition="aws"):
        return {**real(bucket, partition), "Statement": []}

    monkeypatch.setattr(stack, "tls_only_policy", without_the_deny)
