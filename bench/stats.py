"""Summaries of measured samples: pure functions, no I/O.

Percentiles use linear interpolation between closest ranks (NumPy's default, "type 7"), so p50 of
an even-sized sample is the mean of the two middle values. Samples are seconds unless a name says
otherwise; summaries convert to milliseconds for people.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0..100) of `samples`; raises ValueError on an empty sample or a bad q."""
    if not samples:
        raise ValueError("percentile of an empty sample")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(samples: Sequence[float]) -> float:
    return percentile(samples, 50)


def latency_summary(seconds: Sequence[float]) -> dict:
    """`{"n", "p50_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "mean_ms"}` of samples in seconds.

    An empty sample gives `{"n": 0}` and no figures: a step that measured nothing says so.
    """
    if not seconds:
        return {"n": 0}
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "min_ms": min(ms),
        "max_ms": max(ms),
        "mean_ms": sum(ms) / len(ms),
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is not positive."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator
