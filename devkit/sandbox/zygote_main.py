"""The preloaded parent: import the libraries functions share once, then fork a worker per request.

Run by path (`python zygote_main.py <request fd>`), never imported by the kit; standard library only
until it preloads. Protocol with devkit/sandbox/zygote.py:
- requests arrive on the Unix socket `<request fd>`: a 4-byte big-endian length and a JSON document
  `{"id", "env", "cwd", "early", "own"}` (`own`: the top-level names the function's folder brings),
  with three file descriptors attached (the worker's stdin, stdout, stderr);
- replies go out on stdout as the same frames: `{"ready": true, "stage": "first", "modules": {name: folder}}`
  once FIRST is loaded, `{"stage": "all", "modules": {...}}` once everything is, then `{"id", "pid"}` (or
  `{"id", "error"}`) per request and `{"exited": pid, "status": code}` as workers end.
The load is staged: a request marked `early` (a function that makes no AWS client) is forked as soon as
it arrives between two imports of the second stage; the others wait for everything. Before forking the
parent imports, and makes boto3's default session with its data loaded (`warm_boto3`):
no client, credentials, region, thread or socket besides its own request socket (closed in the child),
so nothing of it leaks into a worker; a worker whose environment names another profile, config file or
data path drops that session. EOF on the request socket ends it.
"""

import gc
import importlib
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time
import traceback

HEADER = struct.Struct(">I")
# What functions share and what costs most to import, in two stages. FIRST is what a function that
# makes no AWS client needs (a page: Powertools' logger, Jinja2): its workers may fork as soon as
# FIRST is loaded. REST is boto3 and the parts of botocore every client loads (then `warm_boto3`).
# Missing ones are skipped (the kit does not require them).
FIRST = (
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
    "jinja2",
    "json",
    "logging",
    "datetime",
    "uuid",
    "concurrent.futures",
    "concurrent.futures.thread",
)
REST = (
    "urllib3",
    "botocore.session",
    "botocore.client",
    "botocore.endpoint",
    "botocore.httpsession",
    "botocore.parsers",
    "botocore.serialize",
    "botocore.auth",
    "botocore.regions",
    "botocore.retries.standard",
    "botocore.credentials",
    "botocore.config",
    "botocore.exceptions",
    "botocore.paginate",
    "boto3",
    "boto3.session",
)


