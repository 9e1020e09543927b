"""The app's own app.arc as the kit's manifest reader reads it: a golden of its functions, queue, table
and settings, and no warnings. (The reader itself is tested on small apps in tests/devkit/test_manifest.py.)"""

from devkit import contract, manifest
from devkit.manifest import Key
from tests.app.support import ROOT


def test_reads_the_apps_own_manifest():
    """Every function, its id and settings, the secret, the queue and the table, as app.arc and src/ declare them."""
    app = manifest.load(ROOT / "app.arc")
    assert app.app == "mywsapp"
    assert [f.route_key for f in app.functions] == ["GET /", "$connect", "$default", "$disconnect", "broadcast", "queue deliver", "$connect authorizer"]
    assert [f.id for f in app.functions] == [
        "http-get-index",
        "ws-connect",
        "ws-default",
        "ws-disconnect",
        "ws-broadcast",
        "queue-deliver",
        "authorizer-authorize",
    ]
    assert app.secrets == ("signing-key",)
    assert [q.name for q in app.queues] == ["deliver"] and app.consumer(app.queues[0]).id == "queue-deliver"
    index = app.function("GET /")
    assert index.source_dir == ROOT / "src" / "http" / "get-index"
    assert index.handler == "index.handler" and index.requirements == index.source_dir / "requirements.txt"
    assert (index.runtime, index.architecture, index.memory, index.timeout) == ("python3.13", "arm64", 256, 10)
    [table] = app.tables
    assert (table.name, table.partition_key, table.sort_key, table.ttl_attribute) == ("connections", Key("connectionId", "S"), None, "expires")
    assert contract.table_variable(table.name) == "ARC_TABLE_CONNECTIONS"
    assert app.aws.region == "us-east-1"


def test_the_apps_own_manifest_has_no_warnings():
    """Nothing in app.arc or its functions' config.arc files draws a warning from the reader."""
    assert manifest.load(ROOT / "app.arc").warnings == ()
