"""Who may call the sandbox's Management API: this machine only (its own policy; AWS has no equivalent,
the real API is public and authenticated by SigV4, which the sandbox cannot verify without secrets).

The sandbox listens on loopback only, so no test socket can come from elsewhere: the check is tested
here, including that its per-address memory never answers for another address, and so is the
Management API's use of it, on a request whose transport names another machine as its peer.
"""

import asyncio

import pytest
from aiohttp.test_utils import make_mocked_request

from devkit.sandbox.connections import Registry
from devkit.sandbox.limits import Limits
from devkit.sandbox.log import Log
from devkit.sandbox.management_api import ManagementApi, _is_loopback


@pytest.mark.parametrize(
    "address, allowed",
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("10.0.0.1", False),
        ("192.168.1.5", False),
        ("::ffff:10.0.0.1", False),
        ("fe80::1", False),
        (None, False),
        ("", False),
        ("not an address", False),
    ],
)
def test_only_loopback_peers_are_allowed(address, allowed):
    assert _is_loopback(address) is allowed
    assert _is_loopback(address) is allowed  # the remembered answer is the same


def test_a_remembered_loopback_answer_does_not_leak_to_other_addresses():
    assert _is_loopback("127.0.0.1")
    assert not _is_loopback("127.0.0.2 ")
    assert not _is_loopback("10.0.0.1")


class Peer:
    """A transport that reports `address` as the peer: the sandbox binds loopback only, so a request from
    another machine cannot be made over a real socket here; aiohttp's `request.remote` reads this."""

    def __init__(self, address: str):
        self.address = address

    def get_extra_info(self, name: str, default=None):
        return (self.address, 50000) if name == "peername" else default


@pytest.mark.parametrize(
    "address, status, kind",
    [
        ("10.0.0.1", 403, "ForbiddenException"),
        ("127.0.0.1", 410, "GoneException"),  # allowed through, then the unknown id is gone
    ],
)
def test_the_management_api_refuses_a_signed_request_from_another_machine(address, status, kind):
    api = ManagementApi(Registry(), Limits(), Log(quiet=True))
    request = make_mocked_request("GET", "/@connections/abc=", headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"}, transport=Peer(address))
    assert request.remote == address
    response = asyncio.run(api.handle(request, "abc="))
    assert (response.status, response.headers["x-amzn-ErrorType"]) == (status, kind)
