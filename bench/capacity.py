"""Predicted AWS time for one broadcast through the queue, from measured CPU per post: the `make bench`
capacity table (docs/deploy.md, "Where broadcast ends").

The model runs the fan-out second by second:
- the producer reads the table and enqueues; its speed is its CPU per connection id at its memory's
  share of a vCPU, plus one Scan round trip per page; near its timeout it hands the rest on to the
  next reader (shared.fanout), so reading is one chain of invocations, never cut short;
- Lambda's SQS poller runs 5 batches at once at first and adds up to 300 a minute while messages wait,
  up to 1,000 (or the queue's maxConcurrency);
- each batch posts `ids per batch` times, taking the longer of its CPU time at its memory's vCPU share
  and its posts' round trips over its threads;
- API Gateway's account throttle caps the posts at 10,000 a second for the whole account.
Every assumption is in `ASSUMPTIONS`, with its source; the ones no source gives are marked as estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

FULL_VCPU_MB = 1769

ASSUMPTIONS = (
    ("CPU share", "memory / 1,769 MB of a vCPU", 'Lambda developer guide, "Configure Lambda function memory"'),
    (
        "event source scaling",
        "5 concurrent batches at first, +300 a minute while messages wait, at most 1,000",
        'Lambda developer guide, "Configuring scaling behavior for SQS event source mappings"',
    ),
    (
        "account throttle",
        "10,000 requests a second across the account's APIs, @connections posts included",
        'API Gateway developer guide, "Amazon API Gateway quotas" (account-level throttle per Region)',
    ),
    (
        "Scan",
        "1 MB per page; with ~100-byte rows about 10,000 ids a page, ~50 ms a page",
        'DynamoDB developer guide, "Paginating table scan results" (1 MB); the row size and page time are estimates',
    ),
    (
        "CPU per enqueued id",
        "measured producer CPU per id (boto3 parsing a Scan page and SendMessageBatch of 25-id messages)",
        "estimate where not measured: 25 us at a full vCPU",
    ),
    ("post round trip", "20 ms from Lambda to API Gateway's @connections in the same Region", "estimate (no AWS figure)"),
)


@dataclass(frozen=True)
class Inputs:
    cpu_per_post_s: float  # measured, at a full vCPU
    cpu_per_id_s: float = 25e-6  # the producer's, at a full vCPU (estimate unless measured)
    deliver_memory_mb: int = 256
    producer_memory_mb: int = 256
    producer_timeout_s: float = 29
    reserve_s: float = 5  # the producer hands on this long before its timeout
    ids_per_batch: int = 250  # 25 ids a message x batchSize 10
    threads: int = 16
    post_round_trip_s: float = 0.020
    scan_page_ids: int = 10000
    scan_page_s: float = 0.050
    initial_batches: int = 5
    added_per_minute: int = 300
    max_batches: int = 1000
    account_rps: int = 10000


def vcpus(memory_mb: int) -> float:
    return min(memory_mb / FULL_VCPU_MB, 6)


def batch_seconds(inputs: Inputs) -> float:
    """One deliver invocation: CPU-bound at its vCPU share, or bound by round trips over its threads."""
    cpu = inputs.ids_per_batch * inputs.cpu_per_post_s / vcpus(inputs.deliver_memory_mb)
    waits = inputs.ids_per_batch / inputs.threads * inputs.post_round_trip_s
    return max(cpu, waits)


def producer_seconds(connections: int, inputs: Inputs) -> float:
    pages = -(-connections // inputs.scan_page_ids)
    return connections * inputs.cpu_per_id_s / vcpus(inputs.producer_memory_mb) + pages * inputs.scan_page_s


def predict(connections: int, inputs: Inputs, step: float = 0.1) -> dict:
    """Seconds until every connection got the post, what bounded it most of that time, and how many
    invocations the reading took (each hands the rest on `reserve_s` before its timeout)."""
    produce = producer_seconds(connections, inputs)
    readers = max(1, -(-int(produce * 1000) // int((inputs.producer_timeout_s - inputs.reserve_s) * 1000)))
    reached = connections
    per_batch = batch_seconds(inputs)
    posted = 0.0
    t = 0.0
    binding: dict[str, int] = {}  # constraint -> steps it bound
    while posted < reached:
        t += step
        enqueued = min(reached, connections * t / max(produce, step))
        batches = min(inputs.max_batches, inputs.initial_batches + int(t * inputs.added_per_minute / 60))
        rate, bound = batches * inputs.ids_per_batch / per_batch, "event source scaling"
        if rate >= inputs.account_rps:
            rate, bound = inputs.account_rps, "API Gateway's 10,000 requests/s"
        if posted + rate * step > enqueued:
            bound = "the producer"
        binding[bound] = binding.get(bound, 0) + 1
        posted = min(enqueued, posted + rate * step)
    bound = max(binding, key=lambda b: binding[b])
    return {
        "connections": connections,
        "seconds": round(t, 1),
        "bound": bound,
        "readers": readers,
        "producer_s": round(produce, 1),
        "batch_s": round(per_batch, 2),
    }


def table(inputs: Inputs, sizes=(1_000, 10_000, 100_000, 1_000_000)) -> str:
    """The Markdown table and its assumptions."""
    rows = [predict(n, inputs) for n in sizes]
    lines = [
        f"Measured CPU per post {inputs.cpu_per_post_s * 1000:.2f} ms at a full vCPU; deliver at {inputs.deliver_memory_mb} MB "
        f"({vcpus(inputs.deliver_memory_mb):.2f} vCPU): one batch of {inputs.ids_per_batch} posts takes about "
        f"{batch_seconds(inputs):.1f} s.",
        "",
        "| connections | predicted time on AWS | bound by | reading the table | reading invocations |",
        "|---:|---:|---|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {row['connections']:,} | {row['seconds']:,} s | {row['bound']} | {row['producer_s']:,} s | {row['readers']} |")
    lines += ["", "| assumption | value | source |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {source} |" for name, value, source in ASSUMPTIONS]
    return "\n".join(lines)
