"""Fixtures for the deploy tests: a fake pip, AWS settings that can never reach a real account, and a copy
of the fixture app tests/fixtures/relay to change, with package keys for its template. (The starter app's
manifest, template and copy, `app_manifest`, `staging` and `app_copy`, are in tests/conftest.py.)"""

import shutil

import pytest
from moto import mock_aws

from devkit import manifest
from devkit.contract import DUMMY_CREDENTIALS
from devkit.deploy import command, package, stack, template
from tests.support.deploy import APP, AWS_VARIABLES, RELAY, FakePip


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


@pytest.fixture
def build(tmp_path, monkeypatch):
    folder = tmp_path / "build"
    monkeypatch.setenv(command.BUILD_DIR_VARIABLE, str(folder))
    monkeypatch.setattr(stack, "POLL_SECONDS", 0)
    return folder


@pytest.fixture
def moto(fake_aws, build, fake_pip, no_tls_deny):
    with mock_aws():
        yield


@pytest.fixture
def relay_copy(tmp_path):
    """A copy of tests/fixtures/relay in tmp, to deploy from or to change."""
    return shutil.copytree(RELAY, tmp_path / "relay", ignore=shutil.ignore_patterns("__pycache__", "build"))


@pytest.fixture
def relay_keys():
    """Made-up package keys for each of the relay fixture app's functions and its static one, to build its template."""
    app = manifest.load(APP)
    return {**{f.id: f"{app.app}/{f.id}/{'0' * 64}.zip" for f in app.functions}, template.STATIC_ID: f"{app.app}/static/{'0' * 64}.zip"}
