"""The capacity model: Lambda's CPU share by memory (the Lambda guide, "Configure Lambda function
memory": one vCPU at 1,769 MB, at most 6 vCPUs at 10,240 MB)."""

from devkit.sandbox.capacity import SLOW_SECONDS, predict, vcpus


def test_cpu_share_is_memory_over_1769_mb_capped_at_six():
    assert vcpus(1769) == 1 and round(vcpus(256), 3) == 0.145
    assert vcpus(10240) == 10240 / 1769 and vcpus(20000) == 6  # the proportion gives 5.8 at the maximum; never past 6


def test_prediction_scales_cpu_time_and_never_goes_below_the_wall_time():
    assert predict(0.1769, 0.2, 1769).lambda_s == 0.2
    assert round(predict(0.5, 0.2, 884.5).lambda_s, 6) == 1.0


def test_the_line_appears_from_the_slow_threshold_and_warns_only_past_the_timeout():
    fast = predict(SLOW_SECONDS * 1769 / 1769 - 0.001, 0.01, 1769)
    assert fast.line(10) is None
    slow = predict(SLOW_SECONDS, 0.01, 1769)
    assert slow.line(10).startswith("[sandbox] 1.00 s of CPU") and "warning" not in slow.line(1.0)
    assert slow.line(0.999).startswith("warning: [sandbox]") and "past its 0.999 s timeout" in slow.line(0.999)
