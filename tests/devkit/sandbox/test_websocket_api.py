"""The WebSocket API over real sockets against the real sandbox: events, routing, errors, close codes."""

import json
import os
import socket
import time

import pytest
import websocket

from devkit.contract import LOCAL_STAGE
from devkit.sandbox.workers import MAX_LOG_LINE
from tests.support.repo import load_event
from tests.support.sandbox import holds, wait_until
from tests.support.sockets import ask, connect, connection_id, handshake_status, read_close

ID_SHAPE = r"^[A-Za-z0-9]{15}=$"


def same_shape(ours, sample, path="event"):
    """Same keys at every level, and the same JSON types (None in the sample allows None only)."""
    assert set(ours) == set(sample), f"{path}: keys differ: extra {set(ours) - set(sample)}, missing {set(sample) - set(ours)}"
    for key, value in sample.items():
        if isinstance(value, dict) and key not in ("headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters"):
            same_shape(ours[key], value, f"{path}.{key}")
        else:
            assert type(ours[key]) is type(value), f"{path}.{key}: {type(ours[key]).__name__} vs {type(value).__name__}"


class TestEvents:
    def test_connect_event_has_every_field_aws_sends(self, faults):
        ws = connect(faults, "?room=a&room=b&x=1", origin="https://chat.example")
        cid = connection_id(ws)
        ws.close()
        [event] = faults.read_records("connect", cid)
        sample = load_event("ws-connect")
        sample["queryStringParameters"] = {"room": "b", "x": "1"}
        sample["multiValueQueryStringParameters"] = {"room": ["a", "b"], "x": ["1"]}
        same_shape(event, sample)
        context = event["requestContext"]
        assert (context["routeKey"], context["eventType"], context["messageDirection"]) == ("$connect", "CONNECT", "IN")
        assert not {"messageId", "disconnectStatusCode", "disconnectReason"} & set(context), "AWS's current captures have none"
        assert event["queryStringParameters"] == {"room": "b", "x": "1"}
        assert event["multiValueQueryStringParameters"]["room"] == ["a", "b"]
        assert event["headers"]["Origin"] == "https://chat.example" and event["multiValueHeaders"]["Sec-WebSocket-Version"] == ["13"]
        assert context["connectedAt"] <= context["requestTimeEpoch"] <= time.time() * 1000
        assert context["identity"]["sourceIp"] == "127.0.0.1"
        assert time.strftime("%d/%b/%Y", time.gmtime()) in context["requestTime"]

    def test_connect_without_a_query_has_no_query_fields(self, faults):
        ws = connect(faults)
        cid = connection_id(ws)
        ws.close()
        [event] = faults.read_records("connect", cid)
        assert "queryStringParameters" not in event and "multiValueQueryStringParameters" not in event

    def test_message_event_matches_the_aws_sample(self, faults):
        ws = connect(faults, header=["User-Agent: Mozilla/5.0"])  # the sample's client was a browser
        body = json.dumps({"do": "echo", "n": 1})
        reply = ask(ws, body)
        ws.close()
        event = reply["event"]
        same_shape(event, load_event("ws-message"))
        context = event["requestContext"]
        assert event["body"] == body and event["isBase64Encoded"] is False
        assert (context["routeKey"], context["eventType"]) == ("$default", "MESSAGE")
        for key in ("connectionId", "messageId", "requestId", "extendedRequestId"):
            assert len(context[key]) == 16 and context[key].endswith("="), key
        assert 0 < reply["remaining_ms"] <= 2000, "the context counts down from the function's timeout (2 s)"

    def test_disconnect_event_matches_the_aws_sample(self, faults):
        ws = connect(faults, header=["User-Agent: Mozilla/5.0"])  # the sample's client was a browser
        cid = connection_id(ws)
        ws.close(status=1000, reason=b"bye")
        [event] = wait_until(lambda: faults.read_records("disconnect", cid), what="$disconnect")
        same_shape(event, load_event("ws-disconnect"))
        assert event["requestContext"]["disconnectStatusCode"] == 1000
        assert event["requestContext"]["disconnectReason"] == "bye"
        assert set(event["headers"]) == {"Host", "x-api-key", "X-Forwarded-For", "x-restapi"}


class TestConnectStatus:
    @pytest.mark.parametrize(
        "query, status",
        [("?status=401", 401), ("?status=403", 403), ("?status=301", 301), ("?status=500", 500), ("?raise=1", 502), ("?nostatus=1", 502), ("?sleep=3", 502)],
        ids=["401 refuses", "403 refuses", "301 refuses", "500 refuses", "exception gives 502", "no statusCode gives 502", "timeout gives 502"],
    )
    def test_a_non_2xx_connect_refuses_the_handshake_with_that_status(self, faults, query, status):
        assert handshake_status(faults, query) == status

    def test_a_refused_connection_never_runs_disconnect(self, faults):
        def disconnects() -> int:
            return len(list(faults.records.glob("disconnect-*"))) if faults.records.exists() else 0

        before = disconnects()
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            connect(faults, "?status=401")
        assert refused.value.status_code == 401
        holds(lambda: disconnects() == before, 1, "no $disconnect record")

    def test_a_subprotocol_chosen_by_connect_is_accepted(self, faults):
        ws = connect(faults, "?protocol=chat", subprotocols=["chat"])
        assert ws.getsubprotocol() == "chat"
        ws.close()


