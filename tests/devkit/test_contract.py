"""The runtime contract: one builder for the sandbox and deploy, and the table-variable rule that the
kit (devkit/contract.py) and the app (src/shared/config.py) each apply from their own side."""

import pytest

from devkit import contract
from devkit.manifest import load
from tests.support.repo import ROOT


@pytest.mark.parametrize("table", ["connections", "chat-rooms", "a1-b2-c3", "x"])
def test_the_app_reads_the_table_variable_the_kit_writes(table, monkeypatch):
    from devkit.sandbox.loader import register_shared

    register_shared(ROOT / "src" / "shared")
    from shared import config

    monkeypatch.setenv(contract.table_variable(table), "physical-name")
    assert config.table_name(table) == "physical-name"


def test_variables_name_each_table_each_queue_each_secret_and_the_socket_url_only_for_an_app_with_ws(tmp_path):
    (tmp_path / "app.arc").write_text("@app\nchat\n@http\nget /\n@ws\n@tables\nrooms\n  roomId *String\nseats\n  seatId *String\n@queues\njobs\n")
    for folder in ("http/get-index", "ws/connect", "ws/default", "ws/disconnect", "queues/jobs"):
        (tmp_path / "src" / folder).mkdir(parents=True)
        (tmp_path / "src" / folder / "index.py").write_text("def handler(event, context):\n    return {'statusCode': 200}\n")
    (tmp_path / "src/http/get-index/config.arc").write_text("@permissions\nsecret page-key\n")
    env = contract.variables(
        load(tmp_path / "app.arc"),
        "staging",
        wss_url="W",
        allowed_origins="O",
        table_names={"rooms": "T1", "seats": "T2"},
        secret_names={"page-key": "S"},
        queue_urls={"jobs": "Q"},
    )
    assert env == {
        "ARC_ENV": "staging",
        "ARC_APP_NAME": "chat",
        "POWERTOOLS_SERVICE_NAME": "chat",
        "ARC_WSS_URL": "W",
        "ARC_ALLOWED_ORIGINS": "O",
        "ARC_TABLE_ROOMS": "T1",
        "ARC_TABLE_SEATS": "T2",
        "ARC_SECRET_PAGE_KEY": "S",
        "ARC_QUEUE_JOBS": "Q",
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
