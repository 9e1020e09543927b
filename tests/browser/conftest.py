"""Headless Chromium, driven by Playwright, against the real sandbox on a free port.

Which Chromium: `$CHROMIUM` when set; else the first of SYSTEM_CHROMIUMS found (Debian's
/usr/bin/chromium, which CI installs, comes first); else the one `python -m playwright install chromium`
downloaded. The tests run whenever a Chromium and Playwright are present and skip with the reason
otherwise; with REQUIRE_BROWSER=1 (set by .ci/run) a missing browser fails them instead, so CI cannot
pass without them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.app import TABLE
from tests.support.sandbox import app_fixture

SYSTEM_CHROMIUMS = (
    "/usr/bin/chromium",  # Debian: apt-get install chromium chromium-driver
    "chromium", "chromium-browser", "google-chrome",  # on PATH elsewhere
    "/Applications/Chromium.app/Contents/MacOS/Chromium",  # macOS: brew install --cask chromium
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
# The flags this machine's Chromium needs (see the machine notes): no sandbox as root, and no calls home.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1000, "height": 700}


def _found(candidate: str) -> str | None:
    return candidate if Path(candidate).is_file() else shutil.which(candidate)


def chromium_executable() -> tuple[str | None, str | None]:
    """(the Chromium to launch, None) or (None, what is missing and how to get it). A None path with no
    problem means Playwright's own download."""
    if os.environ.get("CHROMIUM"):
        path = _found(os.environ["CHROMIUM"])
        return (path, None) if path else (None, f"CHROMIUM={os.environ['CHROMIUM']} is not an executable file")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None, "Playwright for Python is not installed: .venv/bin/pip install -r requirements-dev.txt"
    for candidate in SYSTEM_CHROMIUMS:
        if path := _found(candidate):
            return path, None
    with sync_playwright() as playwright:
        if Path(playwright.chromium.executable_path).is_file():
            return None, None
    return None, ("no Chromium found: apt-get install chromium chromium-driver (Debian), or "
                  ".venv/bin/python -m playwright install chromium, or set CHROMIUM to a Chromium or Chrome binary")


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


@dataclass
class Watched:
    """A page and everything it reported: console errors, uncaught exceptions, dialogs (dismissed)."""

    page: object
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return self.console_errors + self.page_errors + [f"dialog: {d}" for d in self.dialogs]


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


def wait_until_open(page) -> None:
    page.locator('#state[data-state="open"]').wait_for()


def send(page, text: str, everyone: bool = False) -> None:
    """Type `text` into the labelled input as a person would and press Enter."""
    page.get_by_label("Send to everyone").set_checked(everyone)
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_label("Message", exact=True).press("Enter")


def expect(target, **options):
    """Playwright's `expect`, imported late so that a machine without Playwright still collects these tests."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target, **options)
