"""Fetch an image URL without letting the URL reach into our own network (SSRF).

The host is resolved once, every address it resolves to is checked, and the connection goes to a
checked address: a second lookup (DNS rebinding) never happens. Redirects are followed by hand and
checked the same way. Numeric spellings (``2130706433``, ``127.1``, ``[::ffff:127.0.0.1]``) need no
special case, since only the resolved addresses are judged.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from contracts import ErrorCode
from modelspec.errors import InputError

logger = logging.getLogger(__name__)

FIELD = "data.image.url"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Checked = tuple[socket.AddressFamily, socket.SocketKind, int, tuple[Any, ...]]


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of one fetch. ``timeout_s`` bounds connect, TLS, request and body together, redirects
    included; name resolution runs before it under the system resolver's own timeout."""

    timeout_s: float = 5.0
    max_bytes: int = 4 * 1024 * 1024
    #: exact ``host:port`` (or ``host``: any port) that may resolve to internal addresses
    allow_hosts: frozenset[str] = frozenset()
    max_redirects: int = 3


@dataclass(frozen=True)
class _Target:
    url: str  # as given: only for resolving a relative redirect, never shown
    scheme: str
    host: str  # ASCII (IDNA), lower case, IPv6 without brackets
    port: int
    path: str  # path and query, percent-encoded

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def shown(self) -> str:
        """For messages and logs: no userinfo, no query (signed URLs carry tokens there)."""
        return f"{self.scheme}://{self.netloc}{self.path.split('?', 1)[0]}"[:300]


@dataclass(frozen=True)
class _Redirect:
    location: str


def _forbidden(message: str) -> InputError:
    return InputError(ErrorCode.IMAGE_URL_FORBIDDEN, message, field=FIELD)


def _failed(message: str) -> InputError:
    return InputError(ErrorCode.IMAGE_URL_FAILED, message, field=FIELD)


def _parse(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # its text may repeat the URL: say nothing more
        raise _forbidden("image URL has a malformed host or port") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _forbidden(f"image URL scheme {scheme!r} is not allowed: only http and https")
    if not parts.hostname:
        raise _forbidden("image URL has no host")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        raise _forbidden("image URL host is not a valid domain name") from None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return _Target(url, scheme, host, port or _DEFAULT_PORTS[scheme],
                   quote(path, safe="!$%&'()*+,/:;=?@[]~"))


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


class SafeFetcher:
    """Downloads images over http(s) under a :class:`FetchPolicy`; every failure is an ``InputError``."""

    def __init__(self, policy: FetchPolicy) -> None:
        self._policy = policy
        self._allow = frozenset(h.strip().lower() for h in policy.allow_hosts)
        self._tls = ssl.create_default_context()

    def fetch(self, url: str) -> bytes:
        """The body of ``url``, redirects followed, or an ``InputError`` that says why not."""
        deadline = time.monotonic() + self._policy.timeout_s
        target = _parse(url)
        for _ in range(self._policy.max_redirects + 1):
            result = self._get(target, deadline)
            if isinstance(result, bytes):
                logger.debug("fetched %s: %d bytes", target.shown, len(result))
                return result
            target = _parse(urljoin(target.url, result.location))
        raise _failed(f"image URL redirected more than {self._policy.max_redirects} times "
                      f"(last to {target.shown})")

    def _allowed(self, target: _Target) -> bool:
        host = f"[{target.host}]" if ":" in target.host else target.host
        return not self._allow.isdisjoint({target.host, host, f"{host}:{target.port}"})

    def _resolve(self, target: _Target) -> list[_Checked]:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as e:
            raise _failed(f"cannot resolve image host {target.host}: {e}") from e
        allowed = self._allowed(target)
        checked: list[_Checked] = []
        for family, kind, proto, _, sockaddr in infos:
            address = ipaddress.ip_address(sockaddr[0])
            if not (allowed or is_public(address)):
                logger.info("refused %s: resolves to internal address %s", target.shown, address)
                raise _forbidden(f"image host {target.netloc} resolves to internal address {address}; only "
                                 "public addresses are fetched (see TAGSTREAM_URL_ALLOW_HOSTS)")
            checked.append((family, kind, proto, sockaddr))
        return checked

    def _connect(self, target: _Target, deadline: float) -> socket.socket:
        error: OSError = OSError("no address")
        for family, kind, proto, sockaddr in self._resolve(target):
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(_remaining(deadline))
                sock.connect(sockaddr)  # the checked address itself: no second lookup
            except OSError as e:
                sock.close()
                error = e
                continue
            return sock
        raise error

    def _get(self, target: _Target, deadline: float) -> bytes | _Redirect:
        expired = threading.Event()
        box: list[socket.socket] = []

        def cut() -> None:  # the socket timeout bounds each step; this bounds a server that drips bytes
            expired.set()
            with contextlib.suppress(OSError, IndexError):
                socket.socket.shutdown(box[-1], socket.SHUT_RDWR)  # the OS socket, also under TLS

        watchdog: threading.Timer | None = None
        try:
            box.append(self._connect(target, deadline))
            watchdog = threading.Timer(_remaining(deadline), cut)
            watchdog.daemon = True
            watchdog.start()
            if target.scheme == "https":  # handshake after the swap, so the watchdog can cut it too
                tls = self._tls.wrap_socket(box.pop(), server_hostname=target.host,
                                            do_handshake_on_connect=False)
                box.append(tls)
                tls.do_handshake()
            result = self._exchange(target, box[-1])
        except TimeoutError as e:
            raise self._timed_out(target) from e
        except (OSError, http.client.HTTPException) as e:
            if expired.is_set():
                raise self._timed_out(target) from e
            raise _failed(f"fetching {target.shown} failed: {type(e).__name__}: {e}") from e
        finally:
            if watchdog is not None:
                watchdog.cancel()
            for sock in box:
                sock.close()
        if expired.is_set():  # a cut connection can look like a short but complete body: never return it
            raise self._timed_out(target)
        return result

    def _timed_out(self, target: _Target) -> InputError:
        return _failed(f"fetching {target.shown} timed out after {self._policy.timeout_s}s")

    def _exchange(self, target: _Target, sock: socket.socket) -> bytes | _Redirect:
        conn = http.client.HTTPConnection(target.host, target.port)
        conn.sock = sock  # already connected (and wrapped): http.client never resolves anything
        headers = {"Host": target.netloc, "Accept": "image/*", "User-Agent": "tagstream-tagger",
                   "Connection": "close"}
        conn.request("GET", target.path, headers=headers)
        with conn.getresponse() as response:
            return self._body(target, response)

    def _body(self, target: _Target, response: http.client.HTTPResponse) -> bytes | _Redirect:
        if response.status in _REDIRECTS and response.getheader("Location"):
            return _Redirect(response.getheader("Location", ""))
        if response.status >= 400:
            raise _failed(f"image host {target.netloc} answered HTTP {response.status} for {target.shown}")
        if not 200 <= response.status < 300:
            raise _failed(f"image host {target.netloc} answered unexpected HTTP {response.status}")
        limit = self._policy.max_bytes
        length = response.getheader("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise _too_large(target, limit, f"Content-Length {int(length)}")
        chunks: list[bytes] = []
        total = 0
        while chunk := response.read1(_CHUNK):
            total += len(chunk)
            if total > limit:
                raise _too_large(target, limit, f"over {total} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _too_large(target: _Target, limit: int, got: str) -> InputError:
    return InputError(ErrorCode.IMAGE_TOO_LARGE,
                      f"image at {target.shown} is larger than {limit} bytes ({got})", field=FIELD)


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left