class TestRouting:
    @pytest.mark.parametrize(
        "body, route",
        [
            ({"action": "record"}, "record"),
            ({"action": "nothing-like-it", "do": "echo"}, "$default"),
            ({"action": "$disconnect", "do": "echo"}, "$default"),
            ({"action": "$connect", "do": "echo"}, "$default"),
            ({"action": 5, "do": "echo"}, "$default"),
            ("not json at all", "$default"),
            ("[1, 2, 3]", "$default"),
        ],
        ids=["custom route", "unknown action", "$disconnect unreachable", "$connect unreachable", "non-string action", "not JSON", "JSON array"],
    )
    def test_route_selection_on_request_body_action(self, faults, body, route):
        ws = connect(faults)
        reply = ask(ws, body)
        ws.close()
        assert reply["route"] == route and reply["event"]["requestContext"]["routeKey"] == route


class TestFailingHandlers:
    @pytest.mark.parametrize("do", ["raise", "exit", "kill", "sleep"], ids=["exception", "sys.exit", "SIGKILL", "timeout"])
    def test_the_client_gets_the_error_frame_and_the_socket_stays_open(self, faults, do):
        ws = connect(faults)
        cid = connection_id(ws)
        reply = ask(ws, {"do": do, "seconds": 4})
        assert reply["message"] == "Internal server error" and reply["connectionId"] == cid
        assert len(reply["requestId"]) == 16
        assert ask(ws, {"do": "echo"})["route"] == "$default", "the socket still works"
        ws.close()

    def test_a_crashed_worker_is_replaced_and_a_healthy_one_stays_warm(self, faults):
        ws = connect(faults)
        first = ask(ws, {"do": "pid"})["pid"]
        time.sleep(0.2)  # the reply is posted before the handler returns; let the worker become idle
        assert ask(ws, {"do": "pid"})["pid"] == first, "warm: the same process serves the next invocation"
        time.sleep(0.2)
        ask(ws, {"do": "kill"})  # the most recently idle worker, `first`, takes it and dies
        assert not os.path.exists(f"/proc/{first}"), "the crashed worker is gone"
        later = set()
        for _ in range(3):
            time.sleep(0.2)
            later.add(ask(ws, {"do": "pid"})["pid"])
        assert first not in later
        ws.close()

    def test_megabytes_of_output_do_not_block_the_sandbox_and_long_lines_are_cut(self, faults):
        ws = connect(faults)
        assert ask(ws, {"do": "print", "megabytes": 3}) == {"printed": 3}
        ws.close()
        cut = "x" * MAX_LOG_LINE + " [cut]"
        faults.wait_for_output(cut)  # the first 16 KB of the 3 MB line, marked as cut
        assert "x" * (MAX_LOG_LINE + 1) not in faults.output(), "no line longer than the cut"

    def test_the_error_is_logged_with_the_function_name(self, faults):
        ws = connect(faults)
        ask(ws, {"do": "raise"})
        ws.close()
        faults.wait_for_output("ws-default | [ERROR] RuntimeError: handler failed on purpose")


class TestWorkerEnvironment:
    def test_each_function_runs_in_its_folder_with_lambdas_variables(self, faults):
        ws = connect(faults)
        names = [
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_REGION",
            "LAMBDA_TASK_ROOT",
            "ARC_ENV",
            "ARC_APP_NAME",
            "ARC_WSS_URL",
            "ARC_TABLE_CONNECTIONS",
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ACCESS_KEY_ID",
        ]
        reply = ask(ws, {"do": "pid", "env": names})
        ws.close()
        env = reply["env"]
        assert reply["cwd"].endswith("src/ws/default") and reply["path0"] == reply["cwd"] == env["LAMBDA_TASK_ROOT"]
        assert env["AWS_LAMBDA_FUNCTION_NAME"] == "faults-testing-ws-default"
        assert (env["ARC_ENV"], env["ARC_APP_NAME"], env["AWS_REGION"]) == (LOCAL_STAGE, "faults", "us-east-1")
        assert env["ARC_WSS_URL"] == f"ws://localhost:{faults.port}"
        assert env["ARC_TABLE_CONNECTIONS"] == "faults-testing-connections"
        assert env["AWS_ENDPOINT_URL_DYNAMODB"].startswith("http://127.0.0.1:")
        assert env["AWS_ACCESS_KEY_ID"] == "sandbox-ws-default", "dummy credentials naming the function (IAM)"


class TestClosing:
    def test_client_close_code_and_reason_reach_disconnect_exactly_once(self, faults):
        ws = connect(faults)
        cid = connection_id(ws)
        ws.close(status=4001, reason=b"leaving")
        [event] = wait_until(lambda: faults.read_records("disconnect", cid), what="$disconnect")
        assert (event["requestContext"]["disconnectStatusCode"], event["requestContext"]["disconnectReason"]) == (4001, "leaving")
        holds(lambda: len(faults.read_records("disconnect", cid)) == 1, 1, "exactly one $disconnect")

    def test_a_dropped_tcp_connection_reports_1006(self, faults):
        ws = connect(faults)
        cid = connection_id(ws)
        ws.sock.shutdown(socket.SHUT_RDWR)
        ws.sock.close()
        [event] = wait_until(lambda: faults.read_records("disconnect", cid), what="$disconnect")
        assert event["requestContext"]["disconnectStatusCode"] == 1006

    def test_binary_frames_close_the_socket_with_1003(self, faults):
        ws = connect(faults)
        cid = connection_id(ws)
        ws.send_binary(b"\x00\x01")
        assert read_close(ws)[0] == 1003
        [event] = wait_until(lambda: faults.read_records("disconnect", cid), what="$disconnect")
        assert event["requestContext"]["disconnectStatusCode"] == 1003
