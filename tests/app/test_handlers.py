"""Each handler under moto (DynamoDB, Management API), called as Lambda calls it."""

import json
import re
import sys

import pytest

from tests.app.fakes import ManagementApiFake
from tests.app.support import ISO_MILLIS, connect_event, load_event, make_context, message_event, queued_event, rows, sent_to


class TestConnect:
    def test_stores_the_connection_with_a_two_hour_expiry(self, aws, handler, lambda_context):
        result = handler("ws/connect")(connect_event(), lambda_context)
        assert result == {"statusCode": 200}
        row = rows(aws)["R1kmxc2VNjMCFIA="]
        assert int(row["expires"]["N"]) - int(row["connectedAt"]["N"]) == 2 * 60 * 60

    @pytest.mark.parametrize("origin", ["https://evil.example", "http://chat.example.com", "null"])
    def test_refuses_a_foreign_origin_with_403_and_stores_nothing(self, aws, handler, lambda_context, origin):
        assert handler("ws/connect")(connect_event(origin), lambda_context) == {"statusCode": 403}
        assert rows(aws) == {}

    @pytest.mark.parametrize(
        "origin", ["https://chat.example.com.evil.example", "https://chat.example.com@evil.example", "https://chat.example.com:8443", "https://chat.example.co"]
    )
    def test_refuses_a_look_alike_of_an_allowed_origin(self, aws, handler, lambda_context, origin):
        """The allowed origin is https://chat.example.com: an origin is allowed only when equal to one."""
        assert handler("ws/connect")(connect_event(origin), lambda_context) == {"statusCode": 403}
        assert rows(aws) == {}

    def test_origin_header_is_matched_whatever_its_case(self, aws, handler, lambda_context):
        event = connect_event(origin=None)
        event["headers"]["origin"] = "https://evil.example"
        assert handler("ws/connect")(event, lambda_context) == {"statusCode": 403}

    def test_accepts_a_client_that_sends_no_origin(self, aws, handler, lambda_context):
        assert handler("ws/connect")(connect_event(origin=None), lambda_context) == {"statusCode": 200}
        assert list(rows(aws)) == ["R1kmxc2VNjMCFIA="]

    def test_an_empty_allow_list_refuses_every_browser(self, aws, handler, lambda_context, monkeypatch):
        monkeypatch.setenv("ARC_ALLOWED_ORIGINS", "")
        assert handler("ws/connect")(connect_event(), lambda_context) == {"statusCode": 403}


class TestDisconnect:
    def test_deletes_the_row_of_the_closed_connection_only(self, aws, handler, lambda_context):
        handler("ws/connect")(connect_event(connection_id="AAAAAAAAAAAAAAA="), lambda_context)
        handler("ws/connect")(connect_event(connection_id="R1kmxc2VNjMCFIA="), lambda_context)
        result = handler("ws/disconnect")(load_event("ws-disconnect"), lambda_context)
        assert result == {"statusCode": 200}
        assert list(rows(aws)) == ["AAAAAAAAAAAAAAA="]

    def test_a_connection_that_was_never_stored_is_not_an_error(self, aws, handler, lambda_context):
        assert handler("ws/disconnect")(load_event("ws-disconnect"), lambda_context) == {"statusCode": 200}


class TestDefault:
    def test_echoes_the_text_with_a_javascript_style_utc_timestamp(self, aws, handler, lambda_context):
        result = handler("ws/default")(message_event(json.dumps({"text": "hello <b>"})), lambda_context)
        assert result == {"statusCode": 200}
        [reply] = sent_to("R1kmxc2VNjMCFIA=")
        assert re.fullmatch(ISO_MILLIS + r" - Echoing hello <b>", reply["text"])

    @pytest.mark.parametrize(
        "body, problem",
        [
            (None, "empty message"),
            ("", "empty message"),
            ("not json", "not valid JSON"),
            ("[1, 2]", "must be a JSON object"),
            ('"text"', "must be a JSON object"),
            ("{}", 'no "text" field'),
            ('{"text": 5}', '"text" must be a string'),
            ('{"text": null}', '"text" must be a string'),
            ('{"text": ["a"]}', '"text" must be a string'),
            ('{"text": ""}', '"text" is empty'),
            ('{"text": "   "}', '"text" is empty'),
            (json.dumps({"text": "x" * 4001}), "the limit is 4000"),
            ("[" * 100000 + "]" * 100000, "not valid JSON"),
        ],
    )
    def test_bad_input_gets_an_error_reply_and_status_200(self, aws, handler, lambda_context, body, problem):
        result = handler("ws/default")(message_event(body), lambda_context)
        assert result == {"statusCode": 200}
        [reply] = sent_to("R1kmxc2VNjMCFIA=")
        assert list(reply) == ["error"] and problem in reply["error"]

    def test_text_at_the_limit_is_echoed(self, aws, handler, lambda_context):
        handler("ws/default")(message_event(json.dumps({"text": "y" * 4000})), lambda_context)
        [reply] = sent_to("R1kmxc2VNjMCFIA=")
        assert reply["text"].endswith(" - Echoing " + "y" * 4000)


