"""A page on another origin, in real Chromium, cannot reach the sandbox's embedded DynamoDB.

No AWS source applies (on AWS the table sits behind SigV4, not a local port): the rule is the sandbox's
own, devkit/sandbox/dynamodb_server.py `NoBrowsers`.
"""

import pytest

from tests.app.support import TABLE

pytestmark = pytest.mark.browser

# What the attacker's page did: a simple POST needs no preflight, so only the answer would be hidden from it.
WIPE_AND_READ = """async endpoint => {
    const outcome = {};
    await fetch(endpoint + '/moto-api/reset', {method: 'POST', mode: 'no-cors'});
    try {
        const listed = await fetch(endpoint + '/', {method: 'POST', body: '{}', headers: {
            'X-Amz-Target': 'DynamoDB_20120810.ListTables', 'Content-Type': 'application/x-amz-json-1.0'}});
        outcome.read = await listed.text();
    } catch (error) {
        outcome.read = 'blocked: ' + error.name;
    }
    return outcome;
}"""


def test_a_page_on_another_origin_cannot_wipe_or_read_the_tables(open_page, sandbox, foreign_origin):
    endpoint = sandbox.dynamodb_endpoint
    client = sandbox.dynamodb()
    key = {"connectionId": {"S": "planted-before-the-page"}}
    client.put_item(TableName=TABLE, Item=key)
    try:
        page = open_page(foreign_origin).page
        with page.expect_response(endpoint + "/moto-api/reset") as reset:
            outcome = page.evaluate(WIPE_AND_READ, endpoint)
        assert reset.value.status == 403, "Chromium sent the reset (with its Origin) and the database refused it"
        assert outcome["read"] == "blocked: TypeError", "the preflight got no CORS headers, so nothing was read"
        # A reset followed by the watcher's recreation would leave the table but not this row.
        assert "Item" in client.get_item(TableName=TABLE, Key=key)
        assert "vanished" not in sandbox.output()
    finally:
        client.delete_item(TableName=TABLE, Key=key)
