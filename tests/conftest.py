"""The whole suite's fixtures: devkit.testing's `sandbox` (serving app.arc at the root) for tests/app, and
the starter app's manifest, staging template and a copy of it (tests/app's stack template, the deploy tests).
Helpers live in tests/support/ (the kit's tests) and tests/app/support.py (the app's)."""

import shutil

import pytest

from devkit import manifest as manifest_module
from devkit.deploy import template
from tests.app.support import ROOT

pytest_plugins = ["devkit.testing"]
collect_ignore = ["fixtures"]  # fixture apps carry their own tests, run in a pytest of their own


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
