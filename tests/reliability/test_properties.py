"""Property-based tests (Hypothesis) of the message rules and the manifest reader.

tests/devkit/test_manifest.py already fuzzes `parse` with a small alphabet; here `load` gets whole
manifests built from the grammar's own pieces, with a hostile value slipped in.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devkit import manifest
from devkit.manifest import Manifest, ManifestError
from tests.support.repo import ROOT

sys.path.insert(0, str(ROOT / "src"))
from shared import messages

sys.path.remove(str(ROOT / "src"))

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300) | JSON.map(json.dumps) | st.dictionaries(st.sampled_from(["text", "action", "x"]), JSON).map(json.dumps))
@example("[" * 100_000)
@example('{"text": ' + "9" * 5000 + "}")
@example('{"text": 1e999999}')
def test_parse_text_returns_text_or_raises_invalid_message_never_anything_else(body):
    try:
        text = messages.parse_text(body)
    except messages.InvalidMessage as problem:
        assert str(problem)
        return
    assert isinstance(text, str) and text.strip() and len(text) <= messages.MAX_TEXT_LENGTH


VALID_TEXT = st.text(min_size=1, max_size=messages.MAX_TEXT_LENGTH).filter(lambda t: t.strip())


@settings(max_examples=300, deadline=None)
@given(VALID_TEXT, st.dictionaries(st.sampled_from(["action", "room", "n"]), JSON, max_size=3), st.booleans())
def test_an_accepted_text_round_trips_exactly(text, extra, ascii_only):
    body = json.dumps({**extra, "text": text}, ensure_ascii=ascii_only)
    assert messages.parse_text(body) == text
    reply = messages.echo(text, __import__("datetime").datetime(2024, 1, 2, tzinfo=__import__("datetime").timezone.utc))
    assert json.loads(json.dumps(reply))["text"].endswith(" - Echoing " + text)


# Manifests from the grammar's pieces, each line possibly replaced by hostile text.
NAMES = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)
HOSTILE = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
ASCII_VALUE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=8)
AWS_LINE = st.tuples(
    st.sampled_from(["runtime", "architecture", "region", "memory", "timeout", "colour"]),
    st.sampled_from(["python3.13", "python2.7", "arm64", "x86_64", "us-east-1", "mars", "256", "0", "901", "10"]) | ASCII_VALUE,
).map(" ".join)
HTTP_LINE = st.tuples(
    st.sampled_from(["get", "post", "any", "fetch", "GET"]), st.sampled_from(["/", "/a", "/a/:id", "/files/*", "no-slash", "/a b"]) | ASCII_VALUE
).map(" ".join)
TABLE_BLOCK = st.tuples(
    NAMES, st.lists(st.sampled_from(["  id *String", "  at **Number", "  expires TTL", "  bad", "  x *Float", "   three", "\tid *String"]), max_size=4)
).map(lambda t: "\n".join([t[0], *t[1]]))
WS_LINE = st.sampled_from(["broadcast", "join", "$connect", "default", "bad route", "x" * 70]) | NAMES


@st.composite
def manifests(draw) -> str:
    sections = [("@app", [draw(NAMES | HOSTILE)])]
    for pragma, line in (("@http", HTTP_LINE), ("@ws", WS_LINE), ("@tables", TABLE_BLOCK), ("@aws", AWS_LINE)):
        if draw(st.booleans()):
            sections.append((pragma, draw(st.lists(line, max_size=3))))
    lines = [text for pragma, entries in draw(st.permutations(sections)) for text in (pragma, *entries)]
    if draw(st.booleans()) and lines:
        lines[draw(st.integers(0, len(lines) - 1))] = draw(HOSTILE)
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n", "  # trailing"]))


def assert_loads_or_names_the_line(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    try:
        result = manifest.load(path)
    except ManifestError as error:
        assert str(error).startswith(f"{path}:") or str(error).startswith(f"{path.parent}"), str(error)
        if error.line is not None:
            assert 1 <= error.line <= max(1, len(text.splitlines()))
            assert re.match(rf"^{re.escape(str(error.path))}:{error.line}: \S", str(error))
        return
    assert isinstance(result, Manifest)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manifests())
def test_load_gives_a_manifest_or_a_manifest_error_naming_file_and_line(tmp_path, text):
    for folder in ("http/get-index", "ws/connect", "ws/default", "ws/disconnect", "ws/broadcast"):
        (tmp_path / "src" / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / folder / "index.py").write_text("def handler(event, context):\n    return {}\n")
    assert_loads_or_names_the_line(tmp_path / "app.arc", text)


@pytest.mark.parametrize("value", ["²", "0" * 5000], ids=["superscript two", "5000 digits"])
def test_a_non_ascii_or_huge_number_is_a_manifest_error(tmp_path, value):
    (tmp_path / "app.arc").write_text(f"@app\ndemo\n@aws\ntimeout {value}\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"app\.arc:4: timeout \(seconds\)"):
        manifest.load(tmp_path / "app.arc")
