"""`@queues` in the real sandbox: the embedded SQS, Lambda's event source mapping, and IAM on SQS calls.

The fixture app (tests/fixtures/queues) has a producer with `queue jobs send`, one without, and a
consumer that does what each message's body says, recording every record it is given. Its queue has
batchSize 5, maxReceives 2, visibilityTimeout 2 and a 2 s function timeout, so retries come quickly.

AWS sources: the Lambda guide, "Using Lambda with Amazon SQS" (event shape, batches, partial batch
responses, a failed or timed-out batch coming back after the visibility timeout) and "Handling errors
for an SQS event source" (an invalid `itemIdentifier` fails the whole batch); the SQS developer guide,
"Using dead-letter queues" (the redrive policy's maxReceiveCount); botocore's SQS model
(`awsQueryCompatible`: the `x-amzn-query-error` header gives boto3 the code `AccessDenied`).
"""

from __future__ import annotations

import hashlib
import json
import urllib.request

import boto3
import pytest

from tests.support.repo import ROOT
from tests.support.sandbox import DUMMY_AWS, SHORT, RunningSandbox, copy_fixture, holds, wait_until

VISIBILITY_TIMEOUT = 2
MAX_RECEIVES = 2
SAMPLE = json.loads((ROOT / "tests/events/sqs-receive.json").read_text())


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    app = copy_fixture("queues", tmp_path_factory.mktemp("queues"))
    with RunningSandbox(app, args=("--no-reload",)) as running:
        yield running


