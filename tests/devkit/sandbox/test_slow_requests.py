"""Half-sent HTTP requests are timed out: headers that never finish close the connection, a body that
stops coming gets 408. Set small here through SANDBOX_HTTP_HEADER_SECONDS / SANDBOX_HTTP_BODY_SECONDS.

Source: API Gateway quotas, "Integration timeout: 30 seconds" for HTTP APIs (the defaults use 30 s);
AWS does not document how long its front end waits for a slow client's headers or body. 408 is RFC 9110
section 15.5.9 ("the server did not receive a complete request message within the time that it was
prepared to wait").
"""

from __future__ import annotations

import socket
import time

from tests.support.sandbox import fixture_app

impatient = fixture_app("faults", env={"SANDBOX_HTTP_HEADER_SECONDS": "1", "SANDBOX_HTTP_BODY_SECONDS": "1"})


def read_until_closed(client: socket.socket, limit: float = 6) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    client.settimeout(limit)
    started, received = time.monotonic(), b""
    try:
        while chunk := client.recv(65536):
            received += chunk
    except TimeoutError:
        raise AssertionError(f"the connection was still open after {limit} s") from None
    return received, time.monotonic() - started


def test_headers_that_never_finish_close_the_connection(impatient):
    client = socket.create_connection(("127.0.0.1", impatient.port))
    client.sendall(b"GET /_static/app.mjs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # and nothing more
    received, seconds = read_until_closed(client)
    assert received == b"" and 0.9 <= seconds < 3
    client.close()


def test_a_body_that_stops_coming_gets_408(impatient):
    client = socket.create_connection(("127.0.0.1", impatient.port))
    client.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)  # 90 bytes never come
    received, seconds = read_until_closed(client)
    assert received.startswith(b"HTTP/1.1 408 ") and b"Request Timeout" in received
    assert 0.9 <= seconds < 3
    client.close()


def test_a_prompt_request_is_served(impatient):
    status, _, body = impatient.get("/_static/app.mjs")
    assert status == 200 and body
