"""`devkit.testing`: a pytest plugin that serves your app in the real sandbox and talks to it over real sockets.

Enable it with one line in your top conftest.py, `pytest_plugins = ["devkit.testing"]`, or `pytest -p devkit.testing`.
Its public names are a contract (README, "Testing your app"; tests/devkit/test_testing_contract.py):

    fixture sandbox          the app for one test; the sandbox process is shared by the session (per xdist worker)
      .url .ws_url .origin   the page (no trailing slash), its socket, an Origin the app allows
      .get(path, **kw)  .post(path, json=..., data=..., **kw)  -> Response
      .connect(headers=, query=, subprotocols=, origin=)       -> Socket
      .table(name)           boto3 Table on the embedded DynamoDB, by the name app.arc declares
      .log_lines()           what the sandbox printed since the test began
      .wait_for(condition, timeout=5, what=...)               poll until true; fails with the app's log
    Response  .status .headers .text .json()
    Socket    context manager; .send_json(obj) .send_text(str) .receive_json(timeout=5) .receive_text(timeout=5)
              .wait_closed(timeout=5) .close(code=1000) .close_code .received
    options   --target PAGE_URL|staging|production   --app-arc PATH

Each test starts clean: the app's tables are emptied before it, and its sockets are closed after it.
"""

from devkit.testing.app import Sandbox, WaitTimeout
from devkit.testing.client import ReceiveTimeout, Response, Socket, SocketClosed
from devkit.testing.plugin import devkit_running, pytest_addoption, pytest_pyfunc_call, pytest_runtest_makereport, sandbox
from devkit.testing.process import SandboxProcess

__all__ = [
    "ReceiveTimeout",
    "Response",
    "Sandbox",
    "SandboxProcess",
    "Socket",
    "SocketClosed",
    "WaitTimeout",
    "devkit_running",
    "pytest_addoption",
    "pytest_pyfunc_call",
    "pytest_runtest_makereport",
    "sandbox",
]
