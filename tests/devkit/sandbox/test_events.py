"""devkit/sandbox/events.py: each builder, given the inputs behind an AWS sample event, builds that
whole event, compared with == (every key, value, type and null); only the random part of the X-Ray
trace id API Gateway adds is checked by its shape instead.

The samples and their sources are listed in tests/events/README.md.
"""

from __future__ import annotations

import base64
import re

import pytest

from devkit.sandbox import events
from tests.support.repo import load_event


def peer_of(sample: dict) -> events.Peer:
    """The connection behind a WebSocket sample, read from its requestContext."""
    context = sample["requestContext"]
    return events.Peer(
        connection_id=context["connectionId"],
        connected_at_ms=context["connectedAt"],
        source_ip=context["identity"]["sourceIp"],
        user_agent=context["identity"].get("userAgent"),
        domain_name=context["domainName"],
        stage=context["stage"],
        api_id=context["apiId"],
        server_port=443,
        scheme="https",  # API Gateway's own endpoint
    )


def client_headers(sample: dict) -> list[tuple[str, str]]:
    """The headers the client sent: the sample's, less the four API Gateway adds (events.ADDED)."""
    return [(name, value) for name, value in sample["headers"].items() if name.lower() not in events.ADDED]


def with_samples_trace(built: dict, sample: dict, now_ms: int) -> dict:
    """`built` with its random X-Ray trace id replaced by the sample's, once its shape is checked:
    `Root=1-<epoch seconds, 8 hex>-<24 hex>`, the seconds being the event's own time."""
    for headers in ("headers", "multiValueHeaders"):
        if headers not in built:
            continue
        name = next(n for n in built[headers] if n.lower() == "x-amzn-trace-id")
        ours = built[headers][name] if headers == "headers" else built[headers][name][0]
        assert re.fullmatch(rf"Root=1-{now_ms // 1000:08x}-[0-9a-f]{{24}}", ours), ours
        theirs = sample[headers][name]
        built[headers][name] = theirs
    return built


def test_connect_builds_the_aws_sample():
    sample = load_event("ws-connect")
    context = sample["requestContext"]
    built = events.ws_connect(peer_of(sample), client_headers(sample), [], context["requestId"], context["requestTimeEpoch"])
    assert with_samples_trace(built, sample, context["requestTimeEpoch"]) == sample


def test_connect_with_a_repeated_query_parameter_keeps_the_last_value_and_every_value():
    """API Gateway: `queryStringParameters` holds the last value of a repeated name, and
    `multiValueQueryStringParameters` all of them (as for REST APIs' payload 1.0, which $connect uses)."""
    sample = load_event("ws-connect")
    context = sample["requestContext"]
    built = events.ws_connect(
        peer_of(sample), client_headers(sample), [("room", "a"), ("room", "b"), ("x", "1")], context["requestId"], context["requestTimeEpoch"]
    )
    assert with_samples_trace(built, sample, context["requestTimeEpoch"]) == {
        **sample,
        "queryStringParameters": {"room": "b", "x": "1"},
        "multiValueQueryStringParameters": {"room": ["a", "b"], "x": ["1"]},
    }


def test_connect_headers_keep_the_first_value_and_list_every_value():
    sample = load_event("ws-connect")
    context = sample["requestContext"]
    built = events.ws_connect(peer_of(sample), [("Cookie", "a=1"), ("Cookie", "b=2")], [], context["requestId"], context["requestTimeEpoch"])
    assert (built["headers"]["Cookie"], built["multiValueHeaders"]["Cookie"]) == ("a=1", ["a=1", "b=2"])


def test_message_builds_the_aws_sample():
    sample = load_event("ws-message")
    context = sample["requestContext"]
    built = events.ws_message(peer_of(sample), context["routeKey"], sample["body"], context["messageId"], context["requestId"], context["requestTimeEpoch"])
    assert built == sample


def test_disconnect_builds_the_aws_sample():
    sample = load_event("ws-disconnect")
    context = sample["requestContext"]
    built = events.ws_disconnect(
        peer_of(sample), context["disconnectStatusCode"], context["disconnectReason"], context["requestId"], context["requestTimeEpoch"]
    )
    assert built == sample


