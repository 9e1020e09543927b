"""What an invocation would take on Lambda, from the CPU time its worker used in the sandbox.

Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB, up to 6 vCPUs at
10,240 MB (the Lambda developer guide, "Configure Lambda function memory"). The sandbox runs every
worker at the machine's full speed, so a function that is CPU-bound locally for 0.4 s is bound for
about 0.4 / (256 / 1,769) = 2.8 s at 256 MB. `predict` says so; the sandbox logs it for slow
invocations (`SLOW_SECONDS` predicted) and warns when the prediction passes the function's timeout.
Network waits are not scaled: the prediction is max(the local wall time, CPU time / vCPUs).
"""

from __future__ import annotations

from dataclasses import dataclass

FULL_VCPU_MB = 1769  # one vCPU
MAX_VCPUS = 6  # at 10,240 MB
SLOW_SECONDS = 1.0  # predicted Lambda time from which an invocation's line says it


def vcpus(memory_mb: int) -> float:
    return min(memory_mb / FULL_VCPU_MB, MAX_VCPUS)


@dataclass(frozen=True)
class Prediction:
    cpu_s: float
    wall_s: float
    memory_mb: int
    lambda_s: float

    def line(self, timeout_s: float) -> str | None:
        """The log line for a slow invocation (None when it is not slow), with the warning past the timeout."""
        if self.lambda_s < SLOW_SECONDS and self.lambda_s <= timeout_s:
            return None
        said = (
            f"[sandbox] {self.cpu_s:.2f} s of CPU in {self.wall_s:.2f} s here; at {self.memory_mb} MB Lambda gives "
            f"{vcpus(self.memory_mb):.2f} vCPU: about {self.lambda_s:.1f} s there"
        )
        if self.lambda_s > timeout_s:
            said = f"warning: {said}, past its {timeout_s:g} s timeout: give it more memory (CPU grows with it) or less work per invocation"
        return said


def predict(cpu_s: float, wall_s: float, memory_mb: int) -> Prediction:
    return Prediction(cpu_s, wall_s, memory_mb, max(wall_s, cpu_s / vcpus(memory_mb)))