class TestBroadcast:
    """broadcast enqueues (SQS SendMessageBatch, 10 entries at most: SQS quotas, "Message batch"); deliver
    posts each batch, with Lambda's partial batch response (the Lambda guide, "Using Lambda with Amazon
    SQS": `batchItemFailures`)."""

    def connect(self, handler, context, *ids):
        for connection_id in ids:
            handler("ws/connect")(connect_event(connection_id=connection_id), context)

    def broadcast(self, handler, context, text, sender):
        event = message_event(json.dumps({"action": "broadcast", "text": text}), sender)
        event["requestContext"]["routeKey"] = "broadcast"
        assert handler("ws/broadcast")(event, context) == {"statusCode": 200}

    def test_every_connection_gets_the_timestamped_text_once_through_the_queue(self, aws, handler, lambda_context):
        ids = [f"conn{i:03d}AAAAAAA=" for i in range(60)]
        self.connect(handler, lambda_context, *ids)
        self.broadcast(handler, lambda_context, "hi all", ids[0])
        event = queued_event(limit=100)
        bodies = [json.loads(r["body"]) for r in event["Records"]]
        assert len(bodies) == 3 and sorted(i for b in bodies for i in b["to"]) == sorted(ids)  # 25 ids a message
        assert sent_to(ids[0]) == [], "the sender hears nothing from broadcast itself"
        assert handler("queues/deliver")(event, lambda_context) == {"batchItemFailures": []}
        [the_id] = {b["payload"]["id"] for b in bodies}
        for connection_id in ids:
            [reply] = sent_to(connection_id)
            assert re.fullmatch(ISO_MILLIS + " - hi all", reply["text"]) and reply["broadcast"] is True and reply["id"] == the_id

    def test_near_its_timeout_broadcast_hands_the_rest_of_the_table_to_deliver(self, aws, handler, monkeypatch):
        """Pages of 20 ids and never enough time left: broadcast enqueues one page and a `scan_from`
        message; each deliver that gets one reads a page on and hands on again, until the table ends."""
        handler("ws/broadcast")
        monkeypatch.setattr(sys.modules["shared.fanout"], "PAGE_IDS", 20)
        ids = [f"conn{i:03d}AAAAAAA=" for i in range(50)]
        short = make_context(4, "broadcast")  # 4 s left: below the 5 s reserve from the start
        self.connect(handler, short, *ids)
        self.broadcast(handler, short, "in parts", ids[0])
        posted, rounds = set(), 0
        while (event := queued_event(limit=100))["Records"]:
            rounds += 1
            assert handler("queues/deliver")(event, make_context(4, "deliver")) == {"batchItemFailures": []}
            posted |= {i for r in event["Records"] for i in json.loads(r["body"]).get("to", [])}
        assert posted == set(ids) and rounds == 3  # pages of 20, 20, 10
        assert all(len(sent_to(i)) == 1 for i in ids)

    def test_bad_input_is_answered_to_the_sender_only(self, aws, handler, lambda_context):
        self.connect(handler, lambda_context, "senderAAAAAAAA=", "otherAAAAAAAAA=")
        event = message_event('{"action": "broadcast"}', "senderAAAAAAAA=")
        handler("ws/broadcast")(event, lambda_context)
        assert sent_to("senderAAAAAAAA=") == [{"error": 'message has no "text" field'}]
        assert sent_to("otherAAAAAAAAA=") == [] and queued_event()["Records"] == []

    def test_a_queue_that_cannot_be_reached_is_said_to_the_sender(self, aws, handler, lambda_context, monkeypatch):
        self.connect(handler, lambda_context, "senderAAAAAAAA=")
        monkeypatch.setenv("ARC_QUEUE_DELIVER", "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue")
        self.broadcast(handler, lambda_context, "anyone?", "senderAAAAAAAA=")
        assert sent_to("senderAAAAAAAA=") == [{"error": "the broadcast did not reach everyone: please try again"}]

    def test_gone_rows_are_deleted_and_only_retryable_failures_come_back(self, aws, handler, lambda_context, monkeypatch, caplog):
        """A 410 deletes the row; a 429 (a socket that stopped reading) reports its message failed, once,
        in one log line without a traceback; the other messages of the batch succeed. moto's Management
        API never answers 410 or 429, so a real HTTP fake plays API Gateway here."""
        fake = ManagementApiFake()
        monkeypatch.setenv("ARC_WSS_URL", fake.url.replace("http", "ws", 1))
        live = [f"live{i:02d}AAAAAAAA=" for i in range(40)]
        gone = [f"gone{i:02d}AAAAAAAA=" for i in range(5)]
        self.connect(handler, lambda_context, *(live + gone))
        fake.gone.update(gone)
        fake.stalled.add(live[-1])
        try:
            self.broadcast(handler, lambda_context, "still here?", live[0])
            event = queued_event()
            result = handler("queues/deliver")(event, lambda_context)
        finally:
            fake.close()
        holding = [r["messageId"] for r in event["Records"] if live[-1] in json.loads(r["body"])["to"]]
        assert result == {"batchItemFailures": [{"itemIdentifier": holding[0]}]}
        assert sorted(rows(aws)) == sorted(live), "only the gone connections' rows are deleted"
        assert all(len(fake.posts[c]) == 1 for c in live[:-1]) and not fake.posts[live[-1]]
        failures = [r for r in caplog.records if "failed" in r.getMessage() and r.name == "shared.sender"]
        assert [r.getMessage() for r in failures] == [f"post to {live[-1]} failed: 429 LimitExceededException (will retry)"]
        assert not any(r.exc_info for r in caplog.records)

    def test_a_malformed_message_is_reported_failed(self, aws, handler, lambda_context):
        event = {
            "Records": [
                {"messageId": "m-1", "body": "not json"},
                {"messageId": "m-2", "body": '{"to": "x", "payload": {}}'},
                {"messageId": "m-3", "body": json.dumps({"to": [], "payload": {"text": "nobody"}})},
            ]
        }
        assert handler("queues/deliver")(event, lambda_context) == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}