def send(sandbox: RunningSandbox, bodies: list[str], path: str = "/send") -> dict:
    request = urllib.request.Request(sandbox.url + path, data=json.dumps(bodies).encode(), method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def received(sandbox: RunningSandbox, body: str) -> list[dict]:
    """Every record of the message with `body` the consumer was given, in order."""
    path = sandbox.records / "received.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line for line in map(json.loads, lines) if line["record"]["body"] == body]


def dead_letters(sandbox: RunningSandbox) -> list[str]:
    """The bodies now in the dead-letter queue (received with a 0 s visibility timeout: left in place)."""
    endpoint = sandbox.dynamodb_endpoint
    sqs = boto3.client("sqs", endpoint_url=endpoint, config=SHORT, **DUMMY_AWS)
    url = f"{endpoint}/123456789012/queues-testing-jobs-dlq"
    answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    return [m["Body"] for m in answer.get("Messages", [])]


def test_the_banner_lists_the_queue_and_its_consumer(sandbox):
    assert "jobs         -> src/queues/jobs  batch 5, visibility 2 s, dead-letter queue after 2 receives" in sandbox.output()


def test_a_batch_reaches_the_consumer_in_aws_event_shape(sandbox):
    """Key by key against AWS's sample SQS event (tests/events/sqs-receive.json) and Powertools' SqsModel."""
    from aws_lambda_powertools.utilities.parser.models import SqsModel

    send(sandbox, ["shape-1", "shape-2"])
    wait_until(lambda: received(sandbox, "shape-1") and received(sandbox, "shape-2"), 15, "both records")
    [line] = received(sandbox, "shape-1")
    record, sample = line["record"], SAMPLE["Records"][1]
    assert set(record) == set(sample)
    assert set(record["attributes"]) == set(sample["attributes"])
    assert record["eventSource"] == "aws:sqs" and record["awsRegion"] == "us-east-1"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:queues-testing-jobs"
    assert record["md5OfBody"] == hashlib.md5(b"shape-1").hexdigest()
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    SqsModel.model_validate({"Records": [record]})


def test_a_consumer_that_always_raises_sends_the_message_to_the_dlq_after_max_receives(sandbox):
    send(sandbox, ["fail-always"])
    sandbox.wait_for_output("go to the dead-letter queue queues-testing-jobs-dlq", 20)
    wait_until(lambda: "fail-always" in dead_letters(sandbox), 15, "the message in the dead-letter queue")
    counts = [r["record"]["attributes"]["ApproximateReceiveCount"] for r in received(sandbox, "fail-always")]
    assert counts == [str(n) for n in range(1, MAX_RECEIVES + 1)]
    holds(lambda: len(received(sandbox, "fail-always")) == MAX_RECEIVES, VISIBILITY_TIMEOUT + 1, "no receive past maxReceives")


def test_partial_batch_failure_retries_only_the_messages_named(sandbox):
    send(sandbox, ["partial-ok-1", "bad-partial", "partial-ok-2"])
    wait_until(lambda: len(received(sandbox, "bad-partial")) == MAX_RECEIVES, 20, "the failed message's retries")
    assert all(len(received(sandbox, body)) == 1 for body in ("partial-ok-1", "partial-ok-2"))
    holds(
        lambda: len(received(sandbox, "partial-ok-1")) == 1 and len(received(sandbox, "partial-ok-2")) == 1,
        VISIBILITY_TIMEOUT + 1,
        "the succeeded messages delivered once",
    )
    wait_until(lambda: "bad-partial" in dead_letters(sandbox), 15, "the failed message in the dead-letter queue")


def test_an_invalid_item_identifier_fails_the_whole_batch(sandbox):
    send(sandbox, ["invalid-answer"])
    wait_until(lambda: len(received(sandbox, "invalid-answer")) == MAX_RECEIVES, 20, "a retry of the whole batch")
    assert "batchItemFailures named an id not in the batch" in sandbox.output()


def test_a_worker_killed_mid_batch_returns_the_batch_after_the_visibility_timeout(sandbox):
    send(sandbox, ["die-once"])
    wait_until(lambda: len(received(sandbox, "die-once")) == 2, 20, "the batch received again")
    first, second = received(sandbox, "die-once")
    assert [first["record"]["attributes"]["ApproximateReceiveCount"], second["record"]["attributes"]["ApproximateReceiveCount"]] == ["1", "2"]
    assert second["at"] - first["at"] >= VISIBILITY_TIMEOUT - 0.05  # not before the visibility timeout ends
    assert second["pid"] != first["pid"]  # a new worker
    holds(lambda: len(received(sandbox, "die-once")) == 2, VISIBILITY_TIMEOUT + 1, "deleted once it succeeded")


def test_a_producer_without_the_send_grant_gets_access_denied(sandbox):
    answer = send(sandbox, [], path="/sneak")
    assert answer["code"] == "AccessDenied" and answer["status"] == 400
    assert answer["message"] == (
        "User: arn:aws:sts::123456789012:assumed-role/queues-testing-http-post-sneak-role/queues-testing-http-post-sneak "
        "is not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:us-east-1:123456789012:queues-testing-jobs "
        "because no identity-based policy allows the sqs:SendMessage action"
    )
    sandbox.wait_for_output('add "queue jobs send" under @permissions in src/http/post-sneak/config.arc')


def test_a_sandbox_stopped_with_messages_in_flight_says_they_are_discarded(tmp_path):
    app = copy_fixture("queues", tmp_path)
    with RunningSandbox(app, args=("--no-reload",)) as running:
        send(running, ["sleep-at-stop", "waiting-1"])
        wait_until(lambda: received(running, "sleep-at-stop"), 15, "the batch in flight")
        running.stop()
    assert "message(s) not yet processed and 0 in its dead-letter queue are discarded with the sandbox" in running.output()


def test_a_cpu_bound_invocation_says_what_it_would_take_on_lambda_and_warns_past_the_timeout(sandbox):
    """The Lambda guide, "Configure Lambda function memory": CPU in proportion to memory, one vCPU at
    1,769 MB. 0.4 s of CPU at 256 MB (0.14 vCPU) is about 2.8 s, past the consumer's 2 s timeout."""
    send(sandbox, ["burn-cpu"])
    sandbox.wait_for_output("at 256 MB Lambda gives 0.14 vCPU: about", 20)
    [line] = [line for line in sandbox.output().splitlines() if "Lambda gives 0.14 vCPU" in line]
    assert line.startswith("  queue-jobs | warning: [sandbox] 0.4") and "past its 2 s timeout" in line
    seconds = float(line.split("about ")[1].split(" s there")[0])
    assert 2.7 <= seconds <= 3.6  # 0.40-0.52 s of CPU / (256 / 1769)
