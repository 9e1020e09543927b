"""The HTTP API (payload format 2.0) and /_static, over real HTTP against the real sandbox."""

import http.client
import json
import os

import pytest

from tests.support.repo import load_event


def raw_get(sandbox, raw_path: str) -> int:
    """GET with the path sent exactly as written (no client-side normalisation)."""
    connection = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=10)
    connection.putrequest("GET", raw_path, skip_accept_encoding=True)
    connection.endheaders()
    status = connection.getresponse().status
    connection.close()
    return status


def test_the_event_is_payload_format_2(faults):
    status, _, body = faults.get("/?b=2&a=1&a=3", headers={"Cookie": "s=1; t=2", "X-Custom": "yes", "User-Agent": "ua/1"})
    assert status == 200
    event = json.loads(body)["event"]
    sample = load_event("http-get")
    assert set(event) == set(sample) | {"cookies", "queryStringParameters"}
    assert set(event["requestContext"]) == set(sample["requestContext"])
    assert set(event["requestContext"]["http"]) == set(sample["requestContext"]["http"])
    assert (event["version"], event["routeKey"], event["rawPath"]) == ("2.0", "GET /", "/")
    assert event["rawQueryString"] == "b=2&a=1&a=3"
    assert event["queryStringParameters"] == {"b": "2", "a": "1,3"}
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["headers"]["x-custom"] == "yes" and "cookie" not in event["headers"]
    assert all(name == name.lower() for name in event["headers"])
    http_context = event["requestContext"]["http"]
    assert (http_context["method"], http_context["path"], http_context["sourceIp"], http_context["userAgent"]) == ("GET", "/", "127.0.0.1", "ua/1")
    assert event["isBase64Encoded"] is False and "body" not in event


def test_the_context_has_the_attributes_powertools_reads(faults):
    context = json.loads(faults.get("/")[2])["context"]
    assert context["function_name"] == "faults-testing-http-get-index"
    assert context["invoked_function_arn"].endswith(":function:faults-testing-http-get-index")
    assert context["memory_limit_in_mb"] == "256" and 0 < context["remaining_ms"] <= 5000  # a string, as awslambdaric gives it
    assert context["log_group_name"] == "/aws/lambda/faults-testing-http-get-index"
    assert len(context["aws_request_id"]) == 36, "Lambda's own id, a UUID (API Gateway's requestId is another)"


def test_path_parameters_and_a_response_without_status_code(faults):
    status, headers, body = faults.get("/things/42?x=y")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {"pathParameters": {"id": "42"}, "query": {"x": "y"}, "cookies": None, "routeKey": "GET /things/{id}", "rawQueryString": "x=y"}


def test_binary_bodies_are_base64_both_ways_with_status_and_cookies(faults):
    connection = http.client.HTTPConnection("127.0.0.1", faults.port, timeout=10)
    connection.request("POST", "/echo", body=bytes(range(256)), headers={"Content-Type": "application/octet-stream"})
    response = connection.getresponse()
    assert response.status == 201
    assert response.read() == bytes(range(256))[::-1]
    assert response.getheader("x-was-base64") == "True"
    assert response.headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    connection.close()


def test_text_bodies_arrive_as_text(faults):
    connection = http.client.HTTPConnection("127.0.0.1", faults.port, timeout=10)
    connection.request("POST", "/echo", body="héllo".encode(), headers={"Content-Type": "text/plain"})
    response = connection.getresponse()
    assert response.getheader("x-was-base64") == "False" and response.read() == "héllo".encode()[::-1]


def test_a_failing_handler_gives_500_with_a_readable_escaped_page(faults):
    status, headers, body = faults.get("/boom")
    page = body.decode()
    assert status == 500 and headers["Content-Type"].startswith("text/html")
    assert "RuntimeError: boom &lt;b&gt;not bold&lt;/b&gt;" in page and "<b>not bold</b>" not in page
    assert "http-get-boom" in page and "Internal Server Error" in page


@pytest.mark.parametrize("method, path", [("GET", "/nowhere"), ("POST", "/"), ("DELETE", "/things/1"), ("GET", "/things/1/more")])
def test_no_route_answers_404(faults, method, path):
    connection = http.client.HTTPConnection("127.0.0.1", faults.port, timeout=10)
    connection.request(method, path)
    response = connection.getresponse()
    assert response.status == 404 and json.loads(response.read()) == {"message": "Not Found"}


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("/_static/style.css", "text/css; charset=utf-8"),
        ("/_static/app.mjs", "text/javascript; charset=utf-8"),
        ("/_static/sub/page.html", "text/html; charset=utf-8"),
    ],
)
def test_static_files_with_their_content_types(faults, path, content_type):
    status, headers, body = faults.get(path)
    assert status == 200 and headers["Content-Type"] == content_type
    assert body == (faults.app_dir / "public" / path[len("/_static/") :]).read_bytes()


@pytest.mark.parametrize(
    "raw_path",
    [
        "/_static/missing.css",
        "/_static/sub",
        "/_static/",
        "/_static/../app.arc",
        "/_static/%2e%2e/app.arc",
        "/_static/..%2fapp.arc",
        "/_static/sub/../../app.arc",
        "/_static//etc/passwd",
        "/_static/%2fetc%2fpasswd",
        "/_static/link-out",
        "/_static/%00",
    ],
)
def test_static_never_serves_outside_public_or_missing_files(faults, raw_path):
    link = faults.app_dir / "public" / "link-out"
    if not link.exists():
        os.symlink(faults.app_dir / "app.arc", link)
    assert raw_get(faults, raw_path) == 404


def test_oversized_headers_are_refused_without_harm(faults):
    status, _, _ = faults.get("/", headers={"X-Big": "x" * 20000})
    assert status in (400, 431)
    assert faults.get("/")[0] == 200
