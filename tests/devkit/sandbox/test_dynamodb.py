"""The embedded DynamoDB: moto's server, tables from @tables with TTL, expired items swept."""

import time

from tests.support.sandbox import fixture_app, wait_until

sweeping = fixture_app("faults", env={"SANDBOX_TTL_SWEEP_SECONDS": "0.3"})

def dynamodb(sandbox):
    return sandbox.dynamodb()


def test_tables_are_created_from_the_manifest_with_ttl(sweeping):
    client = dynamodb(sweeping)
    table = client.describe_table(TableName="faults-testing-connections")["Table"]
    assert table["KeySchema"] == [{"AttributeName": "connectionId", "KeyType": "HASH"}]
    ttl = client.describe_time_to_live(TableName="faults-testing-connections")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}


def test_expired_items_are_removed_and_live_ones_kept(sweeping):
    client = dynamodb(sweeping)
    now = int(time.time())
    for key, expires in (("old", now - 10), ("fresh", now + 3600), ("no-ttl", None)):
        item = {"connectionId": {"S": key}}
        if expires is not None:
            item["expires"] = {"N": str(expires)}
        client.put_item(TableName="faults-testing-connections", Item=item)

    def keys() -> set[str]:
        return {i["connectionId"]["S"] for i in client.scan(TableName="faults-testing-connections")["Items"]}

    wait_until(lambda: "old" not in keys(), 5, "the expired item to be swept")
    assert {"fresh", "no-ttl"} <= keys()
    sweeping.wait_for_output("TTL removed 1 expired item(s)")  # logged once the sweep is done
