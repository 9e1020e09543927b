"""The embedded DynamoDB: moto's server, tables from @tables with TTL, expired items swept."""

import time

import boto3
from moto.server import ThreadedMotoServer

from tests.support.sandbox import DUMMY_AWS, RunningSandbox, copy_fixture, fixture_app, wait_until

sweeping = fixture_app("faults", env={"SANDBOX_TTL_SWEEP_SECONDS": "0.3"})


def dynamodb(sandbox):
    return sandbox.dynamodb()


def test_tables_are_created_from_the_manifest_with_ttl(sweeping):
    client = dynamodb(sweeping)
    table = client.describe_table(TableName="faults-testing-connections")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "connectionId", "KeyType": "HASH"}]
    ttl = client.describe_time_to_live(TableName="faults-testing-connections")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}


def put_three_items(client) -> None:
    """One expired, one fresh, one without the TTL attribute."""
    now = int(time.time())
    for key, expires in (("old", now - 10), ("fresh", now + 3600), ("no-ttl", None)):
        item = {"connectionId": {"S": key}}
        if expires is not None:
            item["expires"] = {"N": str(expires)}
        client.put_item(TableName="faults-testing-connections", Item=item)


def keys(client) -> set[str]:
    return {i["connectionId"]["S"] for i in client.scan(TableName="faults-testing-connections")["Items"]}


def test_expired_items_are_removed_and_live_ones_kept(sweeping):
    client = dynamodb(sweeping)
    put_three_items(client)
    wait_until(lambda: "old" not in keys(client), 5, "the expired item to be swept")
    assert {"fresh", "no-ttl"} <= keys(client)
    sweeping.wait_for_output("TTL removed 1 expired item(s)")  # logged once the sweep is done


def test_expired_items_are_swept_on_a_dynamodb_of_your_own_too(tmp_path):
    """`--dynamodb-endpoint` (here a second moto server, standing for DynamoDB Local): the sandbox
    creates the tables there and sweeps their expired items as it does the embedded database's."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        endpoint = "http://{}:{}".format(*server.get_host_and_port())
        with RunningSandbox(
            copy_fixture("faults", tmp_path), env={"SANDBOX_TTL_SWEEP_SECONDS": "0.3"}, args=("--no-reload", "--dynamodb-endpoint", endpoint)
        ) as sandbox:
            client = boto3.client("dynamodb", endpoint_url=endpoint, **DUMMY_AWS)
            put_three_items(client)
            wait_until(lambda: "old" not in keys(client), 5, "the expired item to be swept")
            assert {"fresh", "no-ttl"} <= keys(client)
            sandbox.wait_for_output("TTL removed 1 expired item(s)")
    finally:
        server.stop()
