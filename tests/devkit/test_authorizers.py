"""`@ws-authorizer`: the declaration of the `$connect` Lambda REQUEST authorizer, and its errors."""

import pytest

from devkit import manifest
from devkit.authorizers import IdentitySource
from devkit.manifest import ManifestError
from tests.support.apps import write_app

WS = ("ws/connect", "ws/default", "ws/disconnect", "ws/authorize")


def load(tmp_path, text, functions=WS):
    return manifest.load(write_app(tmp_path, text, functions=functions))


def test_an_authorizer_is_a_function_of_its_own_with_its_identity_sources(tmp_path):
    app = load(
        tmp_path,
        """\
        @app
        demo
        @ws
        @ws-authorizer
        authorize
          identity route.request.header.Sec-WebSocket-Protocol
          identity route.request.querystring.token
        """,
    )
    assert app.authorizer is not None
    assert app.authorizer.identity_sources == (IdentitySource("header", "Sec-WebSocket-Protocol"), IdentitySource("querystring", "token"))
    function = app.authorizer.function
    assert (function.id, function.kind, function.source_dir) == ("authorizer-authorize", "authorizer", tmp_path / "src/ws/authorize")
    assert function in app.functions and function not in app.ws_functions  # no route of the WebSocket API


def test_the_authorizers_config_arc_applies_to_it(tmp_path):
    (tmp_path / "src/ws/authorize").mkdir(parents=True)
    (tmp_path / "src/ws/authorize/config.arc").write_text("@aws\ntimeout 5\n")
    app = load(tmp_path, "@app\ndemo\n@ws\n@ws-authorizer\nauthorize\n  identity route.request.header.Auth\n")
    assert app.authorizer.function.timeout == 5


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("@app\ndemo\n@ws\n@ws-authorizer\nauthorize\n", 5, "list its identity sources"),
        ("@app\ndemo\n@ws\n@ws-authorizer\nauthorize\n  identity stageVariables.x\n", 6, "expected route.request.header"),
        ("@app\ndemo\n@ws\n@ws-authorizer\nauthorize\n  identity route.request.path.x\n", 6, "expected route.request.header"),
        ("@app\ndemo\n@ws\n@ws-authorizer\nauthorize\n  source route.request.header.A\n", 6, "expected 'identity"),
        ("@app\ndemo\n@ws\n@ws-authorizer\nauthorize\n  identity route.request.header.A route.request.header.a\n", 6, "listed twice"),
        ("@app\ndemo\n@ws\n@ws-authorizer\nauthorize\n  identity route.request.header.A\nother\n", 7, "one authorizer"),
        ("@app\ndemo\n@ws\n@ws-authorizer\nauthorize now\n", 5, "one folder name"),
        ("@app\ndemo\n@ws\n@ws-authorizer\nconnect\n  identity route.request.header.A\n", 5, "is a @ws route"),
        ("@app\ndemo\n@ws\nbroadcast\n@ws-authorizer\nbroadcast\n  identity route.request.header.A\n", 6, "is a @ws route"),
        ("@app\ndemo\n@ws\n@ws-authorizer\nmissing\n  identity route.request.header.A\n", 5, "no handler in src/ws/missing/"),
    ],
)
def test_each_mistake_names_its_line(tmp_path, text, line, words):
    with pytest.raises(ManifestError) as error:
        load(tmp_path, text, functions=WS + ("ws/broadcast",))
    assert error.value.line == line and words in error.value.message, str(error.value)


def test_an_authorizer_needs_the_websocket_api(tmp_path):
    with pytest.raises(ManifestError, match="add @ws"):
        load(tmp_path, "@app\ndemo\n@ws-authorizer\nauthorize\n  identity route.request.header.A\n")


def test_a_header_name_matches_whatever_its_case_a_query_name_exactly(tmp_path):
    app = load(tmp_path, "@app\ndemo\n@ws\n@ws-authorizer\nauthorize\n  identity route.request.querystring.t route.request.querystring.T\n")
    assert len(app.authorizer.identity_sources) == 2


def test_a_secret_grant_names_a_secret_the_app_then_has(tmp_path):
    (tmp_path / "src/ws/authorize").mkdir(parents=True)
    (tmp_path / "src/ws/authorize/config.arc").write_text("@permissions\nsecret signing-key\nsecret signing-key\n")
    app = load(tmp_path, "@app\ndemo\n@ws\n@ws-authorizer\nauthorize\n  identity route.request.header.Auth\n")
    assert app.authorizer.function.permissions.secrets == ("signing-key",) and app.secrets == ("signing-key",)


@pytest.mark.parametrize("line", ["secret", "secret Signing_Key", "secret a b"])
def test_a_malformed_secret_grant_names_its_line(tmp_path, line):
    (tmp_path / "src/ws/authorize").mkdir(parents=True)
    (tmp_path / "src/ws/authorize/config.arc").write_text(f"@permissions\n{line}\n")
    with pytest.raises(ManifestError) as error:
        load(tmp_path, "@app\ndemo\n@ws\n@ws-authorizer\nauthorize\n  identity route.request.header.Auth\n")
    assert error.value.line == 2 and error.value.path.name == "config.arc"
