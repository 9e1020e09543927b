"""The app's smoke-test declaration (`smoke.json` next to app.arc): what `python -m devkit smoke` checks.

The kit knows how to fetch a page, find a socket URL in it, open sockets and match JSON replies; the app
says what to send and what must come back. The file is one JSON object:

    {
      "page": {"content_security_policy": true},        # optional: require a CSP that allows the socket
      "socket_url": {"html_attribute": "data-ws",       # where the page carries the WebSocket URL
                     "subprotocols": ["chat", {"html_attribute": "data-token"}]},  # optional: offered on
                                                        #   every socket; an entry may come from the page
      "steps": [                                        # run in order, one output line each
        {"name": "echo", "socket": "a",                 # sockets are opened, with the page's Origin,
         "send": {"text": "hi {token}"},                #   the first time a step names them
         "listen_on": "b",                              # optional: the reply comes on another socket
         "expect": {"text": "{iso_time} - hi {token}", "flag": true}}
      ]
    }

`send` is a JSON object (sent encoded) or a string (sent as raw text); `{token}` in it becomes a token
unique to the step. In `expect`, a string is a regular expression the reply's field must match in full
(`.` matches newlines too), where `{token}` stands for the step's token and `{iso_time}` for an ISO 8601
UTC time; any other value must equal the field exactly. With `subprotocols` (say, a token the page
carries), the runner also checks that a socket offering none of them is refused. `load` raises `ManifestError` (one line, naming
the file and what was expected) for a missing, unreadable or malformed declaration.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from devkit.errors import ManifestError

FILE_NAME = "smoke.json"
ISO_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"
PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")  # never a regex quantifier: those hold digits only
EXPECT_PLACEHOLDERS = {"token", "iso_time"}
SEND_PLACEHOLDERS = {"token"}
FIXED_STEPS = ("page", "socket url", "no subprotocols", "foreign origin")  # the runner's own, around the declared ones


@dataclass(frozen=True)
class Step:
    """One declared exchange: `send` on socket `socket`, then wait on `listen_on` for a reply matching `expect`."""

    name: str
    socket: str
    listen_on: str
    send: dict | str
    expect: dict


@dataclass(frozen=True)
class Declaration:
    path: Path
    csp: bool
    socket_url_attribute: str
    steps: tuple[Step, ...]
    subprotocols: tuple[str | dict, ...] = ()  # each a literal, or {"html_attribute": name} read from the page


def path_for(app: Path | str) -> Path:
    """Where the app whose manifest is `app` declares its smoke test: next to it."""
    return Path(app).parent / FILE_NAME


def load(path: Path | str) -> Declaration:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(path, None, "not found: expected the app's smoke-test declaration (JSON) next to app.arc; see docs/deploy.md, Smoke test") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(path, None, f"cannot be read ({error}): expected a UTF-8 JSON file") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ManifestError(path, error.lineno, f"not valid JSON ({error.msg}): expected one JSON object") from None
    return _Reader(path).declaration(document)


class _Reader:
    """Checks the document's shape; each complaint names the place (`steps[1].expect`) and what was expected."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, expected: str):
        raise ManifestError(self.path, None, f"{where}: expected {expected}" if where else f"expected {expected}")

    def object(self, value, where: str, required: set[str], optional: set[str]) -> dict:
        if not isinstance(value, dict):
            self.fail(where, "a JSON object" if where else "one JSON object with socket_url and steps (page optional)")
        allowed = sorted(required | optional)
        for key in value:
            if key not in required | optional:
                self.fail(f"{where}.{key}" if where else key, f"no such key; one of {', '.join(allowed)}")
        for key in sorted(required - value.keys()):
            self.fail(where, f"a key {key!r}")
        return value

    def name(self, value, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, "a non-empty string")
        return value

    def declaration(self, document) -> Declaration:
        top = self.object(document, "", {"socket_url", "steps"}, {"page"})
        page = self.object(top.get("page", {}), "page", set(), {"content_security_policy"})
        csp = page.get("content_security_policy", False)
        if not isinstance(csp, bool):
            self.fail("page.content_security_policy", "true or false")
        where = self.object(top["socket_url"], "socket_url", {"html_attribute"}, {"subprotocols"})
        attribute = self.name(where["html_attribute"], "socket_url.html_attribute")
        subprotocols = where.get("subprotocols", [])
        if not isinstance(subprotocols, list):
            self.fail("socket_url.subprotocols", 'a list of strings and {"html_attribute": name} objects')
        for i, entry in enumerate(subprotocols):
            if isinstance(entry, dict):
                self.name(
                    self.object(entry, f"socket_url.subprotocols[{i}]", {"html_attribute"}, set())["html_attribute"],
                    f"socket_url.subprotocols[{i}].html_attribute",
                )
            else:
                self.name(entry, f"socket_url.subprotocols[{i}]")
        if not isinstance(top["steps"], list):
            self.fail("steps", "a list of steps")
        steps = tuple(self.step(step, f"steps[{i}]") for i, step in enumerate(top["steps"]))
        names = [*FIXED_STEPS, *(step.name for step in steps)]
        for i, step in enumerate(steps):
            if names.count(step.name) > 1:
                self.fail(f"steps[{i}].name", f"a name no other step has (the runner's own: {', '.join(FIXED_STEPS)})")
        return Declaration(self.path, csp, attribute, steps, tuple(subprotocols))

    def step(self, value, where: str) -> Step:
        step = self.object(value, where, {"name", "socket", "send", "expect"}, {"listen_on"})
        socket = self.name(step["socket"], f"{where}.socket")
        send = step["send"]
        if not isinstance(send, (dict, str)):
            self.fail(f"{where}.send", "a JSON object (sent as JSON) or a string (sent as raw text)")
        self.placeholders(send, f"{where}.send", SEND_PLACEHOLDERS)
        expect = step["expect"]
        if not isinstance(expect, dict) or not expect:
            self.fail(f"{where}.expect", "a JSON object of reply field -> regular expression (or exact value)")
        self.placeholders(expect, f"{where}.expect", EXPECT_PLACEHOLDERS)
        for field, pattern in expect.items():
            if isinstance(pattern, str):
                try:
                    re.compile(PLACEHOLDER.sub("", pattern))
                except re.error as error:
                    self.fail(f"{where}.expect.{field}", f"a regular expression ({error})")
        return Step(self.name(step["name"], f"{where}.name"), socket, self.name(step.get("listen_on", socket), f"{where}.listen_on"), send, expect)

    def placeholders(self, value, where: str, known: set[str]) -> None:
        for string in _strings(value):
            for unknown in set(PLACEHOLDER.findall(string)) - known:
                self.fail(where, f"only the placeholders {', '.join('{' + k + '}' for k in sorted(known))}, not {{{unknown}}}")


def _strings(value):
    """Every string inside a JSON value, keys excepted."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def fill(value, token: str):
    """`value` (a JSON value to send) with `{token}` replaced in every string."""
    if isinstance(value, str):
        return value.replace("{token}", token)
    if isinstance(value, dict):
        return {key: fill(item, token) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, token) for item in value]
    return value


def pattern(expected: str, token: str) -> re.Pattern:
    """The regular expression a declared `expect` string stands for, with its placeholders filled."""
    parts = {"token": re.escape(token), "iso_time": ISO_TIME}
    return re.compile(PLACEHOLDER.sub(lambda m: parts[m[1]], expected), re.DOTALL)
