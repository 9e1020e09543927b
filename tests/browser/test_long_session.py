"""A long session: the page keeps its last `KEEP` messages (public/index.mjs) and stays responsive after
10,000 broadcasts. No AWS source: how many messages a page keeps is the app's own choice."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from urllib.parse import quote

import pytest

from tests.support.browser import expect, send, wait_until_open
from tests.support.repo import ROOT
from tests.support.sandbox import wait_until

pytestmark = pytest.mark.browser

BROADCASTS = 10_000
KEEP = int(re.search(r"export const KEEP = (\d+);", (ROOT / "public" / "index.mjs").read_text())[1])


def post_many(sandbox, connection_id: str, texts: list[str]) -> None:
    """POST each text to the connection as a broadcast frame, pipelined on one connection (the sandbox
    answers in order): the Management API as a handler reaches it, with a SigV4-shaped Authorization
    the sandbox does not verify and whose key it does not judge (README, "Where it still differs from AWS")."""
    path = f"/@connections/{quote(connection_id, safe='')}"
    requests = []
    for text in texts:
        body = json.dumps({"text": text, "broadcast": True}).encode()
        requests.append(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{sandbox.port}\r\nContent-Type: application/json\r\n"
            "Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/execute-api/aws4_request, "
            f"SignedHeaders=host, Signature=0\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=60) as connection:
        writer = threading.Thread(target=connection.sendall, args=(b"".join(requests),))
        writer.start()
        answers = b""
        while answers.count(b"HTTP/1.1 ") < len(texts):
            chunk = connection.recv(1 << 16)
            assert chunk, "the sandbox closed the connection"
            answers += chunk
        writer.join()
    assert answers.count(b"HTTP/1.1 200 ") == len(texts)


def test_after_10000_broadcasts_the_page_keeps_the_last_200_and_still_echoes(open_page, page_url, connection_ids, sandbox):
    before = connection_ids()
    watched = open_page(page_url)
    page = watched.page
    wait_until_open(page)
    (mine,) = wait_until(lambda: connection_ids() - before, what="the page's connection row")
    started = time.monotonic()
    post_many(sandbox, mine, [f"broadcast {n}" for n in range(BROADCASTS)])
    posted = time.monotonic() - started
    items = page.locator("#messages li")
    expect(items.last).to_have_text(f"Everyone broadcast {BROADCASTS - 1}", timeout=60_000)
    flooded = time.monotonic() - started
    expect(items).to_have_count(KEEP)
    expect(items.first).to_have_text(f"Everyone broadcast {BROADCASTS - KEEP}")
    started = time.monotonic()
    send(page, "still responsive")
    expect(page.locator("#messages li.echo")).to_contain_text("Echoing still responsive")
    echoed = time.monotonic() - started
    expect(items).to_have_count(KEEP)
    assert not watched.problems()
    print(f"\n{BROADCASTS} broadcasts posted in {posted:.1f} s, all shown in {flooded:.1f} s; then an echo in {1000 * echoed:.0f} ms")
