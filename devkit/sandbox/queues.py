"""Lambda's SQS event source mapping, in the sandbox: each `@queues` queue (and its dead-letter queue)
lives in the embedded moto server, and an `EventSource` per queue does what Lambda's poller does.

Sources: the Lambda developer guide, "Using Lambda with Amazon SQS" (long polling; batches of
`BatchSize`, gathered for up to `MaximumBatchingWindowInSeconds`; a function error or timeout returns
the whole batch, visible again after the queue's visibility timeout; with `ReportBatchItemFailures`
only the messages named in `batchItemFailures` come back, and an invalid answer fails the whole batch;
the redrive policy moves a message to the dead-letter queue after `maxReceiveCount` receives) and
"Configuring scaling behavior for SQS event source mappings" (5 concurrent batches at first, up to 300
more a minute while messages wait, at most 1,000 or `ScalingConfig.MaximumConcurrency`). The event's
shape is AWS's sample SQS event (tests/events/sqs-receive.json). What the sandbox does not do: FIFO
ordering per message group across batches is moto's; the 6 MB payload cap is not enforced.

The poller speaks SQS's JSON protocol to moto over the sandbox's own aiohttp client (the sandbox's
process never imports boto3), signed with an access key no function holds, so the IAM gate lets it by
(AWS judges these calls against the consumer's role; devkit/permissions.py grants them to it).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from devkit.manifest import Function, Manifest, Queue
from devkit.queues import DLQ_RETENTION_SECONDS

POLL_WAIT_SECONDS = 20  # Lambda long-polls with the longest wait SQS allows
INITIAL_BATCHES = 5  # concurrent batches an event source starts with
SCALE_EVERY_SECONDS = 60 / 300  # one more concurrent batch at most this often (300 a minute) while messages wait
MAX_BATCHES = 1000  # Lambda's ceiling per event source
RECEIVE_MAX = 10  # SQS's ReceiveMessage MaxNumberOfMessages
POLLER_KEY = "devkit-event-source"  # the access key id the poller signs with: no function's
# The record attributes Lambda passes on (AWS's sample event; FIFO queues add the last three).
RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
)


@dataclass(frozen=True)
class QueueSpec:
    """A queue as the embedded SQS creates it: physical names and attributes."""

    queue: str  # the declared name
    name: str
    dlq: str
    fifo: bool
    visibility_timeout: int
    max_receives: int

    @classmethod
    def of(cls, queue: Queue, prefix: str) -> QueueSpec:
        assert queue.visibility_timeout is not None, "the manifest sets it from the consumer's timeout"
        return cls(queue.name, queue.physical_name(prefix), queue.dlq_name(prefix), queue.fifo, queue.visibility_timeout, queue.max_receives)


def specs_to_json(specs: list[QueueSpec]) -> str:
    return json.dumps([spec.__dict__ for spec in specs])


def specs_from_json(text: str) -> list[QueueSpec]:
    return [QueueSpec(**fields) for fields in json.loads(text or "[]")]


def create_queues(call, specs: list[QueueSpec]) -> list[str]:
    """Create each queue and its dead-letter queue (redrive policy, visibility timeout) with `call`
    (`sync_call` bound to the embedded server); returns the names created. Run in the server's process."""
    created = []
    for spec in specs:
        fifo = {"FifoQueue": "true"} if spec.fifo else {}
        dlq_url = call("CreateQueue", {"QueueName": spec.dlq, "Attributes": {**fifo, "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}})["QueueUrl"]
        dlq_arn = call("GetQueueAttributes", {"QueueUrl": dlq_url, "AttributeNames": ["QueueArn"]})["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receives})
        call("CreateQueue", {"QueueName": spec.name, "Attributes": {**fifo, "VisibilityTimeout": str(spec.visibility_timeout), "RedrivePolicy": redrive}})
        created += [spec.name, spec.dlq]
    return created


def _headers(operation: str, region: str) -> dict[str, str]:
    """SQS's JSON protocol, with a credential scope that tells moto the service (it checks no signature)."""
    return {
        "X-Amz-Target": f"AmazonSQS.{operation}",
        "Content-Type": "application/x-amz-json-1.0",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={POLLER_KEY}/20250101/{region}/sqs/aws4_request, SignedHeaders=host, Signature=0",
    }


def sync_call(endpoint: str, region: str, operation: str, params: dict, timeout: float = 10) -> dict:
    """One SQS call with urllib: no boto3 client to build (its model took 30-130 ms of the server's start)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(endpoint.rstrip("/") + "/", data=json.dumps(params).encode(), headers=_headers(operation, region), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        body = json.loads(error.read() or b"{}")
        raise SqsError(str(body.get("__type", error.code)).rsplit("#", 1)[-1], str(body.get("message", ""))) from None


def speed_up_moto() -> None:
    """Make moto's ReceiveMessage linear: for each message it hands out, moto 5.2 checks the retention
    period through `get_queue_attributes`, which computes every attribute of the queue, counting its
    messages twice; so a receive took O(messages in the queue) per message (about 1 s for 10 of 100
    on a busy 2-core machine). This reads the one attribute instead. Called in the embedded server."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def valid(self, queue_name: str, message) -> bool:
        retention = int(getattr(self.get_queue(queue_name), "message_retention_period", 345600))
        return retention + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = valid  # type: ignore[method-assign]


class SqsError(Exception):
    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(f"{code}: {message}")


class Sqs:
    """SQS's JSON protocol over aiohttp, to the embedded server (its only client in this process)."""

    def __init__(self, endpoint: str, region: str):
        self.endpoint, self.region = endpoint.rstrip("/"), region
        self._session: Any = None  # an aiohttp.ClientSession, made on the first call

    async def call(self, operation: str, params: dict, timeout: float = 10) -> dict:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession()
        async with self._session.post(
            self.endpoint + "/", data=json.dumps(params), headers=_headers(operation, self.region), timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            body = await response.json(content_type=None) if response.content_length != 0 else {}
            if response.status >= 400:
                body = body if isinstance(body, dict) else {}
                raise SqsError(str(body.get("__type", response.status)).rsplit("#", 1)[-1], str(body.get("message", "")))
            return body or {}

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def record(message: dict, arn: str, region: str) -> dict:
    """One message as a record of Lambda's SQS event (AWS's sample event, Powertools' `SqsRecordModel`)."""
    attributes = message.get("Attributes") or {}
    shown = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {k: attributes[k] for k in RECORD_ATTRIBUTES if k in attributes},
        "messageAttributes": {name: _attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        shown["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return shown


def _attribute(value: dict) -> dict:
    """A message attribute as Lambda spells it (camelCase, list fields always present)."""
    shown = {"stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType", "String")}
    if "StringValue" in value:
        shown["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        shown["binaryValue"] = value["BinaryValue"]  # base64, as the JSON protocol carries it
    return shown


def failed_ids(result, batch: list[str]) -> list[str] | None:
    """The message ids a consumer's `{"batchItemFailures": [{"itemIdentifier": id}]}` names; None when
    the answer is invalid (an id that is empty or not in the batch), which fails the whole batch.
    No or an empty list (or any other return value) means every message succeeded."""
    failures = result.get("batchItemFailures") if isinstance(result, dict) else None
    if not failures:
        return []
    if not isinstance(failures, list):
        return None
    ids = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in batch:
            return None
        ids.append(identifier)
    return ids


Invoke = Callable[[Function, str, dict], Awaitable[object]]


class EventSource:
    """Lambda's event source mapping for one queue: long-polls, invokes `function` with batches,
    deletes what succeeded, and scales its concurrent batches while messages wait."""

    def __init__(self, queue: Queue, function: Function, url: str, arn: str, dlq: str, region: str, sqs: Sqs, invoke: Invoke, log, limit: int):
        self.queue, self.function, self.url, self.arn, self.dlq, self.region = queue, function, url, arn, dlq, region
        self.sqs, self.invoke, self.log = sqs, invoke, log
        self.limit = max(1, min(limit, queue.max_concurrency or MAX_BATCHES))
        self.initial = min(INITIAL_BATCHES, self.limit)
        self.pollers: set[asyncio.Task] = set()
        self.backlog = False  # the last receive came back full: messages are waiting
        self.stopping = asyncio.Event()
        self.batches = 0

    async def run(self) -> None:
        """Poll until `stop()`; adds a poller every SCALE_EVERY_SECONDS while messages wait."""
        for _ in range(self.initial):
            self._add_poller()
        while not self.stopping.is_set():
            await asyncio.sleep(SCALE_EVERY_SECONDS)
            if self.backlog and len(self.pollers) < self.limit:
                self._add_poller()

    def _add_poller(self) -> None:
        task = asyncio.create_task(self._poll())
        self.pollers.add(task)
        task.add_done_callback(self.pollers.discard)

    async def _poll(self) -> None:
        while not self.stopping.is_set():
            try:
                messages = await self._gather()
            except SqsError as error:
                self.log.info(f"queue {self.queue.name}: receiving failed ({error}); retrying in 1 s")
                await asyncio.sleep(1)
                continue
            except (OSError, asyncio.TimeoutError) as error:
                if self.stopping.is_set():
                    return
                self.log.info(f"queue {self.queue.name}: the embedded SQS did not answer ({error!r}); retrying in 1 s")
                await asyncio.sleep(1)
                continue
            if messages:
                await self._run_batch(messages)
            elif len(self.pollers) > self.initial:
                return  # no messages wait: scale back down

    async def _gather(self) -> list[dict]:
        """One batch: the first receive long-polls; with a batching window, more receives fill it up
        to `batchSize` until the window ends."""
        wanted = self.queue.batch_size
        messages = await self._receive(min(wanted, RECEIVE_MAX), POLL_WAIT_SECONDS)
        self.backlog = len(messages) >= min(wanted, RECEIVE_MAX)
        deadline = time.monotonic() + self.queue.batch_window
        while messages and len(messages) < wanted and time.monotonic() < deadline:
            more = await self._receive(min(wanted - len(messages), RECEIVE_MAX), max(0, min(POLL_WAIT_SECONDS, int(deadline - time.monotonic()))))
            messages += more
        return messages

    async def _receive(self, count: int, wait: int) -> list[dict]:
        receive = asyncio.ensure_future(
            self.sqs.call(
                "ReceiveMessage",
                {
                    "QueueUrl": self.url,
                    "MaxNumberOfMessages": count,
                    "WaitTimeSeconds": wait,
                    "AttributeNames": ["All"],
                    "MessageSystemAttributeNames": ["All"],
                    "MessageAttributeNames": ["All"],
                },
                timeout=wait + 10,
            )
        )
        stopped = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({receive, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not receive.done():  # stopping: a message this receive takes comes back after its visibility timeout
            receive.cancel()
            return []
        return receive.result().get("Messages") or []

    async def _run_batch(self, messages: list[dict]) -> None:
        ids = [m["MessageId"] for m in messages]
        event = {"Records": [record(m, self.arn, self.region) for m in messages]}
        from devkit.sandbox.workers import InvocationError

        self.batches += 1
        try:
            result = await self.invoke(self.function, str(uuid.uuid4()), event)
        except InvocationError as error:
            failed, why = ids, f"the batch failed ({error})"
        else:
            named = failed_ids(result, ids) if self.queue.report_failures else []
            failed, why = (ids, "batchItemFailures named an id not in the batch: the whole batch fails") if named is None else (named, "")
        done = [m for m in messages if m["MessageId"] not in failed]
        try:
            await self._delete(done)
        except (SqsError, OSError, asyncio.TimeoutError) as error:
            self.log.info(f"queue {self.queue.name}: deleting {len(done)} processed message(s) failed ({error}); they come back after the visibility timeout")
        self._report(messages, failed, why)

    async def _delete(self, messages: list[dict]) -> None:
        for start in range(0, len(messages), RECEIVE_MAX):
            chunk = messages[start : start + RECEIVE_MAX]
            await self.sqs.call(
                "DeleteMessageBatch", {"QueueUrl": self.url, "Entries": [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]}
            )

    def _report(self, messages: list[dict], failed: list[str], why: str) -> None:
        """One log line per batch: queue, messages, failures, receive counts of the failed ones."""
        line = f"queue {self.queue.name} -> {self.function.id}: {len(messages)} message(s), {len(failed)} failed"
        if not failed:
            self.log.event(line)
            return
        counts = [int((m.get("Attributes") or {}).get("ApproximateReceiveCount", 1)) for m in messages if m["MessageId"] in failed]
        line += f" (receive count {', '.join(map(str, sorted(set(counts))))} of {self.queue.max_receives})"
        if why:
            line += f"; {why}"
        last = sum(1 for c in counts if c >= self.queue.max_receives)
        if last:
            line += f"; {last} received {self.queue.max_receives} times go to the dead-letter queue {self.dlq}"
        else:
            line += f"; back after the visibility timeout ({self.queue.visibility_timeout} s)"
        self.log.info(line)

    async def stop(self, grace: float) -> None:
        """Stop receiving; batches under way get `grace` seconds to finish, then are cancelled (their
        messages stay in the queue, not deleted)."""
        self.stopping.set()
        if self.pollers:
            _, late = await asyncio.wait(set(self.pollers), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)


class EventSources:
    """Every queue's event source; `start()` once the embedded SQS has the queues, `stop()` at the end."""

    def __init__(self, manifest: Manifest, endpoint: str, prefix: str, account: str, invoke: Invoke, log, limit: int):
        region = manifest.aws.region
        self.sqs, self.log = Sqs(endpoint, region), log
        self.sources = []
        for queue in manifest.queues:
            spec = QueueSpec.of(queue, prefix)
            self.sources.append(
                EventSource(
                    queue,
                    manifest.consumer(queue),
                    queue_url(endpoint, account, spec.name),
                    f"arn:aws:sqs:{region}:{account}:{spec.name}",
                    spec.dlq,
                    region,
                    self.sqs,
                    invoke,
                    log,
                    limit,
                )
            )
        self.dlq_urls = {s.queue.name: queue_url(endpoint, account, s.dlq) for s in self.sources}
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(source.run()) for source in self.sources]

    async def stop(self, grace: float = 2.0) -> None:
        """Stop polling, then say what each queue still holds: the embedded SQS keeps nothing after
        the sandbox stops, so nothing is dropped without a line."""
        await asyncio.gather(*(source.stop(grace) for source in self.sources))
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for source in self.sources:
            try:
                left = await self._count(source.url)
                dead = await self._count(self.dlq_urls[source.queue.name])
            except (SqsError, OSError, asyncio.TimeoutError):
                continue
            if left or dead:
                self.log.info(
                    f"queue {source.queue.name}: {left} message(s) not yet processed and {dead} in its dead-letter "
                    f"queue are discarded with the sandbox (the embedded SQS keeps nothing between runs)"
                )
        await self.sqs.close()

    async def _count(self, url: str) -> int:
        answer = await self.sqs.call(
            "GetQueueAttributes",
            {"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]},
            timeout=2,
        )
        return sum(int(v) for v in (answer.get("Attributes") or {}).values())


def queue_url(endpoint: str, account: str, name: str) -> str:
    """The URL moto's server gives a queue: `<endpoint>/<account>/<name>`."""
    return f"{endpoint.rstrip('/')}/{account}/{name}"