def preload(names, between=lambda: None) -> None:
    """Import `names` (skipping missing ones), calling `between()` after each."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
        between()


def loaded_packages() -> dict[str, str]:
    """Each third-party top-level module loaded now -> the import-path folder it was loaded from (the
    sandbox reads the distributions' metadata there: zygote.py `own_copy`)."""
    folders = sorted((os.path.abspath(p) for p in sys.path[1:] if p), key=len, reverse=True)
    found = {}
    for name, module in list(sys.modules.items()):
        if "." in name or name in sys.stdlib_module_names or name == "__main__":
            continue
        where = getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", None) or ()), None)
        folder = next((f for f in folders if where and os.path.abspath(where).startswith(f + os.sep)), None)
        if folder is not None:
            found[name] = folder
    return found


# What botocore reads while it makes boto3's default session and loads its data (the profile's config
# and credentials files, the data path): a worker keeps the parent's session only if its own
# environment agrees on each of them; otherwise it makes its own, as a fresh interpreter would.
SESSION_INPUTS = ("HOME", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_DATA_PATH")
SERVICES_VARIABLE = "DEVKIT_CLIENT_SERVICES"  # comma-separated boto3 service names whose models to load


def warm_boto3(services: list[str]) -> dict[str, str | None] | None:
    """Make boto3's default session and load, once for every worker, what a worker's first client
    would otherwise parse for 100-150 ms: the endpoints, partitions, SDK defaults, retry rules, the list
    of services and `services`' models (unknown ones skipped). No client is made and no credentials or
    region are resolved: each worker's first client reads those from its own environment. Returns the
    SESSION_INPUTS the session was made with; None without boto3."""
    try:
        import boto3
        from botocore.exceptions import DataNotFoundError, UnknownServiceError
    except ImportError:
        return None
    boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION._session
    loader = session.get_component("data_loader")
    loader.list_available_services("service-2")
    for name in ("endpoints", "partitions", "sdk-default-configuration", "_retry"):
        loader.load_data(name)
    for service in services:
        try:
            session.get_service_model(service)
            loader.load_service_model(service, "endpoint-rule-set-1")
        except (UnknownServiceError, DataNotFoundError):
            continue
    return {name: os.environ.get(name) for name in SESSION_INPUTS}


def _keep_or_drop_session(made_with: dict[str, str | None] | None) -> None:
    """In a worker, with its environment in place: drop the parent's boto3 session if it was made for
    another profile, config file or data path."""
    if made_with is not None and any(os.environ.get(k) != v for k, v in made_with.items()):
        import boto3

        boto3.DEFAULT_SESSION = None


def _reply(out: int, message: dict) -> None:
    body = json.dumps(message).encode()
    data = HEADER.pack(len(body)) + body
    while data:
        data = data[os.write(out, data) :]


def _receive(requests: socket.socket):
    """One request and its descriptors, or None at EOF."""
    first, fds, _, _ = socket.recv_fds(requests, HEADER.size, 3)
    header = _complete(requests, first, HEADER.size) if first else None
    body = _complete(requests, b"", HEADER.unpack(header)[0]) if header is not None else None
    return (json.loads(body), fds) if body is not None else None


def _complete(requests: socket.socket, data: bytes, size: int) -> bytes | None:
    """`data` read on until it is `size` bytes long; None at EOF."""
    while len(data) < size:
        more = requests.recv(size - len(data))
        if not more:
            return None
        data += more
    return data


def _become_worker(request: dict, fds: list[int], keep_closed: list[int], session_inputs: dict | None) -> None:
    """In the forked child: become the function's worker, as `python worker_main.py` would be; never returns."""
    code = 1
    try:
        os.setsid()  # its own session and process group, as a fresh worker has: killed as one
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in [*fds, *keep_closed]:
            os.close(fd)
        os.environ.clear()  # the function's environment, wholesale: nothing of the parent's
        os.environ.update(request["env"])
        time.tzset()  # TZ is the function's (Lambda: UTC)
        _keep_or_drop_session(session_inputs)
        os.chdir(request["cwd"])
        random.seed()  # its own random state, never the parent's or a sibling's
        worker_main = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker_main.py")
        sys.argv = [worker_main]
        import worker_main as worker  # this folder is sys.path[0]; worker.main() takes it off

        code = worker.main()
    except SystemExit as exit:  # a handler's sys.exit(n): the worker exits with n, as a process would
        code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
        if not isinstance(exit.code, int | None):
            print(exit.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code or 0)


def main() -> int:
    requests = socket.socket(fileno=int(sys.argv[1]))
    requests.setblocking(True)
    replies = os.dup(1)
    os.dup2(2, 1)  # anything a preloaded library prints goes to the log, never into the replies
    os.set_inheritable(replies, False)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake select(); children are reaped below
    closing = [requests.fileno(), replies, wake_read, wake_write]
    preload(FIRST)
    # Frozen: the collections the second stage's imports trigger never write to the first stage's
    # objects, so the pages an early worker shares with this parent stay shared.
    gc.freeze()
    _reply(replies, {"ready": True, "stage": "first", "modules": loaded_packages()})
    held: list = []  # requests that need the second stage, forked once it is loaded
    session_inputs: dict | None = None  # set once boto3's session is made (`warm_boto3`)

    def between() -> None:
        """Between two imports of the second stage: fork each early request waiting now, hold the others."""
        while select.select([requests.fileno()], [], [], 0)[0]:
            received = _receive(requests)
            if received is None:
                sys.exit(0)
            request, fds = received
            if request.get("early"):
                _fork(request, fds, replies, closing, session_inputs, early=True)
            else:
                held.append((request, fds))

    preload(REST, between)
    session_inputs = warm_boto3([name for name in os.environ.get(SERVICES_VARIABLE, "").split(",") if name])
    gc.freeze()  # likewise for the workers' own collections
    between()
    _reply(replies, {"stage": "all", "modules": loaded_packages()})
    for request, fds in held:
        _fork(request, fds, replies, closing, session_inputs, early=False)
    while True:
        try:
            ready, _, _ = select.select([requests.fileno(), wake_read], [], [])
        except InterruptedError:
            ready = []
        if wake_read in ready:
            os.read(wake_read, 512)
        _reap(replies)
        if requests.fileno() not in ready:
            continue
        received = _receive(requests)
        if received is None:
            return 0
        request, fds = received
        _fork(request, fds, replies, closing, session_inputs, early=False)


def _fork(request: dict, fds: list[int], replies: int, closing: list[int], session_inputs: dict | None, early: bool) -> None:
    """Fork the worker `request` asks for and reply with its pid (or the error). An early request
    naming a module this parent has loaded now (its function brings its own), or arriving once all is
    loaded, is answered `{"id", "again": true}`: the sandbox checks it again against everything."""
    if request.get("early") and (not early or set(request.get("own", ())) & set(sys.modules)):
        _reply(replies, {"id": request["id"], "again": True})
        for fd in fds:
            os.close(fd)
        return
    try:
        pid = os.fork()
    except OSError as error:
        _reply(replies, {"id": request["id"], "error": str(error)})
    else:
        if pid == 0:
            _become_worker(request, fds, closing, session_inputs)
        _reply(replies, {"id": request["id"], "pid": pid})
    for fd in fds:
        os.close(fd)


def _reap(replies: int) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _reply(replies, {"exited": pid, "status": os.waitstatus_to_exitcode(status)})


if __name__ == "__main__":
    sys.exit(main())
