"""The runtime contract: one builder for the sandbox and deploy, and the table-variable rule that the
kit (devkit/contract.py) and the app (src/shared/config.py) each apply from their own side."""

import pytest

from devkit import contract
from devkit.manifest import load
from tests.conftest import ROOT


@pytest.mark.parametrize("table", ["connections", "chat-rooms", "a1-b2-c3", "x"])
def test_the_app_reads_the_table_variable_the_kit_writes(table, monkeypatch):
    from devkit.sandbox.loader import register_shared

    register_shared(ROOT / "src" / "shared")
    from shared import config

    monkeypatch.setenv(contract.table_variable(table), "physical-name")
    assert config.table_name(table) == "physical-name"


def test_variables_name_each_table_each_queue_and_the_socket_url_only_for_an_app_with_ws():
    manifest = load(ROOT / "app.arc")
    env = contract.variables(manifest, "staging", wss_url="W", allowed_origins="O", table_names={"connections": "T"},
                             queue_urls={"deliver": "Q"})
    assert env == {
        "ARC_ENV": "staging", "ARC_APP_NAME": "mywsapp", "POWERTOOLS_SERVICE_NAME": "mywsapp",
        "ARC_WSS_URL": "W", "ARC_ALLOWED_ORIGINS": "O", "ARC_TABLE_CONNECTIONS": "T", "ARC_QUEUE_DELIVER": "Q",
    }


def test_an_app_without_pages_gets_no_allowed_origins(tmp_path):
    (tmp_path / "app.arc").write_text("@app\nquiet\n")
    env = contract.variables(load(tmp_path / "app.arc"), "production", wss_url="W", allowed_origins=None, table_names={})
    assert env == {"ARC_ENV": "production", "ARC_APP_NAME": "quiet", "POWERTOOLS_SERVICE_NAME": "quiet"}


@pytest.mark.parametrize("queue", ["deliver", "jobs-2", "a_b"])
def test_the_app_reads_the_queue_variable_the_kit_writes(queue, monkeypatch):
    from devkit.sandbox.loader import register_shared

    register_shared(ROOT / "src" / "shared")
    from shared import config

    monkeypatch.delenv("ARC_SANDBOX", raising=False)
    monkeypatch.setenv(contract.queue_variable(queue), "https://sqs.example/1/q")
    assert config.queue_url(queue) == "https://sqs.example/1/q"
