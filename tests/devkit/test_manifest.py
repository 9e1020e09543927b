"""The manifest reader: the app's own app.arc, Architect's grammar, and every error it names."""

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devkit import manifest
from devkit.manifest import Key, ManifestError
from tests.conftest import ROOT


def write_app(tmp_path: Path, arc: str, functions=("http/get-index", "ws/connect", "ws/default", "ws/disconnect")) -> Path:
    for folder in functions:
        (tmp_path / "src" / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / folder / "index.py").write_text("def handler(event, context):\n    return {'statusCode': 200}\n")
    path = tmp_path / "app.arc"
    path.write_text(textwrap.dedent(arc))
    return path


def test_reads_the_apps_own_manifest():
    app = manifest.load(ROOT / "app.arc")
    assert app.app == "mywsapp"
    assert [f.route_key for f in app.functions] == ["GET /", "$connect", "$default", "$disconnect", "broadcast"]
    assert [f.id for f in app.functions] == ["http-get-index", "ws-connect", "ws-default", "ws-disconnect", "ws-broadcast"]
    index = app.function("GET /")
    assert index.source_dir == ROOT / "src" / "http" / "get-index"
    assert index.handler == "index.handler" and index.requirements == index.source_dir / "requirements.txt"
    assert (index.runtime, index.architecture, index.memory, index.timeout) == ("python3.13", "arm64", 256, 10)
    [table] = app.tables
    assert (table.name, table.partition_key, table.sort_key, table.ttl_attribute) == ("connections", Key("connectionId", "S"), None, "expires")
    assert table.env_var == "ARC_TABLE_CONNECTIONS"
    assert app.aws.region == "us-east-1"


def test_comments_blank_lines_and_defaults(tmp_path):
    path = write_app(tmp_path, """
        # a comment
        @app   # trailing comment
        demo

        @http
        get /
    """, functions=("http/get-index",))
    app = manifest.load(path)
    assert app.app == "demo" and app.aws == manifest.AwsSettings(**manifest.DEFAULT_AWS)
    assert app.ws_functions == () and app.tables == ()


def test_config_arc_overrides_timeout_and_memory_per_function(tmp_path):
    path = write_app(tmp_path, "@app\ndemo\n@ws\n")
    (tmp_path / "src/ws/default/config.arc").write_text("@aws\ntimeout 30\nmemory 1024\n")
    app = manifest.load(path)
    assert (app.function("$default").timeout, app.function("$default").memory) == (30, 1024)
    assert (app.function("$connect").timeout, app.function("$connect").memory) == (10, 256)


def test_handler_file_follows_architects_preference(tmp_path):
    path = write_app(tmp_path, "@app\ndemo\n@ws\n")
    (tmp_path / "src/ws/default/lambda.py").write_text("def handler(e, c): pass\n")
    assert manifest.load(path).function("$default").handler == "lambda.handler"


@pytest.mark.parametrize(
    "route, folder, key",
    [
        ("get /", "get-index", "GET /"),
        ("post /messages", "post-messages", "POST /messages"),
        ("get /rooms/:room", "get-rooms-000room", "GET /rooms/{room}"),
        ("get /files/*", "get-files-catchall", "GET /files/{proxy+}"),
        ("any /api", "any-api", "ANY /api"),
    ],
)
def test_http_routes_map_to_architect_folders_and_api_gateway_keys(tmp_path, route, folder, key):
    path = write_app(tmp_path, f"@app\ndemo\n@http\n{route}\n", functions=(f"http/{folder}",))
    [function] = manifest.load(path).functions
    assert (function.name, function.route_key) == (folder, key)


def test_tables_with_sort_key_and_number_types(tmp_path):
    path = write_app(tmp_path, "@app\ndemo\n@tables\nscores\n  player *String\n  at **Number\n", functions=())
    [table] = manifest.load(path).tables
    assert (table.partition_key, table.sort_key, table.ttl_attribute) == (Key("player", "S"), Key("at", "N"), None)


