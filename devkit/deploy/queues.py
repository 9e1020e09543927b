"""`@queues` -> CloudFormation: each queue, its dead-letter queue, and the event source mapping that
invokes its consumer; with alarms on, an alarm on the dead-letter queue's depth.

Sources: the CloudFormation reference for AWS::SQS::Queue (`SqsManagedSseEnabled`,
`VisibilityTimeout`, `RedrivePolicy`, `MessageRetentionPeriod` up to 1,209,600 s) and
AWS::Lambda::EventSourceMapping (`BatchSize`, `MaximumBatchingWindowInSeconds`,
`FunctionResponseTypes: [ReportBatchItemFailures]`, `ScalingConfig.MaximumConcurrency`); the SQS
developer guide, "Creating alarms for dead-letter queues" (ApproximateNumberOfMessagesVisible).
The consumer's receive/delete rights and producers' send rights are in each function's role
(devkit/permissions.py), each on exactly its queue's ARN.
"""

from __future__ import annotations

import re

from devkit.deploy import operations
from devkit.manifest import Manifest, Queue
from devkit.queues import DLQ_RETENTION_SECONDS

RETENTION_SECONDS = 4 * 24 * 3600  # SQS's default, written out; the dead-letter queue keeps its messages longer


def queue_id(name: str) -> str:
    """`deliver` -> `QueueDeliver` (its dead-letter queue: `QueueDeliverDlq`)."""
    return "Queue" + "".join(p[:1].upper() + p[1:] for p in re.split(r"[^A-Za-z0-9]+", name) if p)


def resources(manifest: Manifest, consumer_logical) -> tuple[dict, dict]:
    """(resources, outputs) for every queue; `consumer_logical(function)` is its function's logical id."""
    found: dict[str, dict] = {}
    outputs: dict[str, dict] = {}
    for queue in manifest.queues:
        name = queue_id(queue.name)
        found[name + "Dlq"] = _queue({"MessageRetentionPeriod": DLQ_RETENTION_SECONDS}, queue)
        found[name] = _queue(
            {
                "VisibilityTimeout": queue.visibility_timeout,
                "MessageRetentionPeriod": RETENTION_SECONDS,
                "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [name + "Dlq", "Arn"]}, "maxReceiveCount": queue.max_receives},
            },
            queue,
        )
        found[name + "EventSource"] = _event_source(queue, name, consumer_logical(manifest.consumer(queue)))
        outputs[name + "Url"] = {"Description": f"SQS queue {queue.name}", "Value": {"Ref": name}}
    return found, outputs


def _queue(properties: dict, queue: Queue) -> dict:
    properties = {"SqsManagedSseEnabled": True, **properties}
    if queue.fifo:
        properties["FifoQueue"] = True
    # Messages in a queue are work in flight, not data to keep: they go with the stack in every stage.
    return {"Type": "AWS::SQS::Queue", "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete", "Properties": properties}


def _event_source(queue: Queue, name: str, function: str) -> dict:
    properties: dict = {
        "EventSourceArn": {"Fn::GetAtt": [name, "Arn"]},
        "FunctionName": {"Ref": function + "Function"},
        "BatchSize": queue.batch_size,
        "Enabled": True,
    }
    if queue.batch_window:
        properties["MaximumBatchingWindowInSeconds"] = queue.batch_window
    if queue.report_failures:
        properties["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    if queue.max_concurrency:
        properties["ScalingConfig"] = {"MaximumConcurrency": queue.max_concurrency}
    # The role must allow sqs:ReceiveMessage before Lambda accepts the mapping.
    return {"Type": "AWS::Lambda::EventSourceMapping", "DependsOn": [function + "Role"], "Properties": properties}


def dead_letter_watches(manifest: Manifest) -> list[operations.Watch]:
    """One alarm per dead-letter queue (devkit/deploy/operations.py): any message in it failed every
    receive it had."""
    return [operations.queue_depth_watch(queue_id(q.name) + "Dlq", queue_id(q.name) + "Dlq") for q in manifest.queues]
