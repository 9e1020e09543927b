"""The pytest side of `devkit.testing`: the `--target` and `--app-arc` options, the `sandbox` fixture,
and the report sections a failing test gets (the messages its sockets received, the app's log)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devkit.testing.app import EmbeddedOnly, Running, Sandbox, app_arc_for
from devkit.testing.process import SandboxProcess

STAGES = ("staging", "production")


def pytest_addoption(parser) -> None:
    group = parser.getgroup("devkit", "devkit.testing: your app in the sandbox")
    group.addoption(
        "--target",
        metavar="PAGE_URL",
        default=None,
        help="run the socket tests against a running copy of the app: its page URL (another `make sandbox`,"
        " a deployed stage), or `staging`/`production` for that stack's PageUrl output; tests"
        " needing the embedded services (table(), log_lines()) skip",
    )
    group.addoption(
        "--app-arc", metavar="PATH", default=None, help="the app to test (default: app.arc in pytest's rootdir, else the nearest above the current directory)"
    )


@pytest.fixture(scope="session")
def devkit_running(request, tmp_path_factory) -> Iterator[Running]:
    """The app, running for the whole session (per pytest-xdist worker): the embedded sandbox on a port
    it chose, or the `--target` copy."""
    config = request.config
    app_arc = app_arc_for(config.getoption("app_arc"), config.rootpath, config.invocation_params.dir)
    target = config.getoption("target")
    if target:
        yield _target(target, app_arc)
        return
    from devkit.manifest import load

    with SandboxProcess(app_arc, log_dir=tmp_path_factory.mktemp("devkit-sandbox"), wait=False) as process:
        running = Running("", "", process, load(app_arc).aws.region, app_arc=app_arc)
        running.prepare()  # boto3 is imported while the sandbox starts, not after
        process.wait_until_ready()
        running.page_url, running.ws_url = process.page_url, process.socket_url
        yield running


@pytest.fixture
def sandbox(devkit_running: Running) -> Iterator[Sandbox]:
    """The app for one test. It starts clean: every table of the app is emptied before the test, and
    `log_lines()` holds only what was printed since. Sockets the test opened are closed after it."""
    view = Sandbox(devkit_running)
    view.start()
    yield view
    view.finish()


def _target(target: str, app_arc) -> Running:
    from devkit.deploy import smoke, smoke_declaration

    page_url = target
    if target in STAGES:
        from devkit.deploy.command import stage_page_url

        page_url = stage_page_url(app_arc, target)
    found = smoke.Smoke(page_url, smoke_declaration.load(smoke_declaration.path_for(app_arc)), smoke.DEFAULT_TIMEOUT_SECONDS)
    try:
        smoke.page(found)
        smoke.socket_url(found)
    except (smoke.StepFailed, OSError, ValueError) as error:
        pytest.fail(f"--target {target}: cannot find the app's socket URL: {error}", pytrace=False)
    return Running(page_url, found.wss_url, target=target, app_arc=app_arc)


@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    """A test that needs the embedded services skips under --target, saying so."""
    outcome = yield
    if outcome.excinfo and isinstance(outcome.excinfo[1], EmbeddedOnly):
        outcome.force_exception(pytest.skip.Exception(str(outcome.excinfo[1]), _use_item_location=True))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    view = getattr(item, "funcargs", {}).get("sandbox")
    if report.when != "call" or not report.failed or not isinstance(view, Sandbox):
        return
    for number, socket in enumerate(view.sockets, 1):
        received = "\n".join(repr(message) for message in socket.received) or "(nothing)"
        report.sections.append((f"socket {number} received ({socket.url})", received))
    if view.running.process is not None:
        report.sections.append(("sandbox log during the test", "\n".join(view.log_lines()) or "(nothing)"))
