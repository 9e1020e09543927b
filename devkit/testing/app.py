"""`Sandbox`: the app a test talks to, in the embedded sandbox or (with `--target`) a running copy elsewhere."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devkit.testing.client import LAST_LOG_LINES, Response, Socket, open_socket, request
from devkit.testing.process import SandboxProcess

DEFAULT_ORIGIN: Any = object()  # connect()'s default: the page's own Origin
AS_THE_PAGE: Any = object()  # connect()'s default subprotocols: what the app's page offers (smoke.json)


class WaitTimeout(AssertionError):
    """What `Sandbox.wait_for` waited for did not happen in time."""


class EmbeddedOnly(Exception):
    """A fixture needs the embedded services, which a `--target` run does not have."""


@dataclass
class Running:
    """Where the app answers: its page, its socket, and (for the embedded sandbox) the process and region."""

    page_url: str
    ws_url: str
    process: SandboxProcess | None = None
    region: str = "us-east-1"
    target: str = ""  # the --target given, if any
    app_arc: Path | None = None  # the manifest, for the page's declared subprotocols (smoke.json next to it)
    _session: Any = field(default=None, repr=False)
    _dynamodb: Any = field(default=None, repr=False)

    def prepare(self) -> None:
        """Import boto3 and load DynamoDB's model now (while the sandbox starts), so `dynamodb()` is quick."""
        if self._session is None:
            import boto3  # late: a --target run never needs it

            from devkit.contract import DUMMY_CREDENTIALS

            self._session = boto3.session.Session(
                region_name=self.region,
                aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            )
            self._session.resource("dynamodb", endpoint_url="http://127.0.0.1:9")  # loads the model; never called

    def page_subprotocols(self) -> list[str] | None:
        """What a visitor's page offers as `Sec-WebSocket-Protocol` (a token it was given, say), as the
        app declares it in smoke.json's `socket_url.subprotocols`, read from the page now; None when the
        app declares none."""
        from devkit.deploy import smoke, smoke_declaration

        path = smoke_declaration.path_for(self.app_arc) if self.app_arc else None
        if path is None or not path.is_file():
            return None
        declaration = smoke_declaration.load(path)
        if not declaration.subprotocols:
            return None
        try:
            return smoke.page_subprotocols(self.page_url, declaration)
        except smoke.StepFailed as problem:
            raise AssertionError(f"could not read the subprotocols smoke.json declares from the page: {problem}") from None

    def dynamodb(self):
        """boto3's DynamoDB resource on the embedded database (made once)."""
        if self._dynamodb is None:
            assert self.process is not None and self.process.dynamodb_endpoint, "the sandbox is not ready"
            self.prepare()
            self._dynamodb = self._session.resource("dynamodb", endpoint_url=self.process.dynamodb_endpoint)
        return self._dynamodb