def http_from_sample(sample: dict, **changes) -> dict:
    """`http_request` with the inputs behind the HTTP sample, any of them replaced by `changes`."""
    context = sample["requestContext"]
    inputs = dict(
        route_key=sample["routeKey"],
        method=context["http"]["method"],
        raw_path=sample["rawPath"],
        raw_query=sample["rawQueryString"],
        headers=client_headers(sample),
        query=[],
        path_parameters={},
        body=b"",
        source_ip=context["http"]["sourceIp"],
        server_port=443,
        scheme="https",
        domain_name=context["domainName"],
        api_id=context["apiId"],
        request_id=context["requestId"],
        now_ms=context["timeEpoch"],
    )
    return with_samples_trace(events.http_request(**{**inputs, **changes}), sample, context["timeEpoch"])


def test_http_request_builds_the_aws_sample():
    sample = load_event("http-get")
    assert http_from_sample(sample) == sample


def test_http_request_lowercases_and_joins_headers_moves_cookies_and_joins_query_values():
    """Payload format 2.0 ("Working with AWS Lambda proxy integrations for HTTP APIs"): header names
    lowercased, duplicate headers and query values combined with commas, cookies in `cookies`."""
    sample = load_event("http-get")
    headers = [*client_headers(sample), ("X-Tag", "a"), ("x-tag", "b"), ("Cookie", "s=1; t=2")]
    built = http_from_sample(sample, headers=headers, raw_query="q=1&q=2", query=[("q", "1"), ("q", "2")], raw_path="/Things/7", path_parameters={"id": "7"})
    expected = {
        **sample,
        "rawPath": "/Things/7",
        "rawQueryString": "q=1&q=2",
        "cookies": ["s=1", "t=2"],
        "headers": {**sample["headers"], "x-tag": "a,b"},
        "queryStringParameters": {"q": "1,2"},
        "pathParameters": {"id": "7"},
    }
    expected["requestContext"] = {**sample["requestContext"], "http": {**sample["requestContext"]["http"], "path": "/Things/7"}}
    assert built == expected
    assert list(built) == [
        "version",
        "routeKey",
        "rawPath",
        "rawQueryString",
        "cookies",
        "headers",
        "queryStringParameters",
        "pathParameters",
        "requestContext",
        "isBase64Encoded",
    ]


@pytest.mark.parametrize(
    "content_type, body, text, encoded",
    [
        ("application/json", b'{"a": 1}', '{"a": 1}', False),
        ("text/plain; charset=utf-8", "héllo".encode(), "héllo", False),
        ("", b"plain", base64.b64encode(b"plain").decode(), True),
        ("application/x-www-form-urlencoded", b"a=1&b=2", base64.b64encode(b"a=1&b=2").decode(), True),
        ("application/vnd.api+json", b'{"a": 1}', '{"a": 1}', False),
        ("application/octet-stream", b"\x00\x01", base64.b64encode(b"\x00\x01").decode(), True),
        ("text/plain", b"\xff\xfe", base64.b64encode(b"\xff\xfe").decode(), True),
    ],
    ids=["json is text", "text is text", "no type is base64", "a form is base64", "+json is text", "binary type", "invalid UTF-8"],
)
def test_http_request_bodies_are_text_or_base64(content_type, body, text, encoded):
    """HTTP APIs (payload 2.0) pass a body as text only for text types (text/*, JSON and +json, XML and
    +xml, JavaScript) and base64-encode the rest, a form post and a body without a Content-Type included
    ("Working with AWS Lambda proxy integrations for HTTP APIs"); invalid UTF-8 can only travel encoded."""
    sample = load_event("http-get")
    headers = [*client_headers(sample), *([("content-type", content_type)] if content_type else [])]
    built = http_from_sample(sample, method="POST", headers=headers, body=body)
    assert (built["body"], built["isBase64Encoded"]) == (text, encoded)


def test_ids_look_like_api_gateways():
    ids = {events.new_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9]{15}=", i) for i in ids), "15 letters or digits, then ="


def test_request_time_is_api_gateways_format():
    assert events.request_time(1705751700453) == "20/Jan/2024:11:55:00 +0000"
