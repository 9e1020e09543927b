"""The page as an attacker would try it. Each test fails when its defence is taken away.

Most run twice: under the page's Content-Security-Policy, and with Chromium told to ignore it
(`bypass_csp`), so each layer (textContent, autoescaping, CSP, the $connect origin check) is shown to
hold on its own rather than hiding behind another.
"""

import pytest

from devkit.sandbox.loader import load_handler
from tests.support.browser import expect, send, wait_until_open
from tests.support.repo import ROOT, load_event
from tests.support.sandbox import wait_until

pytestmark = pytest.mark.browser

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<svg onload=alert(1)>",
    '"><iframe srcdoc="<script>parent.alert(1)</script>">',
]
CSP_MODES = {"under the CSP": False, "with the CSP bypassed": True}
# Time for an image error or onload handler to fire had markup been parsed (they fire within milliseconds).
HANDLERS_MAY_FIRE_MS = 300


def elements_made_from_messages(page) -> list[str]:
    """Tags of every element in #messages other than the page's own <li> and <span>s."""
    return page.eval_on_selector_all("#messages *", "all => all.map(e => e.localName).filter(n => n !== 'li' && n !== 'span')")


@pytest.mark.parametrize("bypass_csp", CSP_MODES.values(), ids=CSP_MODES.keys())
def test_markup_in_an_echo_is_shown_as_text_and_runs_nothing(open_page, page_url, bypass_csp):
    watched = open_page(page_url, bypass_csp=bypass_csp)
    page = watched.page
    wait_until_open(page)
    for payload in PAYLOADS:
        send(page, payload)
    echoes = page.locator("#messages li.echo")
    expect(echoes).to_have_count(len(PAYLOADS))
    page.wait_for_timeout(HANDLERS_MAY_FIRE_MS)
    shown = {text.split(" - Echoing ", 1)[1] for text in echoes.all_text_contents()}
    assert shown == set(PAYLOADS), "each payload is shown literally"
    assert elements_made_from_messages(page) == []
    assert watched.dialogs == []


@pytest.mark.parametrize("bypass_csp", CSP_MODES.values(), ids=CSP_MODES.keys())
def test_markup_broadcast_by_another_user_is_shown_as_text_and_runs_nothing(open_page, page_url, bypass_csp):
    attacker, victim = open_page(page_url), open_page(page_url, bypass_csp=bypass_csp)
    wait_until_open(attacker.page)
    wait_until_open(victim.page)
    payload = "<img src=x onerror=alert(document.domain)>"
    send(attacker.page, payload, everyone=True)
    item = victim.page.locator("#messages li.broadcast")
    expect(item).to_have_count(1)
    victim.page.wait_for_timeout(HANDLERS_MAY_FIRE_MS)
    assert item.text_content().endswith(" - " + payload)
    assert elements_made_from_messages(victim.page) == []
    assert victim.dialogs == []


@pytest.mark.parametrize(
    "suffix",
    [
        '?x="><script>alert(1)</script>',
        "?x=<img src=x onerror=alert(1)>#<svg onload=alert(2)>",
    ],
)
def test_a_crafted_query_string_is_not_reflected_into_the_page(open_page, page_url, sandbox, suffix):
    watched = open_page(bypass_csp=True)
    page = watched.page
    response = page.goto(page_url + suffix)
    assert "alert" not in response.text()
    wait_until_open(page)
    page.wait_for_timeout(HANDLERS_MAY_FIRE_MS)
    assert page.eval_on_selector_all("script", "all => all.map(s => s.src)") == [f"{page_url}_static/index.mjs"]
    assert page.locator("img, svg, iframe").count() == 0
    assert page.evaluate("document.body.dataset.wssUrl") == f"ws://localhost:{sandbox.port}"
    assert watched.dialogs == []


