"""Which network addresses a URL from outside may reach: the SSRF rule every fetching process shares.

Only the resolved addresses are judged, never the spelling of the host, so numeric forms (``2130706433``,
``127.1``, ``[::ffff:127.0.0.1]``) need no special case; the caller must then connect to the address it
checked, never resolve the name again (DNS rebinding).
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public(address: IPAddress) -> bool:
    """True only for globally routable unicast; tunnel and translation forms are judged by what they carry."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address in _NAT64:
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour is not None or address.teredo is not None or address.is_site_local:
            return False  # 6to4 and Teredo reach arbitrary IPv4 hosts; fec0::/10 is site-local
    # Python 3.11 calls multicast and some reserved ranges global: check them one by one.
    internal = (address.is_private, address.is_loopback, address.is_link_local, address.is_multicast,
                address.is_reserved, address.is_unspecified)
    return address.is_global and not any(internal)
