"""The embedded DynamoDB answers no browser, and the sandbox recreates its tables when they vanish.

No AWS source applies: DynamoDB on AWS is reached through its own signed endpoint, not a local port any
web page can scan. The rules are the sandbox's own (devkit/sandbox/dynamodb_server.py, `NoBrowsers`).
"""

import http.client
import json
from urllib.parse import urlsplit

import pytest
import websocket

from tests.app.support import protocols
from tests.support.sandbox import app_fixture, wait_until

TABLE = "faults-testing-connections"
EVIL = "http://evil.example"
LIST_TABLES = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"}
# moto picks the service from the credential scope; the signature itself is not checked.
SIGNED = {"Authorization": "AWS4-HMAC-SHA256 Credential=sandbox/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"}
# What a page on another origin can send: each is a simple request or a preflight, with the Origin a browser adds.
BROWSER_REQUESTS = {
    "GET /": ("GET", "/", {}, b""),
    "POST ListTables": ("POST", "/", {**SIGNED, **LIST_TABLES}, b"{}"),
    "POST /moto-api/reset": ("POST", "/moto-api/reset", {"Content-Type": "text/plain"}, b""),
    "preflight": ("OPTIONS", "/", {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-amz-target,content-type"}, b""),
}


def call(sandbox, method, path, headers=None, body=b"", host=None):
    """One request to the sandbox's database with exactly these headers; (status, headers, body)."""
    endpoint = urlsplit(sandbox.dynamodb_endpoint)
    connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", endpoint.netloc if host is None else host)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def cors_headers(headers: dict) -> list[str]:
    return [name for name in headers if name.lower().startswith("access-control-")]


@pytest.fixture
def planted(faults):
    """A row in the fixture's table, put there by boto3 (which must keep working); removed after."""
    client = faults.dynamodb()
    client.put_item(TableName=TABLE, Item={"connectionId": {"S": "kept"}})
    yield lambda: "Item" in client.get_item(TableName=TABLE, Key={"connectionId": {"S": "kept"}})
    client.delete_item(TableName=TABLE, Key={"connectionId": {"S": "kept"}})


@pytest.mark.parametrize("method, path, headers, body", BROWSER_REQUESTS.values(), ids=BROWSER_REQUESTS.keys())
def test_a_request_carrying_an_origin_is_refused_and_changes_nothing(faults, planted, method, path, headers, body):
    status, answer_headers, answer = call(faults, method, path, {"Origin": EVIL, **headers}, body)
    assert status == 403
    assert "answers no browser" in json.loads(answer)["message"]
    assert cors_headers(answer_headers) == [], "no CORS header lets a page read the refusal either"
    assert planted(), "the table and its row are still there"


def test_a_browser_request_without_origin_is_refused_by_its_sec_fetch_site(faults, planted):
    """An <img> or a navigation sends no Origin, but current browsers send Sec-Fetch-Site to loopback."""
    status, _, answer = call(faults, "POST", "/moto-api/reset", {"Sec-Fetch-Site": "cross-site"})
    assert status == 403 and "answers no browser" in json.loads(answer)["message"]
    assert planted()


@pytest.mark.parametrize("host", ["evil.example:{port}", "127.0.0.1:{other}", "127.0.0.2:{port}", "localhost", ""])
def test_a_host_other_than_the_database_s_own_is_refused(faults, planted, host):
    """DNS rebinding: a page on evil.example re-resolved to 127.0.0.1 sends no Origin to itself, but its Host."""
    port = urlsplit(faults.dynamodb_endpoint).port
    status, _, answer = call(faults, "POST", "/moto-api/reset", host=host.format(port=port, other=port + 1))
    assert status == 403 and "answers only Host" in json.loads(answer)["message"]
    assert planted()


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}"])
def test_the_loopback_host_and_port_are_answered_without_cors_headers(faults, host):
    port = urlsplit(faults.dynamodb_endpoint).port
    status, headers, answer = call(faults, "POST", "/", {**SIGNED, **LIST_TABLES}, b"{}", host=host.format(port=port))
    assert status == 200 and TABLE in json.loads(answer)["TableNames"]
    assert cors_headers(headers) == [], "moto's Access-Control-Allow-Origin: * is removed"


def test_boto3_still_reads_and_writes(faults, planted):
    assert planted() and TABLE in faults.dynamodb().list_tables()["TableNames"]


chat = app_fixture("module")  # the repository's app: its $connect writes a row, so new sockets need the table


VANISHED = "vanished from the embedded DynamoDB"
RECREATED = "recreated table(s) mywsapp-testing-connections"


def test_tables_wiped_by_a_local_process_are_recreated_and_the_log_says_so(chat):
    """A non-browser request may still reset moto (the point is browsers); the sandbox then recovers."""
    origin = f"http://localhost:{chat.port}"
    websocket.create_connection(chat.ws_url, timeout=10, origin=origin, subprotocols=protocols(chat.page_token())).close()
    assert call(chat, "POST", "/moto-api/reset")[0] == 200
    wait_until(lambda: RECREATED in chat.output(), 10, "the sandbox to recreate its table")
    lines = chat.output().splitlines()
    said = [i for i, line in enumerate(lines) if VANISHED in line and "mywsapp-testing-connections" in line]
    assert len(said) == 1 and said[0] < next(i for i, line in enumerate(lines) if RECREATED in line)
    wait_until(lambda: "recreated secret mywsapp-testing-signing-key" in chat.output(), 10, "the secret back, same value")
    token = chat.page_token()  # a fresh page worker reads the restored key; the warm authorizer kept the old one
    socket = websocket.create_connection(chat.ws_url, timeout=10, origin=origin, subprotocols=protocols(token))  # 502 while the table was gone
    try:
        wait_until(lambda: chat.connection_ids("mywsapp-testing-connections"), 5, "the new socket's row")
    finally:
        socket.close()