def test_a_hostile_socket_url_rendered_by_the_page_handler_stays_inside_its_attribute(open_page, page_url, sandbox, monkeypatch, lambda_context):
    """GET / rendered by the real handler with a crafted ARC_WSS_URL, served to Chromium as `/`."""
    hostile = f'ws://localhost:{sandbox.port}/"><script>alert(1)</script><img src=x onerror=alert(2)>'
    monkeypatch.setenv("ARC_WSS_URL", hostile)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "mywsapp")
    monkeypatch.setenv("SIGNING_KEY", "k" * 64)  # the page signs a token: a key of this test's own (no Secrets Manager here)
    monkeypatch.delenv("ARC_SECRET_SIGNING_KEY", raising=False)
    handler = load_handler(ROOT / "src/http/get-index/index.py", ROOT / "src/shared", "browser_test_get_index")
    response = handler(load_event("http-get"), lambda_context)
    watched = open_page(bypass_csp=True)  # so that only the escaping stands between the URL and the page
    page = watched.page
    page.route(page_url, lambda route: route.fulfill(status=response["statusCode"], headers=response["headers"], body=response["body"]))
    page.goto(page_url)
    page.locator("#state").wait_for()
    page.wait_for_timeout(HANDLERS_MAY_FIRE_MS)
    assert page.evaluate("document.body.dataset.wssUrl") == hostile, "the whole URL is one attribute value"
    assert page.eval_on_selector_all("script", "all => all.length") == 1
    assert page.locator("img").count() == 0
    assert watched.dialogs == []


def test_the_content_security_policy_is_sent_lets_the_page_work_and_blocks_injected_script(open_page, page_url, sandbox):
    watched = open_page()
    page = watched.page
    page.add_init_script(
        "window.violations = [];document.addEventListener('securitypolicyviolation', e => window.violations.push(e.effectiveDirective + ' ' + e.blockedURI));"
    )
    response = page.goto(page_url)
    policy = dict(d.strip().split(" ", 1) for d in response.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'" and policy["script-src"] == "'self'"
    assert policy["connect-src"] == f"ws://localhost:{sandbox.port}"
    wait_until_open(page)
    send(page, "works under the policy")
    expect(page.locator("#messages li.echo")).to_contain_text("Echoing works under the policy")
    assert page.evaluate("window.violations") == [] and watched.problems() == []

    # Suppose markup did get in: an inline script is still refused by the policy.
    page.evaluate("""() => {
        const script = document.createElement('script');
        script.textContent = 'window.pwned = true';
        document.body.append(script);
    }""")
    assert page.evaluate("window.pwned") is None
    assert page.evaluate("window.violations") == ["script-src-elem inline"]


REFUSED = "refused with 403"  # the sandbox's log line for a $connect that returned 403
# Opens a socket with a token, as the chat page does, and reports what happened to it: ["open"] or
# ["error", "close 1006"].
TRY_SOCKET = """([url, token]) => new Promise(resolve => {
    const events = [];
    const socket = new WebSocket(url, ['chat', token]);
    socket.onopen = () => { events.push('open'); socket.close(); };
    socket.onerror = () => events.push('error');
    socket.onclose = e => { events.push('close ' + e.code); resolve(events); };
})"""


def test_a_socket_opened_by_a_page_on_another_origin_is_refused_at_connect(open_page, page_url, sandbox, connection_ids, foreign_origin):
    ws_url = f"ws://localhost:{sandbox.port}"
    own = open_page(page_url).page
    token = own.evaluate("document.body.dataset.token")  # anyone may get one: a foreign page's script too
    assert own.evaluate(TRY_SOCKET, [ws_url, token])[0] == "open", "the same script from the chat's own origin connects"

    before, refusals = connection_ids(), sandbox.output().count(REFUSED)
    foreign = open_page(foreign_origin)
    assert foreign.page.evaluate(TRY_SOCKET, [ws_url, token]) == ["error", "close 1006"]
    assert any("403" in message for message in foreign.console_errors), "the handshake got 403, not a network error"
    wait_until(lambda: sandbox.output().count(REFUSED) > refusals, what="the sandbox to log the refusal")
    assert connection_ids() <= before, "no row for the refused socket"