@dataclass
class Sandbox:
    """One test's view of the running app: HTTP, sockets, tables and log. Sockets it opened are closed
    when the test ends (`finish()`)."""

    running: Running
    sockets: list[Socket] = field(default_factory=list)
    _log_start: int = 0

    @property
    def url(self) -> str:
        """The page's URL, without a trailing slash: `sandbox.url + "/"` is the page."""
        return self.running.page_url.rstrip("/")

    @property
    def ws_url(self) -> str:
        return self.running.ws_url

    @property
    def origin(self) -> str:
        """The page's origin: an Origin the app allows."""
        parts = urlsplit(self.running.page_url)
        return f"{parts.scheme}://{parts.netloc}"

    def get(self, path: str, **kw) -> Response:
        """GET `url + path`; `headers=`, `timeout=`. Any status is returned, none raised."""
        return request("GET", self.url + path, **kw)

    def post(self, path: str, *, json: Any = None, **kw) -> Response:
        """POST to `url + path`: `json=` (sent encoded, with its Content-Type) or `data=`; `headers=`, `timeout=`."""
        return request("POST", self.url + path, json_body=json, **kw)

    def connect(
        self,
        *,
        headers: dict[str, str] | None = None,
        query: dict | str | None = None,
        subprotocols: Any = AS_THE_PAGE,
        origin: Any = DEFAULT_ORIGIN,
        timeout: float = 10,
    ) -> Socket:
        """A WebSocket client connected to the app as a visitor of its page would be: with the page's
        Origin unless `origin` says another (None: no Origin header), and offering the subprotocols the
        page offers (a token it hands out, as smoke.json declares them) unless `subprotocols` says others
        (None: none, an anonymous client). A refused handshake raises
        websocket.WebSocketBadStatusException, whose `status_code` says how it was refused."""
        if subprotocols is AS_THE_PAGE:
            subprotocols = self.running.page_subprotocols()
        socket = open_socket(
            self.ws_url,
            origin=self.origin if origin is DEFAULT_ORIGIN else origin,
            headers=headers,
            query=query,
            subprotocols=subprotocols,
            timeout=timeout,
            log_tail=self._log_tail,
        )
        self.sockets.append(socket)
        return socket

    def table(self, name: str):
        """A boto3 `Table` on the embedded DynamoDB for the table app.arc declares as `name`."""
        process = self._embedded("table()")
        if name not in process.tables:
            raise KeyError(f"app.arc declares no table {name!r}; it declares: {', '.join(process.tables) or 'none'}")
        return self.running.dynamodb().Table(process.tables[name])

    def log_lines(self) -> list[str]:
        """What the sandbox printed since the test began, one string a line."""
        process = self._embedded("log_lines()")
        with open(process.log_path, "rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace").splitlines()

    def __repr__(self) -> str:
        return f"<sandbox {self.url}>"

    def wait_for(self, condition: Callable[[], Any], timeout: float = 5, what: str = "the condition") -> Any:
        """Poll `condition` until it returns something true, and return that; fails after `timeout`
        seconds saying `what` was waited for, with the app's last log lines."""
        __tracebackhide__ = True
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                lines = "".join(f"\n    {line}" for line in self._log_tail())
                raise WaitTimeout(f"waited {timeout:g} s for {what}" + (f"; the app's last log lines:{lines}" if lines else ""))
            time.sleep(0.02)

    def start(self) -> None:
        """Begin a test: note where the log is, and empty every table of the app."""
        if self.running.process is None:
            return
        self._log_start = self.running.process.log_path.stat().st_size
        for name in self.running.process.tables:
            _empty(self.table(name))

    def finish(self) -> None:
        for socket in self.sockets:
            socket.close()

    def _embedded(self, what: str) -> SandboxProcess:
        if self.running.process is None:
            raise EmbeddedOnly(f"{what} needs the embedded sandbox; this run is against --target {self.running.target}")
        return self.running.process

    def _log_tail(self) -> list[str]:
        return self.log_lines()[-LAST_LOG_LINES:] if self.running.process else []


def _empty(table) -> None:
    """Delete every item of `table`, following Scan's pagination."""
    keys = [key["AttributeName"] for key in table.key_schema]
    scan: dict = {
        "ProjectionExpression": ", ".join(f"#k{i}" for i in range(len(keys))),
        "ExpressionAttributeNames": {f"#k{i}": key for i, key in enumerate(keys)},
    }
    with table.batch_writer() as batch:
        while True:
            page = table.scan(**scan)
            for item in page["Items"]:
                batch.delete_item(Key={key: item[key] for key in keys})
            if "LastEvaluatedKey" not in page:
                return
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def app_arc_for(option: str | None, rootdir: Path, invocation_dir: Path) -> Path:
    """The app under test: `--app-arc`, else app.arc in pytest's rootdir, else the nearest one above the
    directory pytest was started in."""
    if option:
        return Path(option).resolve()
    for directory in (rootdir, invocation_dir, *invocation_dir.parents):
        if (directory / "app.arc").is_file():
            return (directory / "app.arc").resolve()
    raise FileNotFoundError(f"no app.arc in {rootdir} or above {invocation_dir}: pass --app-arc PATH")