@pytest.mark.parametrize(
    "arc, line, expected",
    [
        ("@http\nget /\n", None, "missing @app"),
        ("@app\nDemo\n", 2, "use lowercase letters"),
        ("@app\ndemo two\n", 2, "@app takes exactly one name"),
        ("@app\ndemo\n@tabels\nq\n", 3, "unknown pragma @tabels"),
        ("@app\ndemo\n@app\nother\n", 3, "@app appears twice"),
        ("@app\ndemo\n@http\nfetch /\n", 4, "HTTP method 'fetch'"),
        ("@app\ndemo\n@http\nget\n", 4, "@http expects '<method> <path>'"),
        ("@app\ndemo\n@http\nget no-slash\n", 4, "HTTP path 'no-slash'"),
        ("@app\ndemo\n@ws\n$connect\n", 4, "always present"),
        ("@app\ndemo\n@ws\nbad route\n", 4, "one route name per line"),
        ("@app\ndemo\n@tables\nt\n  id String\n", 5, "expected *String"),
        ("@app\ndemo\n@tables\nt\n  expires TTL\n", 4, "needs a partition key"),
        ("@app\ndemo\n@tables\nt\n  a *String\n  b *String\n", 6, "has a partition key already"),
        ("@app\ndemo\n@tables\nt\n   id *String\n", 5, "indent by exactly 2 spaces"),
        ("@app\ndemo\n@tables\nt\n\tid *String\n", 5, "not tabs"),
        ("@app\ndemo\n@aws\nruntime python2.7\n", 4, "runtime 'python2.7'"),
        ("@app\ndemo\n@aws\nmemory lots\n", 4, "memory (MB) 'lots'"),
        ("@app\ndemo\n@aws\ntimeout 901\n", 4, "from 1 to 900"),
        ("@app\ndemo\n@aws\nregion mars\n", 4, "expected an AWS region"),
        ("@app\ndemo\n@aws\nfavourite colour\n", 4, "unknown @aws setting 'favourite'"),
        ("@app\ndemo\n@ws\n", None, "no handler in src/ws/connect/"),
        ("demo\n", 1, "expected a pragma such as @app before any entry"),
        ("@app\ndemo\n  @http\n", 3, "starts at column 1"),
    ],
)
def test_errors_name_the_file_the_line_and_what_was_expected(tmp_path, arc, line, expected):
    path = write_app(tmp_path, "", functions=())
    path.write_text(arc)
    with pytest.raises(ManifestError) as caught:
        manifest.load(path)
    assert caught.value.line == line
    assert expected in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: " if line else f"{path}: ")


def test_architects_pragmas_and_settings_this_kit_lacks_are_one_warning_each(tmp_path):
    """An Architect project loads as it is (Architect's own list: arc.codes reference, inventory 6.1.0)."""
    path = write_app(tmp_path, """
        @app
        demo
        @static
        folder public
        @plugins
        architect/plugin-foo
        @ws
        @tables
        things
          id *String
          PITR true
          encrypt true
        @aws
        profile work
        region eu-west-1
        @sandbox
        livereload true
    """)
    (tmp_path / "src/ws/default/config.arc").write_text("@aws\ntimeout 30\npolicies\n  AmazonDynamoDBReadOnlyAccess\n")
    app = manifest.load(path)
    config = tmp_path / "src/ws/default/config.arc"
    assert app.warnings == (
        f"{path}:4: @static is Architect's; this kit does not implement it and ignores it",
        f"{path}:6: @plugins is Architect's; this kit does not implement it and ignores it",
        f"{path}:17: @sandbox is Architect's; this kit does not implement it and ignores it",
        f"{path}:15: @aws profile is Architect's; this kit does not implement it and ignores it",
        f"{config}:3: @aws policies is Architect's; this kit does not implement it and ignores it",
        f"{path}:12: table option PITR is Architect's; this kit does not implement it and ignores it",
        f"{path}:13: table option encrypt is Architect's; this kit does not implement it and ignores it",
    )
    assert app.aws.region == "eu-west-1" and app.function("$default").timeout == 30
    assert [t.name for t in app.tables] == ["things"] and app.tables[0].partition_key == Key("id", "S")


def test_the_apps_own_manifest_has_no_warnings():
    assert manifest.load(ROOT / "app.arc").warnings == ()


def test_a_missing_manifest_says_where_it_looked(tmp_path):
    with pytest.raises(ManifestError, match="no such file"):
        manifest.load(tmp_path / "app.arc")


def test_config_arc_may_not_change_the_region(tmp_path):
    path = write_app(tmp_path, "@app\ndemo\n@ws\n")
    (tmp_path / "src/ws/default/config.arc").write_text("@aws\nregion eu-west-1\n")
    with pytest.raises(ManifestError, match="region is set for the whole app"):
        manifest.load(path)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("@#  \n\t*-:/abcxyzAWS0123$TL")), max_size=200))
def test_any_text_either_parses_or_raises_manifest_error(text):
    """The reader never crashes with anything but a ManifestError, whatever the file holds."""
    try:
        manifest.parse(text, "fuzz.arc")
    except ManifestError as error:
        assert str(error).startswith("fuzz.arc")
