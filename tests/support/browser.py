"""What the browser tests share: where Chromium is and how it is run, a watched page, and a page on
another origin (headless Chromium, driven by Playwright, against the real sandbox)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

SYSTEM_CHROMIUMS = (
    "/usr/bin/chromium",  # Debian: apt-get install chromium chromium-driver
    "chromium",
    "chromium-browser",
    "google-chrome",  # on PATH elsewhere
    "/Applications/Chromium.app/Contents/MacOS/Chromium",  # macOS: brew install --cask chromium
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
# The flags this machine's Chromium needs (see the machine notes): no sandbox as root, and no calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
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
    return None, (
        "no Chromium found: apt-get install chromium chromium-driver (Debian), or "
        ".venv/bin/python -m playwright install chromium, or set CHROMIUM to a Chromium or Chrome binary"
    )


@dataclass
class Watched:
    """A page and everything it reported: console errors, uncaught exceptions, dialogs (dismissed)."""

    page: object
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return self.console_errors + self.page_errors + [f"dialog: {d}" for d in self.dialogs]


class ForeignPage(BaseHTTPRequestHandler):
    """A page on another origin that tries to open a socket to the sandbox."""

    def do_GET(self):
        body = b"<!doctype html><title>someone else's site</title>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


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
