"""SafeFetcher against a real loopback HTTP server that counts what reaches it."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from contracts import ErrorCode
from modelspec.errors import InputError
from services.tagger.fetch import FetchPolicy, SafeFetcher, is_public

pytestmark = pytest.mark.timeout(20)

BODY = b"\x89PNG pretend image bytes"
LIMIT = 1000


@dataclass
class Server:
    port: int
    requests: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state = self.server.state
        state.requests.append(self.path)
        state.hosts.append(self.headers.get("Host", ""))
        path, query = urlsplit(self.path).path, parse_qs(urlsplit(self.path).query)
        with contextlib.suppress(OSError):  # the client may hang up early: that is what some tests want
            if path == "/image":
                self._reply(200, BODY)
            elif path == "/redirect":
                self.send_response(302)
                self.send_header("Location", query["to"][0])
                self.end_headers()
            elif path == "/loop":  # n more redirects, then the image
                left = int(query["n"][0])
                self.send_response(302)
                self.send_header("Location", f"/loop?n={left - 1}" if left > 0 else "/image")
                self.end_headers()
            elif path == "/big":
                self._reply(200, b"x" * (LIMIT * 10))
            elif path == "/big-unsized":  # HTTP/1.0, no Content-Length: the body ends when the socket closes
                self.send_response(200)
                self.end_headers()
                for _ in range(10):
                    self.wfile.write(b"x" * LIMIT)
            elif path == "/slow":
                state.release.wait(5)
                self._reply(200, BODY)
            elif path == "/drip":  # every byte well inside the socket timeout, the whole far beyond it
                self.send_response(200)
                self.send_header("Content-Length", str(LIMIT))
                self.end_headers()
                while not state.release.wait(0.02):
                    self.wfile.write(b"x")
                    self.wfile.flush()
            else:
                self._reply(404, b"not here")

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    state: Server

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = Server(port=httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd.state
    httpd.state.release.set()
    httpd.shutdown()
    httpd.server_close()


def _allowing(server: Server, **policy: object) -> SafeFetcher:
    settings: dict[str, object] = {"timeout_s": 1.0, "max_bytes": LIMIT,
                                   "allow_hosts": frozenset({f"127.0.0.1:{server.port}"}), **policy}
    return SafeFetcher(FetchPolicy(**settings))  # type: ignore[arg-type]


def _code(fetcher: SafeFetcher, url: str) -> tuple[ErrorCode, str]:
    with pytest.raises(InputError) as caught:
        fetcher.fetch(url)
    assert caught.value.field == "data.image.url"
    return caught.value.error_code, str(caught.value)


@pytest.mark.parametrize("host", [
    "127.0.0.1", "2130706433", "0x7f000001", "017700000001", "127.1", "[::ffff:127.0.0.1]", "localhost",
    "0.0.0.0", "[::1]", "LOCALHOST", "127.000.000.001",
])
def test_fetch_forbids_internal_address_when_host_is_any_loopback_spelling(server: Server, host: str) -> None:
    fetcher = SafeFetcher(FetchPolicy(timeout_s=1.0))
    code, _ = _code(fetcher, server.url("/image", host))
    assert code == ErrorCode.IMAGE_URL_FORBIDDEN
    assert server.requests == []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/image.png", "file:///etc/passwd", "gopher://127.0.0.1:70/",
                                 "javascript:alert(1)", "http:///image.png", "http://127.0.0.1:99999/"])
def test_fetch_forbids_url_when_scheme_or_host_is_unusable(server: Server, url: str) -> None:
    code, _ = _code(_allowing(server), url)
    assert code == ErrorCode.IMAGE_URL_FORBIDDEN
    assert server.requests == []


def test_fetch_forbids_host_when_any_resolved_address_is_internal(server: Server,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", server.port)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", server.port))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)
    code, message = _code(SafeFetcher(FetchPolicy(timeout_s=1.0)), "http://images.example.com/a.png")
    assert code == ErrorCode.IMAGE_URL_FORBIDDEN
    assert "127.0.0.1" in message
    assert server.requests == []


def test_fetch_returns_body_when_internal_host_port_is_allowed(server: Server) -> None:
    assert _allowing(server).fetch(server.url("/image")) == BODY
    assert server.requests == ["/image"]


def test_fetch_sends_original_host_header_when_connecting_to_resolved_address(server: Server) -> None:
    fetcher = SafeFetcher(FetchPolicy(timeout_s=1.0, allow_hosts=frozenset({f"localhost:{server.port}"})))
    assert fetcher.fetch(server.url("/image", "localhost")) == BODY
    assert server.hosts == [f"localhost:{server.port}"]


def test_fetch_forbids_spelling_when_only_another_spelling_is_allowed(server: Server) -> None:
    code, _ = _code(_allowing(server), server.url("/image", "localhost"))
    assert code == ErrorCode.IMAGE_URL_FORBIDDEN
    assert server.requests == []


def test_fetch_follows_redirect_when_target_is_allowed(server: Server) -> None:
    assert _allowing(server).fetch(server.url("/redirect?to=/image")) == BODY
    assert server.requests == ["/redirect?to=/image", "/image"]


def test_fetch_forbids_redirect_when_target_is_internal_and_not_allowed(server: Server) -> None:
    hop = server.url("/redirect?to=" + server.url("/image", "localhost"))
    code, _ = _code(_allowing(server), hop)
    assert code == ErrorCode.IMAGE_URL_FORBIDDEN
    assert len(server.requests) == 1  # the allowed hop only; the internal target never saw a request


def test_fetch_fails_when_redirects_exceed_the_limit(server: Server) -> None:
    code, message = _code(_allowing(server, max_redirects=2), server.url("/loop?n=2"))  # 3 redirects
    assert code == ErrorCode.IMAGE_URL_FAILED
    assert "redirected more than 2" in message
    assert len(server.requests) == 3
    assert _allowing(server, max_redirects=3).fetch(server.url("/loop?n=2")) == BODY


@pytest.mark.parametrize("path", ["/big", "/big-unsized"])
def test_fetch_refuses_body_when_it_exceeds_max_bytes(server: Server, path: str) -> None:
    code, _ = _code(_allowing(server), server.url(path))
    assert code == ErrorCode.IMAGE_TOO_LARGE


def test_fetch_fails_with_status_when_server_answers_404(server: Server) -> None:
    code, message = _code(_allowing(server), server.url("/missing"))
    assert code == ErrorCode.IMAGE_URL_FAILED
    assert "404" in message
    assert "127.0.0.1" in message


@pytest.mark.parametrize("path", ["/slow", "/drip"])
def test_fetch_fails_within_timeout_when_server_is_slow(server: Server, path: str) -> None:
    started = time.monotonic()
    code, message = _code(_allowing(server, timeout_s=0.3), server.url(path))
    assert code == ErrorCode.IMAGE_URL_FAILED
    assert "timed out" in message
    assert time.monotonic() - started < 1.5


def test_fetch_fails_when_nothing_listens_on_the_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fetcher = SafeFetcher(FetchPolicy(timeout_s=1.0, allow_hosts=frozenset({f"127.0.0.1:{port}"})))
    code, message = _code(fetcher, f"http://127.0.0.1:{port}/image")
    assert code == ErrorCode.IMAGE_URL_FAILED
    assert "refused" in message.lower()


def test_fetch_fails_naming_host_when_name_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    code, message = _code(SafeFetcher(FetchPolicy(timeout_s=1.0)), "https://nowhere.example.com/a.png")
    assert code == ErrorCode.IMAGE_URL_FAILED
    assert "nowhere.example.com" in message


def test_fetch_fails_when_https_meets_a_plain_http_server(server: Server) -> None:
    code, _ = _code(_allowing(server), f"https://127.0.0.1:{server.port}/image")
    assert code == ErrorCode.IMAGE_URL_FAILED


@pytest.mark.parametrize("allow", [True, False])
def test_fetch_message_hides_credentials_when_url_has_userinfo(server: Server, allow: bool) -> None:
    fetcher = _allowing(server) if allow else SafeFetcher(FetchPolicy(timeout_s=1.0))
    _, message = _code(fetcher, f"http://admin:s3cret@127.0.0.1:{server.port}/missing?token=t0ken")
    assert "s3cret" not in message
    assert "admin" not in message
    assert "t0ken" not in message


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
    ("10.0.0.1", False), ("172.16.5.4", False), ("192.168.1.1", False), ("169.254.169.254", False),
    ("100.64.0.1", False), ("224.0.0.1", False), ("255.255.255.255", False), ("240.0.0.1", False),
    ("::", False), ("fe80::1", False), ("fc00::1", False), ("fec0::1", False), ("ff02::1", False),
    ("::ffff:10.0.0.1", False), ("::ffff:93.184.216.34", True), ("64:ff9b::7f00:1", False),
    ("2002:7f00:1::", False), ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False), ("::7f00:1", False),
])
def test_is_public_when_address_is_of_each_kind(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public
