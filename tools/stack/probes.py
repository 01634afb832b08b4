"""Readiness probes: real answers from the real servers, each bounded by a short timeout.

A probe returns True when the component serves, False otherwise; it never raises, so the
supervisor can poll it while the process starts.
"""

from __future__ import annotations

import logging
import socket
import struct
import urllib.error
import urllib.request
from collections.abc import Callable

from tools.stack.errors import StackError

log = logging.getLogger(__name__)

Probe = Callable[[], bool]

PROBE_TIMEOUT_S = 1.0
_METADATA_API_KEY = 3
_CORRELATION_ID = 0x7A6


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on host:port (SO_REUSEADDR: sockets in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        data += chunk
    return data


def kafka_metadata(host: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> int:
    """Send a Kafka Metadata v0 request (all topics) and return how many brokers the answer lists."""
    client_id = b"tagstream-probe"
    body = struct.pack(">hhih", _METADATA_API_KEY, 0, _CORRELATION_ID, len(client_id)) + client_id
    body += struct.pack(">i", 0)  # v0: an empty topic list asks about every topic
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
        head = _recv_exactly(sock, min(size, 8))
    correlation, brokers = struct.unpack(">ii", head)
    if correlation != _CORRELATION_ID:
        raise ConnectionError(f"unexpected correlation id {correlation}")
    return brokers


def kafka_probe(host: str, port: int) -> Probe:
    """Ready when the broker answers a Metadata request naming at least one broker."""

    def probe() -> bool:
        try:
            return kafka_metadata(host, port) >= 1
        except (OSError, struct.error) as e:
            log.debug("kafka %s:%d not ready: %s", host, port, e)
            return False

    return probe


def http_status(url: str, *, method: str = "GET", timeout_s: float = PROBE_TIMEOUT_S) -> int:
    """The HTTP status of one request to a loopback URL (error statuses are returned, not raised)."""
    if not url.startswith("http://127.0.0.1:"):
        raise StackError(f"probes only talk to 127.0.0.1, not {url}")
    request = urllib.request.Request(url, method=method)  # noqa: S310 - the scheme and host are checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def http_probe(*urls: str) -> Probe:
    """Ready when every URL answers 200."""

    def probe() -> bool:
        try:
            return all(http_status(url) == 200 for url in urls)
        except (OSError, StackError) as e:
            log.debug("%s not ready: %s", urls, e)
            return False

    return probe
