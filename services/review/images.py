"""The item's picture, served by the console itself: reviewers' browsers load images from the console only.

Why the console fetches URL images instead of putting the merchant's URL in the page: a URL in the page
makes every reviewer's browser fetch from whatever host a merchant names, from inside the office network (an
intranet page, a router's admin address) and with the reviewer's address going to whoever runs that host.
The tagger's SSRF-safe fetcher belongs to another process's package, which this one may not import, so
this is a small client of its own under the same rule (``runtime.addresses.is_public``): the host is
resolved once, every address checked, the connection made to the checked address, one deadline for the
whole fetch, the size bounded while reading, redirects checked the same way. The page's
Content-Security-Policy then allows images from the console alone.

Only JPEG, PNG, GIF and WebP, recognised by their first bytes, are served (with ``nosniff``): never SVG or
HTML from a merchant under the console's origin.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import ipaddress
import socket
import ssl
import time
from urllib.parse import urljoin, urlsplit

from contracts import ReviewItem
from runtime.addresses import is_public
from services.review.errors import ImageUnavailable

_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 3
_CHUNK = 64 * 1024


def image_type(data: bytes) -> str | None:
    """The content type of an image file by its magic bytes, for the four formats the console shows."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


class ImageSource:
    def __init__(self, *, max_bytes: int, timeout_s: float, allow_hosts: frozenset[str] = frozenset()) -> None:
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s
        self._allow = frozenset(h.strip().lower() for h in allow_hosts)
        self._tls = ssl.create_default_context()

    def load(self, item: ReviewItem) -> tuple[bytes, str]:
        """The image bytes and their content type, or ``ImageUnavailable`` saying why not."""
        if item.image.inline is not None:
            try:
                data = base64.b64decode(item.image.inline, validate=True)
            except (binascii.Error, ValueError) as e:
                raise ImageUnavailable("the inline image is not valid base64", field="image.inline") from e
        elif item.image.url is not None:
            data = self._fetch(item.image.url)
        else:  # the contract allows exactly one of the two
            raise ImageUnavailable("the item has no image", field="image")
        if len(data) > self._max_bytes:
            raise ImageUnavailable(f"the image is larger than {self._max_bytes} bytes", field="image")
        kind = image_type(data)
        if kind is None:
            raise ImageUnavailable("the image is not a JPEG, PNG, GIF or WebP file", field="image")
        return data, kind

    def _fetch(self, url: str) -> bytes:
        deadline = time.monotonic() + self._timeout_s
        for _ in range(_MAX_REDIRECTS + 1):
            status, location, body = self._get(url, deadline)
            if status in _REDIRECTS and location:
                url = urljoin(url, location)
                continue
            if not 200 <= status < 300:
                raise ImageUnavailable(f"the image host answered HTTP {status}", field="image.url")
            return body
        raise ImageUnavailable(f"the image URL redirected more than {_MAX_REDIRECTS} times", field="image.url")

    def _get(self, url: str, deadline: float) -> tuple[int, str, bytes]:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        try:
            port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
        except ValueError:
            raise ImageUnavailable("the image URL has a malformed port", field="image.url") from None
        host = (parts.hostname or "").lower()
        if scheme not in _DEFAULT_PORTS or not host:
            raise ImageUnavailable("only http and https image URLs with a host are shown", field="image.url")
        sock = self._connect(host, port, deadline)
        try:
            if scheme == "https":
                sock = self._tls.wrap_socket(sock, server_hostname=host)
            conn = http.client.HTTPConnection(host, port)
            conn.sock = sock  # connected to the checked address: http.client resolves nothing
            path = parts.path or "/"
            conn.request("GET", f"{path}?{parts.query}" if parts.query else path,
                         headers={"Accept": "image/*", "User-Agent": "tagstream-review", "Connection": "close"})
            with conn.getresponse() as response:
                if response.status in _REDIRECTS:
                    return response.status, response.getheader("Location", ""), b""
                return response.status, "", self._read(response, deadline)
        except (OSError, http.client.HTTPException) as e:
            raise ImageUnavailable(f"fetching the image from {host} failed: {type(e).__name__}",
                                   field="image.url") from e
        finally:
            sock.close()

    def _connect(self, host: str, port: int, deadline: float) -> socket.socket:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as e:
            raise ImageUnavailable(f"cannot resolve the image host {host}", field="image.url") from e
        allowed = not self._allow.isdisjoint({host, f"{host}:{port}"})
        for *_, sockaddr in infos:
            address = ipaddress.ip_address(sockaddr[0])
            if not (allowed or is_public(address)):
                raise ImageUnavailable(f"the image host {host} resolves to an internal address; only public "
                                       "addresses are fetched (see TAGSTREAM_IMAGE_ALLOW_HOSTS)", field="image.url")
        error: OSError = OSError("no address")
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                sock.connect(sockaddr)  # the checked address itself: no second lookup
            except OSError as e:
                sock.close()
                error = e
                continue
            return sock
        raise ImageUnavailable(f"cannot connect to the image host {host}: {error}", field="image.url")

    def _read(self, response: http.client.HTTPResponse, deadline: float) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while chunk := response.read1(_CHUNK):
            total += len(chunk)
            if total > self._max_bytes:
                raise ImageUnavailable(f"the image is larger than {self._max_bytes} bytes", field="image.url")
            if time.monotonic() > deadline:
                raise ImageUnavailable(f"fetching the image took over {self._timeout_s} s", field="image.url")
            chunks.append(chunk)
        return b"".join(chunks)
