"""Headless Chromium, driven by Playwright, against the real sandbox on a free port.

Which Chromium: `$CHROMIUM` when set; else the first of SYSTEM_CHROMIUMS found (Debian's
/usr/bin/chromium, which CI installs, comes first); else the one `python -m playwright install chromium`
downloaded. The tests run whenever a Chromium and Playwright are present and skip with the reason
otherwise; with REQUIRE_BROWSER=1 (set by .ci/run) a missing browser fails them instead, so CI cannot
pass without them.
"""

from __future__ import annotations

import os
import threading
from http.server import ThreadingHTTPServer

import pytest

from tests.app.support import TABLE, make_context
from tests.support.browser import CHROMIUM_ARGS, VIEWPORT, ForeignPage, Watched, chromium_executable
from tests.support.sandbox import app_fixture


# Package scope, not session: Playwright's sync API keeps an event loop in this thread while it runs,
# which would break later tests that call asyncio.run(); it is shut down when tests/browser is done.
@pytest.fixture(scope="package")
def chromium():
    executable, missing = chromium_executable()
    if missing:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but the browser tests cannot run: {missing}", pytrace=False)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# The real sandbox serving this repository's app, after `chromium` (so a missing browser skips first).
# Its page is http://localhost:PORT/ (the socket's host).
sandbox = app_fixture("package", after=("chromium",))


@pytest.fixture(scope="package")
def page_url(sandbox) -> str:
    return f"http://localhost:{sandbox.port}/"


@pytest.fixture(scope="package")
def connection_ids(sandbox):
    """() -> the ids in the connections table, read from the sandbox's DynamoDB (endpoint from its banner)."""
    return lambda: sandbox.connection_ids(TABLE)


@pytest.fixture(scope="package")
def management_api(sandbox):
    """boto3's Management API client pointed at the sandbox, exactly as a handler's would be."""
    return sandbox.management()


@pytest.fixture
def open_page(chromium):
    """open_page(url=None, **context_options) -> Watched; each page gets its own browser context."""
    contexts = []

    def open_(url: str | None = None, **options) -> Watched:
        context = chromium.new_context(viewport=options.pop("viewport", VIEWPORT), **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        watched = Watched(page)
        page.on("console", lambda m: m.type == "error" and watched.console_errors.append(m.text))
        page.on("pageerror", lambda error: watched.page_errors.append(str(error)))
        page.on("dialog", lambda dialog: (watched.dialogs.append(f"{dialog.type}: {dialog.message}"), dialog.dismiss()))
        if url:
            page.goto(url)
        return watched

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def foreign_origin():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ForeignPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def lambda_context():
    return make_context()