class TestGetIndex:
    def page(self, handler, context, monkeypatch, wss_url):
        monkeypatch.setenv("ARC_WSS_URL", wss_url)
        return handler("http/get-index")(load_event("http-get"), context)

    def test_renders_the_page_with_its_socket_url_and_module(self, aws, handler, lambda_context, monkeypatch):
        response = self.page(handler, lambda_context, monkeypatch, "wss://abc123.execute-api.us-east-1.amazonaws.com/staging")
        assert response["statusCode"] == 200
        assert response["headers"]["content-type"] == "text/html; charset=utf-8"
        assert 'data-wss-url="wss://abc123.execute-api.us-east-1.amazonaws.com/staging"' in response["body"]
        assert '<script type="module" src="/_static/index.mjs"></script>' in response["body"]

    def test_content_security_policy_allows_only_its_own_scripts_and_socket(self, aws, handler, lambda_context, monkeypatch):
        response = self.page(handler, lambda_context, monkeypatch, "wss://abc123.execute-api.us-east-1.amazonaws.com/staging")
        policy = dict(p.strip().split(" ", 1) for p in response["headers"]["content-security-policy"].split(";"))
        assert policy["script-src"] == "'self'"
        assert policy["connect-src"] == "wss://abc123.execute-api.us-east-1.amazonaws.com"
        assert policy["default-src"] == "'none'"

    def test_a_hostile_socket_url_is_escaped_not_interpreted(self, aws, handler, lambda_context, monkeypatch):
        response = self.page(handler, lambda_context, monkeypatch, 'ws://localhost:3333/"><script>alert(1)</script>')
        assert "<script>alert(1)</script>" not in response["body"]
        assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in response["body"]

    def test_a_url_that_would_break_the_policy_header_is_refused(self, aws, handler, lambda_context, monkeypatch):
        with pytest.raises(ValueError, match="ARC_WSS_URL"):
            self.page(handler, lambda_context, monkeypatch, "javascript:alert(1)")
