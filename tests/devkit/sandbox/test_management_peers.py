"""Who may call the sandbox's Management API: this machine only (its own policy; AWS has no equivalent,
the real API is public and authenticated by SigV4, which the sandbox cannot verify without secrets).

The sandbox listens on loopback only, so no test socket can come from elsewhere; the check itself is
tested here, including that its per-address memory never answers for another address.
"""

import pytest

from devkit.sandbox.management_api import _is_loopback


@pytest.mark.parametrize("address, allowed", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True),
    ("10.0.0.1", False), ("192.168.1.5", False), ("::ffff:10.0.0.1", False), ("fe80::1", False),
    (None, False), ("", False), ("not an address", False),
])
def test_only_loopback_peers_are_allowed(address, allowed):
    assert _is_loopback(address) is allowed
    assert _is_loopback(address) is allowed  # the remembered answer is the same


def test_a_remembered_loopback_answer_does_not_leak_to_other_addresses():
    assert _is_loopback("127.0.0.1")
    assert not _is_loopback("127.0.0.2 ")
    assert not _is_loopback("10.0.0.1")
