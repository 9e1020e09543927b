"""The bench's capacity model (bench/capacity.py): its bounds at their boundaries, each from its source."""

from bench.capacity import ASSUMPTIONS, Inputs, batch_seconds, predict, producer_seconds, table

MEASURED = Inputs(cpu_per_post_s=0.0014)


def test_a_batch_is_cpu_bound_at_256_mb_and_round_trip_bound_at_a_full_vcpu():
    """250 posts x 1.4 ms / (256 / 1,769) vCPU = 2.42 s; at 1,769 MB the CPU (0.35 s) still exceeds the
    round trips (250 / 16 x 20 ms = 0.31 s)."""
    assert round(batch_seconds(MEASURED), 2) == 2.42
    full = Inputs(cpu_per_post_s=0.0014, deliver_memory_mb=1769)
    assert round(batch_seconds(full), 3) == 0.35  # 0.35 s of CPU > 0.3125 s of round trips


def test_a_million_connections_are_bound_by_api_gateways_account_throttle_once_the_producer_keeps_up():
    """API Gateway's 10,000 requests a second: a million posts take at least 100 s."""
    row = predict(1_000_000, Inputs(cpu_per_post_s=0.0014, producer_memory_mb=1769))  # 30 s of reading: 2 readers
    assert row["bound"] == "API Gateway's 10,000 requests/s" and row["seconds"] >= 100 and row["readers"] == 2


def test_reading_past_one_timeout_is_a_chain_of_readers_each_handing_on_5_s_before_its_end():
    row = predict(1_000_000, MEASURED)  # 178 s of reading at 256 MB: 24 s per reader
    assert row["readers"] == 8 and row["bound"] == "the producer" and row["seconds"] >= producer_seconds(1_000_000, MEASURED)
    assert predict(10_000, MEASURED)["readers"] == 1


def test_small_broadcasts_are_bound_by_the_event_sources_first_five_batches():
    row = predict(1_000, MEASURED)
    assert row["bound"] == "event source scaling" and row["seconds"] <= batch_seconds(MEASURED)


def test_the_table_has_the_four_sizes_and_every_assumption_with_its_source():
    written = table(MEASURED)
    assert all(f"| {n:,} |" in written for n in (1_000, 10_000, 100_000, 1_000_000))
    assert all(f"| {name} | {value} | {source} |" in written for name, value, source in ASSUMPTIONS)
