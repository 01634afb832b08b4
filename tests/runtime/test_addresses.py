"""The shared SSRF rule: which resolved addresses an image URL from outside may reach."""

from __future__ import annotations

import ipaddress

import pytest

from runtime.addresses import is_public


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True), ("8.8.8.8", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
    ("2001:4860:4860::8888", True),
    ("127.0.0.1", False), ("10.0.0.1", False), ("10.1.2.3", False), ("172.16.5.4", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("224.0.0.1", False), ("255.255.255.255", False),
    ("240.0.0.1", False),
    ("::", False), ("fe80::1", False), ("fc00::1", False), ("fec0::1", False), ("ff02::1", False),
    ("::ffff:10.0.0.1", False), ("::ffff:127.0.0.1", False), ("::ffff:93.184.216.34", True),
    ("64:ff9b::7f00:1", False), ("64:ff9b::a01:203", False), ("2002:7f00:1::", False),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False), ("::7f00:1", False),
])
def test_is_public_when_address_is_of_each_kind(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public
