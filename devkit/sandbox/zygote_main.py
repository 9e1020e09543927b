"""The preloaded parent: import the libraries functions share once, then fork a worker per request.

Run by path (`python zygote_main.py <request fd>`), never imported by the kit; standard library only
until it preloads. Protocol with devkit/sandbox/zygote.py:
- requests arrive on the Unix socket `<request fd>`: a 4-byte big-endian length and a JSON document
  `{"id", "env", "cwd"}`, with three file descriptors attached (the worker's stdin, stdout, stderr);
- replies go out on stdout as the same frames: first `{"ready": true, "preloaded": {distribution: version}, "modules": [top-level names]}`,
  then `{"id", "pid"}` (or `{"id", "error"}`) per request and `{"exited": pid, "status": code}` as workers end.
Before forking the parent imports, and makes boto3's default session with its data loaded (`warm_boto3`):
no client, credentials, region, thread or socket besides its own request socket (closed in the child),
so nothing of it leaks into a worker; a worker whose environment names another profile, config file or
data path drops that session. EOF on the request socket ends it.
"""

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
# What functions share and what costs most to import: boto3 and the parts of botocore every client
# loads, Powertools' logger, Jinja2. Missing ones are skipped (the kit does not require them).
PRELOAD = (
    "boto3", "boto3.session", "botocore.session", "botocore.client", "botocore.endpoint", "botocore.httpsession",
    "botocore.parsers", "botocore.serialize", "botocore.auth", "botocore.regions", "botocore.retries.standard",
    "botocore.credentials", "botocore.config", "botocore.exceptions", "botocore.paginate",
    "aws_lambda_powertools", "aws_lambda_powertools.logging", "jinja2",
    "concurrent.futures", "concurrent.futures.thread", "urllib3", "json", "logging", "datetime", "uuid",
)


def preload() -> tuple[dict[str, str], list[str]]:
    """Import PRELOAD; the third-party distributions now loaded, with their versions, and their top-level modules."""
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    from importlib.metadata import packages_distributions, version

    owners = packages_distributions()
    loaded = {name.split(".")[0] for name in list(sys.modules)} - set(sys.stdlib_module_names)
    found = {}
    for top in loaded:
        for distribution in owners.get(top, ()):
            try:
                found[distribution] = version(distribution)
            except Exception:  # metadata without a version: still preloaded
                found[distribution] = ""
    return found, sorted(top for top in loaded if top in owners)


# What botocore reads while it makes boto3's default session and loads its data (the profile's config
# and credentials files, the data path): a worker keeps the parent's session only if its own
# environment agrees on each of them; otherwise it makes its own, as a fresh interpreter would.
SESSION_INPUTS = ("HOME", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                  "AWS_DATA_PATH")
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
        data = data[os.write(out, data):]


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
    distributions, modules = preload()
    session_inputs = warm_boto3([name for name in os.environ.get(SERVICES_VARIABLE, "").split(",") if name])
    _reply(replies, {"ready": True, "preloaded": distributions, "modules": modules})
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # only to wake select(); children are reaped below
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
        try:
            pid = os.fork()
        except OSError as error:
            _reply(replies, {"id": request["id"], "error": str(error)})
        else:
            if pid == 0:
                _become_worker(request, fds, [requests.fileno(), replies, wake_read, wake_write], session_inputs)
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
