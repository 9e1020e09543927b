"""The latency chart: cumulative distributions of echo round trips and connect times for the sandbox,
the floor and Architect's sandbox, on a log time axis (they differ by orders of magnitude).

matplotlib is imported here only (headless Agg backend), so the rest of the bench works without it.
"""

from __future__ import annotations

from pathlib import Path

SERIES = (("sandbox", "Sandbox", "#1f77b4"), ("floor", "Floor (bare aiohttp)", "#2ca02c"), ("architect", "Architect sandbox", "#d62728"))


def write_chart(results: dict, path: Path) -> bool:
    """Draw the PNG at `path`; False (and no file) when there are no latencies to draw."""
    panels = [("echo", "Echo round trip"), ("connect", "Connect ($connect included)")]
    if not any(_samples(results, name, kind) for name, _, _ in SERIES for kind, _ in panels):
        return False
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for axis, (kind, title) in zip(axes, panels, strict=True):
        for name, label, colour in SERIES:
            samples = sorted(s * 1000 for s in _samples(results, name, kind))
            if not samples:
                continue
            fractions = [(i + 1) / len(samples) for i in range(len(samples))]
            axis.step(samples, fractions, where="post", color=colour, label=f"{label} (n={len(samples)})")
        axis.set_xscale("log")
        axis.set_title(title)
        axis.set_xlabel("milliseconds (log scale)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(loc="lower right", fontsize=8)
    axes[0].set_ylabel("fraction of samples at or below")
    machine = results.get("machine", {})
    figure.suptitle(f"Latency distribution: {machine.get('cores')} cores, {machine.get('cpu', '')}", fontsize=10)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return True


def _samples(results: dict, name: str, kind: str) -> list[float]:
    server = results.get("servers", {}).get(name) or {}
    return (server.get(kind) or {}).get("latencies_s") or []
