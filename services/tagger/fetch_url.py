"""An image URL as the fetcher sees it: its parsed form and the errors that name the field.

Which resolved addresses it may reach is the shared rule ``runtime.addresses.is_public``.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from contracts import ErrorCode
from modelspec.errors import InputError

FIELD = "data.image.url"
DEFAULT_PORTS = {"http": 80, "https": 443}
#: one ``socket.getaddrinfo`` answer
AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]


class FetchError(InputError):
    """An image URL that could not be fetched; ``outcome`` says how (one label of the fetch metrics)."""

    def __init__(self, code: ErrorCode, message: str, *, outcome: str) -> None:
        super().__init__(code, message, field=FIELD)
        self.outcome = outcome


@dataclass(frozen=True)
class Target:
    """One URL to request, normalised: the host is what gets resolved and checked."""

    url: str  # as given: only for resolving a relative redirect, never shown
    scheme: str
    host: str  # ASCII (IDNA), lower case, IPv6 without brackets
    port: int
    path: str  # path and query, percent-encoded

    @property
    def bracketed(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def netloc(self) -> str:
        return self.bracketed if self.port == DEFAULT_PORTS[self.scheme] else f"{self.bracketed}:{self.port}"

    @property
    def shown(self) -> str:
        """For messages and logs: no userinfo, no query (signed URLs carry tokens there)."""
        return f"{self.scheme}://{self.netloc}{self.path.split('?', 1)[0]}"[:300]

    def allowed_by(self, allow: frozenset[str]) -> bool:
        """Whether ``allow`` (exact ``host:port`` or ``host`` entries, lower case) names this host."""
        return not allow.isdisjoint({self.host, self.bracketed, f"{self.bracketed}:{self.port}"})


def forbidden(message: str) -> FetchError:
    return FetchError(ErrorCode.IMAGE_URL_FORBIDDEN, message, outcome="forbidden")


def failed(message: str, outcome: str) -> FetchError:
    return FetchError(ErrorCode.IMAGE_URL_FAILED, message, outcome=outcome)


def too_large(target: Target, limit: int, got: str) -> FetchError:
    return FetchError(ErrorCode.IMAGE_TOO_LARGE, f"image at {target.shown} is larger than {limit} bytes ({got})",
                      outcome="too_large")


def parse(url: str) -> Target:
    """``url`` as a :class:`Target`, or an ``IMAGE_URL_FORBIDDEN`` error for a scheme or host we never fetch."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # its text may repeat the URL: say nothing more
        raise forbidden("image URL has a malformed host or port") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise forbidden(f"image URL scheme {scheme!r} is not allowed: only http and https")
    if not parts.hostname:
        raise forbidden("image URL has no host")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise forbidden("image URL host is not a valid domain name") from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(url, scheme, host, port or DEFAULT_PORTS[scheme], quote(path, safe="!$%&'()*+,/:;=?@[]~"))


def literal_answer(target: Target) -> list[AddrInfo] | None:
    """The one address a host that is already an IP address (in its canonical spelling) stands for."""
    try:
        address = ipaddress.ip_address(target.host)
    except ValueError:
        return None
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (target.host, target.port))]
