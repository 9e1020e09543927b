"""The Management API (`/@connections/{id}`) through boto3, as a handler would call it."""

import json
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.support.sandbox import wait_until
from tests.support.sockets import ask, connect, connection_id, read_close


@pytest.fixture(scope="module")
def management(faults):
    return faults.management()


def error_code(call) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_post_sends_the_data_to_the_socket_as_a_text_frame(faults, management):
    ws = connect(faults)
    cid = connection_id(ws)
    management.post_to_connection(ConnectionId=cid, Data=b'{"hello": "there"}')
    assert ws.recv() == '{"hello": "there"}'
    ws.close()


@pytest.mark.parametrize("connection_id_", ["NeverIssuedAAAA=", "x", "%00", "a" * 300])
def test_an_id_that_was_never_issued_is_gone_410(management, connection_id_):
    assert error_code(lambda: management.post_to_connection(ConnectionId=connection_id_, Data=b"x")) == ("GoneException", 410)


def test_a_closed_connection_is_gone_for_post_get_and_delete(faults, management):
    ws = connect(faults)
    cid = connection_id(ws)
    ws.close()
    wait_until(lambda: faults.read_records("disconnect", cid), what="$disconnect")
    assert error_code(lambda: management.post_to_connection(ConnectionId=cid, Data=b"x")) == ("GoneException", 410)
    assert error_code(lambda: management.get_connection(ConnectionId=cid)) == ("GoneException", 410)
    assert error_code(lambda: management.delete_connection(ConnectionId=cid)) == ("GoneException", 410)


def test_a_handler_posting_to_a_gone_id_gets_gone_exception(faults):
    ws = connect(faults)
    assert ask(ws, {"do": "post", "to": "GoneGoneGoneGo="}) == {"error": "GoneException", "status": 410}
    ws.close()


def test_get_describes_the_connection(faults, management):
    ws = connect(faults, header={"User-Agent": "test-agent/1.0"})
    cid = connection_id(ws)
    described = management.get_connection(ConnectionId=cid)
    ws.close()
    assert described["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "test-agent/1.0"}
    assert abs(described["ConnectedAt"].timestamp() - time.time()) < 30
    assert described["LastActiveAt"] >= described["ConnectedAt"]


def test_delete_closes_the_socket_and_runs_disconnect(faults, management):
    ws = connect(faults)
    cid = connection_id(ws)
    management.delete_connection(ConnectionId=cid)
    assert read_close(ws)[0] == 1000
    [event] = wait_until(lambda: faults.read_records("disconnect", cid), what="$disconnect")
    assert event["requestContext"]["disconnectStatusCode"] == 1000


def test_post_over_128_kb_is_payload_too_large_413(faults, management):
    ws = connect(faults)
    cid = connection_id(ws)
    assert error_code(lambda: management.post_to_connection(ConnectionId=cid, Data=b"x" * (128 * 1024 + 1))) == ("PayloadTooLargeException", 413)
    management.post_to_connection(ConnectionId=cid, Data=b"y" * (128 * 1024))
    assert ws.recv() == "y" * (128 * 1024)
    ws.close()


def test_an_unsigned_request_is_refused_403(faults):
    ws = connect(faults)
    cid = connection_id(ws)
    request = urllib.request.Request(f"{faults.url}/@connections/{cid}", data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    ws.close()
    assert refused.value.code == 403
    assert json.loads(refused.value.read()) == {"message": "Missing Authentication Token"}


def test_posting_from_inside_connect_is_gone_because_the_socket_is_not_open_yet(faults):
    ws = connect(faults, "?post_self=1")
    cid = connection_id(ws)
    ws.close()
    [event] = faults.read_records("connect", cid)
    assert event["post_self"] == "GoneException"
