"""The chat page as a person uses it, in headless Chromium against the real sandbox."""

import os
import re

import pytest

from tests.app.support import ISO_MILLIS
from tests.support.browser import expect, send, wait_until_open
from tests.support.repo import ROOT
from tests.support.sandbox import start_app, wait_until

pytestmark = pytest.mark.browser

CONNECTED = re.compile(r"^Connected as guest-[0-9a-f]{8}$")  # the page names the visitor its token stands for
SCREENSHOT = ROOT / "docs" / "screenshot.png"


def test_the_page_loads_without_console_errors_and_shows_it_is_connected(open_page, page_url, sandbox):
    watched = open_page(page_url)
    page = watched.page
    wait_until_open(page)
    expect(page.locator("#state")).to_have_text(CONNECTED)
    assert page.evaluate("document.body.dataset.wssUrl") == f"ws://localhost:{sandbox.port}"
    assert page.evaluate("document.body.dataset.name") in page.locator("#state").text_content()
    assert watched.problems() == []


def test_the_input_state_and_messages_are_labelled_for_assistive_technology(open_page, page_url):
    page = open_page(page_url).page
    wait_until_open(page)
    expect(page.get_by_label("Message", exact=True)).to_be_editable()
    expect(page.get_by_role("status")).to_have_text(CONNECTED)
    log = page.get_by_role("log", name="Messages")
    expect(log).to_have_attribute("aria-live", "polite")
    send(page, "for a screen reader")
    expect(log.get_by_role("listitem")).to_have_count(1)


def test_enter_sends_the_message_and_shows_the_timestamped_echo(open_page, page_url):
    watched = open_page(page_url)
    page = watched.page
    wait_until_open(page)
    send(page, "hello from Chromium")
    echo = page.locator("#messages li.echo")
    expect(echo).to_have_count(1)
    expect(echo.locator(".text")).to_have_text(re.compile(rf"^{ISO_MILLIS} - Echoing hello from Chromium$"))
    me = page.evaluate("document.body.dataset.name")
    expect(echo.locator(".from")).to_have_text(f"{me} (you)")  # the echo names its sender: this page's guest
    expect(page.get_by_label("Message", exact=True)).to_have_value("")
    assert watched.problems() == []


@pytest.mark.parametrize(
    "how, text, reason",
    [
        ("typed", "", '"text" is empty'),
        ("typed", "   ", '"text" is empty'),
        # The input's maxlength stops a person typing more; a script (or another client) is not stopped.
        ("set by script", "x" * 4001, '"text" is 4001 characters long; the limit is 4000'),
    ],
)
def test_a_rejected_message_shows_as_an_error_and_the_chat_goes_on(open_page, page_url, how, text, reason):
    page = open_page(page_url).page
    wait_until_open(page)
    if how == "typed":
        send(page, text)
    else:
        page.evaluate("text => { document.getElementById('text').value = text; }", text)
        page.get_by_label("Message", exact=True).press("Enter")
    error = page.locator("#messages li.error")
    expect(error).to_have_text(f"Error {reason}")
    send(page, "still here")
    expect(page.locator("#messages li.echo")).to_contain_text("Echoing still here")
    expect(page.locator("#state")).to_have_attribute("data-state", "open")


def test_send_to_everyone_reaches_both_pages_as_a_broadcast_naming_the_sender(open_page, page_url):
    alice, bob = open_page(page_url).page, open_page(page_url).page
    wait_until_open(alice)
    wait_until_open(bob)
    name = alice.evaluate("document.body.dataset.name")
    assert name != bob.evaluate("document.body.dataset.name"), "each visit is a guest of its own"
    send(alice, "hello, everyone", everyone=True)
    for page, shown in ((alice, f"{name} (you)"), (bob, name)):
        item = page.locator("#messages li.broadcast")
        expect(item).to_have_count(1)
        expect(item).to_have_text(re.compile(rf"^Everyone {re.escape(shown)} {ISO_MILLIS} - hello, everyone$"))
    expect(bob.locator("#messages li")).to_have_count(1)  # a broadcast, not an echo of someone else's text


def test_a_socket_closed_by_the_server_shows_as_closed_and_reconnects(open_page, page_url, connection_ids, management_api):
    before = connection_ids()
    page = open_page(page_url).page
    wait_until_open(page)
    (first,) = wait_until(lambda: connection_ids() - before, what="the page's connection row")
    management_api.delete_connection(ConnectionId=first)  # what a handler does to hang up on a client
    state = page.locator("#state")
    expect(state).to_have_attribute("data-state", "closed")
    expect(state).to_contain_text("reconnecting")
    wait_until_open(page)
    (second,) = wait_until(lambda: connection_ids() - before - {first}, what="the new connection's row")
    assert second != first and first not in connection_ids()
    send(page, "back again")
    expect(page.locator("#messages li.echo")).to_contain_text("Echoing back again")


def test_a_socket_closed_for_idleness_shows_why_and_reconnects(chromium, open_page, tmp_path):
    """API Gateway closes an idle socket with 1001 after 10 minutes; a sandbox of its own makes that 2 s."""
    with start_app(tmp_path, env={"SANDBOX_IDLE_SECONDS": "2"}) as idle:
        page = open_page(f"http://localhost:{idle.port}/").page
        wait_until_open(page)
        # The "closed" state lasts only until the reconnect (250-500 ms): record every state the page
        # shows rather than poll for it, which a busy machine can miss.
        page.evaluate("""() => {
            const state = document.querySelector("#state");
            window.shownStates = [];
            new MutationObserver(() => window.shownStates.push([state.dataset.state, state.textContent]))
                .observe(state, {attributes: true, childList: true, characterData: true, subtree: true});
        }""")
        page.wait_for_function(
            "() => window.shownStates.some(([state, text]) => state === 'closed' && text.includes('code 1001'))",
            timeout=10_000,
        )
        wait_until_open(page)
        send(page, "awake again")
        expect(page.locator("#messages li.echo")).to_contain_text("Echoing awake again")


def test_the_page_fits_a_phone_screen(open_page, page_url):
    watched = open_page(page_url, viewport={"width": 360, "height": 640}, is_mobile=True, has_touch=True)
    page = watched.page
    wait_until_open(page)
    send(page, "a-very-long-word-" * 40)
    expect(page.locator("#messages li.echo")).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360, "nothing scrolls sideways"
    controls = page.get_by_label("Message", exact=True), page.get_by_role("button", name="Send"), page.get_by_label("Send to everyone")
    for control in controls:
        box = control.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360 and box["y"] + box["height"] <= 640
    assert watched.problems() == []


def test_a_screenshot_of_the_working_page(open_page, page_url, tmp_path):
    """Always taken; written to docs/screenshot.png (shown in the README) only with UPDATE_SCREENSHOT=1."""
    page, other = open_page(page_url).page, open_page(page_url).page
    wait_until_open(page)
    wait_until_open(other)
    send(page, "Hello! Is anybody there?")
    expect(page.locator("#messages li")).to_have_count(1)
    send(other, "Hi from the other tab, to everyone", everyone=True)
    expect(page.locator("#messages li")).to_have_count(2)
    send(page, "<b>markup</b> arrives as plain text")
    expect(page.locator("#messages li")).to_have_count(3)
    send(page, " ")
    expect(page.locator("#messages li")).to_have_count(4)
    page.get_by_label("Message", exact=True).fill("Type here, press Enter")
    target = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") == "1" else tmp_path / "screenshot.png"
    png = page.screenshot(path=target)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
