"""The generated /_static/* function, run from an unpacked static package as Lambda would run it."""

import base64
import importlib.util
import zipfile

import pytest

from devkit import manifest as manifest_module
from devkit.deploy import package
from tests.support.repo import ROOT


@pytest.fixture(scope="module")
def handler(tmp_path_factory):
    """`index.handler` imported from the extracted static zip of the real app."""
    build = tmp_path_factory.mktemp("build")
    built = package.build_all(manifest_module.load(ROOT / "app.arc"), build, installer=lambda *a: None)["static"]
    unpacked = build / "unpacked"
    zipfile.ZipFile(built.path).extractall(unpacked)
    (unpacked / ".secret").write_text("no")
    # Packaging leaves hidden files out of the zip; these stand for one that got in anyway, so the
    # function's own rule is what is tested (devkit/public.py: hidden paths are never served).
    (unpacked / "public" / ".env").write_text("SECRET=no")
    (unpacked / "public" / ".well-known").mkdir()
    (unpacked / "public" / ".well-known" / "security.txt").write_text("no")
    spec = importlib.util.spec_from_file_location("static_index", unpacked / "index.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def get(handler, proxy, headers=None):
    return handler({"rawPath": "/_static/" + proxy, "pathParameters": {"proxy": proxy}, "headers": headers or {}}, None)


@pytest.mark.parametrize(
    "name, content_type",
    [
        ("index.css", "text/css; charset=utf-8"),
        ("index.mjs", "text/javascript; charset=utf-8"),
    ],
)
def test_serves_a_public_file_with_its_type(handler, name, content_type):
    response = get(handler, name)
    assert response["statusCode"] == 200
    assert response["headers"]["content-type"] == content_type
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == (ROOT / "public" / name).read_bytes()


@pytest.mark.parametrize("proxy", ["../index.py", "%2e%2e/index.py", "nope.css", "", ".secret", "../.secret"])
def test_anything_but_a_visible_file_in_public_is_404(handler, proxy):
    assert get(handler, proxy)["statusCode"] == 404


def test_a_matching_etag_answers_304_without_a_body(handler):
    etag = get(handler, "index.css")["headers"]["etag"]
    response = get(handler, "index.css", {"if-none-match": etag})
    assert response["statusCode"] == 304
    assert "body" not in response


@pytest.mark.parametrize("proxy", [".env", ".well-known/security.txt", "./.env"])
def test_a_hidden_file_inside_public_is_404(handler, proxy):
    assert get(handler, proxy)["statusCode"] == 404
