"""`@queues` entries: Architect's syntax and option names, SQS's naming rules, and the settings of the
Lambda event source mapping that AWS has and Architect lacks.

    @queues
    jobs              # consumed by src/queues/jobs/ (the same handler lookup as other functions)
      batchSize 10    # Architect's: messages per invocation (1-10,000; above 10 needs batchWindow)
      batchWindow 1   # Architect's: seconds to gather a batch (0-300)
      fifo false      # Architect's: a FIFO queue (its physical name ends in .fifo)
      visibilityTimeout 60  # seconds; default 6x the consumer's timeout, as AWS advises
      maxReceives 5   # receives before the dead-letter queue (every queue has one)
      maxConcurrency 10     # the consumer's concurrent batches (2-1,000); default: unlimited
      reportFailures true   # ReportBatchItemFailures: only the failed messages come back

Sources: Architect's inventory (`populate-lambda/_queues.js`: fifo, batchSize, batchWindow;
`validate/_events.js`); SQS's CreateQueue API reference (QueueName: up to 80 alphanumerics, hyphens,
underscores; `.fifo` suffix; VisibilityTimeout 0-43,200; RedrivePolicy maxReceiveCount); the Lambda
guide "Using Lambda with Amazon SQS" (BatchSize 1-10,000, above 10 needs a window; FIFO at most 10;
MaximumBatchingWindowInSeconds 0-300; ScalingConfig.MaximumConcurrency 2-1,000; a visibility timeout
of at least the function's timeout, 6x advised).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

from devkit.arc import Entry
from devkit.errors import ManifestError

MAX_QUEUE_NAME = 80  # SQS
MAX_VISIBILITY_TIMEOUT = 43200  # SQS: 12 hours
LOCAL_PREFIX_STAGE = "staging"  # the longest stage name a physical name carries (`<app>-staging-<name>`)
DLQ_SUFFIX = "-dlq"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum, so a dead letter outlives its source message
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Queue:
    """One `@queues` entry, with its event source settings (see the module's docstring)."""

    name: str
    fifo: bool = False
    batch_size: int = 10  # Lambda's default for SQS
    batch_window: int = 0  # seconds
    visibility_timeout: int | None = None  # None until known: 6x the consumer's timeout
    max_receives: int = 5
    max_concurrency: int | None = None  # None: as many as Lambda gives (1,000)
    report_failures: bool = True

    def physical_name(self, prefix: str) -> str:
        """`<prefix>-<name>`, with `.fifo` for a FIFO queue (SQS requires it)."""
        return f"{prefix}-{self.name}" + (".fifo" if self.fifo else "")

    def dlq_name(self, prefix: str) -> str:
        return f"{prefix}-{self.name}{DLQ_SUFFIX}" + (".fifo" if self.fifo else "")

    def for_consumer(self, timeout: int, path: Path, line: int) -> Queue:
        """The queue with its visibility timeout set: 6x `timeout` (the consumer's) unless declared;
        a declared one shorter than `timeout` is an error, as Lambda refuses the mapping."""
        if self.visibility_timeout is None:
            return dataclasses.replace(self, visibility_timeout=min(6 * timeout, MAX_VISIBILITY_TIMEOUT))
        if self.visibility_timeout < timeout:
            raise ManifestError(
                path,
                line,
                f"queue {self.name}: visibilityTimeout {self.visibility_timeout} is shorter than its "
                f"consumer's timeout ({timeout} s); Lambda requires at least that (6x is advised)",
            )
        return self


# option -> (field, low, high); booleans have no range
OPTIONS: dict[str, tuple[str, int, int]] = {
    "batchSize": ("batch_size", 1, 10000),
    "batchWindow": ("batch_window", 0, 300),
    "visibilityTimeout": ("visibility_timeout", 0, MAX_VISIBILITY_TIMEOUT),
    "maxReceives": ("max_receives", 1, 1000),
    "maxConcurrency": ("max_concurrency", 2, 1000),
}
BOOLEANS = {"fifo": "fifo", "reportFailures": "report_failures"}


def queue_entry(entry: Entry, path: Path, app: str) -> tuple[Queue, Entry]:
    """Validate one `@queues` entry; every problem is `file:line: what was expected`."""
    if len(entry.words) != 1:
        raise ManifestError(path, entry.line, f"@queues expects a queue name alone on its line, got {' '.join(entry.words)!r}")
    name = entry.words[0]
    if not _QUEUE_NAME.match(name):
        raise ManifestError(path, entry.line, f"queue name {name!r}: SQS allows only letters, digits, '-' and '_'")
    values: dict = {}
    for child in entry.children:
        if len(child.words) != 2:
            raise ManifestError(path, child.line, f"expected '<option> <value>' with an option of {', '.join([*OPTIONS, *BOOLEANS])}")
        option, value = child.words
        if option in BOOLEANS:
            if value not in ("true", "false"):
                raise ManifestError(path, child.line, f"{option} {value!r}: expected true or false")
            values[BOOLEANS[option]] = value == "true"
        elif option in OPTIONS:
            field, low, high = OPTIONS[option]
            if not (value.isascii() and value.isdigit() and len(value) <= 6) or not low <= int(value) <= high:
                raise ManifestError(path, child.line, f"{option} {value!r}: expected a whole number from {low} to {high}")
            values[field] = int(value)
        else:
            raise ManifestError(path, child.line, f"unknown queue option {option!r}; expected one of {', '.join([*OPTIONS, *BOOLEANS])}")
    queue = Queue(name, **values)
    longest = queue.dlq_name(f"{app}-{LOCAL_PREFIX_STAGE}")
    if len(longest) > MAX_QUEUE_NAME:
        raise ManifestError(
            path,
            entry.line,
            f"queue name {name!r}: its dead-letter queue's name {longest!r} would pass SQS's "
            f"{MAX_QUEUE_NAME} characters; use at most {len(name) - len(longest) + MAX_QUEUE_NAME}",
        )
    if queue.batch_size > 10 and queue.fifo:
        raise ManifestError(path, entry.line, f"queue {name}: a FIFO queue's batchSize is at most 10")
    if queue.batch_size > 10 and queue.batch_window < 1:
        raise ManifestError(
            path,
            entry.line,
            f"queue {name}: batchSize {queue.batch_size} needs batchWindow of at least 1 (Lambda gathers more than 10 messages only within a window)",
        )
    return queue, entry
