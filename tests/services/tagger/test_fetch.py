"""The image fetcher against real loopback HTTP servers that count what reaches them.

Two kinds of server: a small ``http.server`` whose paths misbehave in chosen ways (redirects, sizes,
drips), and the project's ``ImageHost`` (asyncio, keep-alive, a delay per answer, tarpit modes) for
concurrency, per-host bounds, circuits and keep-alive, which it counts without any timing. Every target
is a loopback address; names that must look public are answered by a fake resolver and a fake
``is_public`` that calls 127.0.0.1 public, so nothing ever leaves the machine.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from prometheus_client import REGISTRY

from contracts import ErrorCode
from contracts.errors import TagstreamError
from modelspec.errors import InputError
from services.tagger import fetch_run
from services.tagger.fetch import FetcherStopped, FetchPolicy, ImageFetcher, SafeFetcher
from tools.traffic.imagehost import ImageHost, Mode

pytestmark = pytest.mark.timeout(30)

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
            elif path == "/redirect-on-release":  # the redirect waits until the test says so
                state.release.wait(5)
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


#: ``make(**policy) -> ImageFetcher``, started; every one is stopped after the test.
Make = Callable[..., ImageFetcher]


@pytest.fixture
def make() -> Iterator[Make]:
    fetchers: list[ImageFetcher] = []

    def started(**policy: Any) -> ImageFetcher:
        fetcher = ImageFetcher(FetchPolicy(**{"timeout_s": 1.0, **policy}))
        fetchers.append(fetcher)
        fetcher.start()
        return fetcher

    yield started
    for fetcher in fetchers:
        fetcher.stop()


@pytest.fixture
def hosts() -> Iterator[Callable[..., ImageHost]]:
    """``hosts(**options) -> ImageHost``, started, with ``count`` images named 0..count-1 (default 8)."""
    started: list[ImageHost] = []

    def host(count: int = 8, **options: Any) -> ImageHost:
        image_host = ImageHost(**options).start()
        started.append(image_host)
        for i in range(count):
            image_host.put(f"{i}.png", BODY + str(i).encode())
        return image_host

    yield host
    for image_host in started:
        image_host.stop()


def _allowing(make: Make, *servers: Server | ImageHost, **policy: Any) -> ImageFetcher:
    allow = frozenset(f"127.0.0.1:{s.port}" for s in servers)
    return make(**{"max_bytes": LIMIT, "allow_hosts": allow, **policy})


def _code(fetcher: ImageFetcher, url: str) -> tuple[ErrorCode, str]:
    return _failure(fetcher.fetch(url))


def _failure(future: Future[bytes]) -> tuple[ErrorCode, str]:
    with pytest.raises(InputError) as caught:
        future.result(timeout=10)
    assert caught.value.field == "data.image.url"
    return caught.value.error_code, str(caught.value)


def _urls(host: ImageHost, count: int) -> list[str]:
    return [host.url(f"{i % len(host)}.png") for i in range(count)]


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names answered by a fake resolver: ``fake_dns[name] = [address, ...]``; every lookup is recorded under
    ``fake_dns["?lookups"]``. Other names do not resolve."""
    table: dict[str, list[str]] = {"?lookups": []}

    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list[object]:
        table["?lookups"].append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in table[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.fixture
def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 (only) counts as public, so a loopback server can play a public image host."""
    real = fetch_run.is_public
    monkeypatch.setattr(fetch_run, "is_public", lambda a: a == ipaddress.ip_address("127.0.0.1") or real(a))


@pytest.mark.parametrize("host", [
    "127.0.0.1", "2130706433", "0x7f000001", "017700000001", "127.1", "[::ffff:127.0.0.1]", "localhost",
    "0.0.0.0", "[::1]", "LOCALHOST", "127.000.000.001",
])
def test_fetch_forbids_internal_address_when_host_is_any_loopback_spelling(server: Server, make: Make,
                                                                           host: str) -> None:
    code, _ = _code(make(), server.url("/image", host))
    assert code == ErrorCode.IMAGE_URL_FORBIDDEN
    assert server.requests == []


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/image.png", "file:///etc/passwd", "gopher://127.0.0.1:70/",
                                 "javascript:alert(1)", "http:///image.png", "http://127.0.0.1:99999/"])
def test_fetch_forbids_url_when_scheme_or_host_is_unusable(server: Server, make: Make, url: str) -> None:
    code, _ = _code(_allowing(make, server), url)
    assert code == ErrorCode.IMAGE_URL_FORBIDDEN
    assert server.requests == []


def test_fetch_forbids_host_when_any_resolved_address_is_internal(server: Server, make: Make,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", server.port)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", server.port))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)
    code, message = _code(make(), "http://images.example.com/a.png")
    assert code == ErrorCode.IMAGE_URL_FORBIDDEN
    assert "127.0.0.1" in message
    assert server.requests == []


def test_fetch_returns_body_when_internal_host_port_is_allowed(server: Server, make: Make) -> None:
    assert _allowing(make, server).fetch_sync(server.url("/image")) == BODY
    assert server.requests == ["/image"]


def test_fetch_sends_original_host_header_when_connecting_to_resolved_address(server: Server, make: Make) -> None:
    fetcher = make(allow_hosts=frozenset({f"localhost:{server.port}"}))
    assert fetcher.fetch_sync(server.url("/image", "localhost")) == BODY
    assert server.hosts == [f"localhost:{server.port}"]


def test_fetch_forbids_spelling_when_only_another_spelling_is_allowed(server: Server, make: Make) -> None:
    code, _ = _code(_allowing(make, server), server.url("/image", "localhost"))
    assert code == ErrorCode.IMAGE_URL_FORBIDDEN
    assert server.requests == []


def test_fetch_follows_redirect_when_target_is_allowed(server: Server, make: Make) -> None:
    assert _allowing(make, server).fetch_sync(server.url("/redirect?to=/image")) == BODY
    assert server.requests == ["/redirect?to=/image", "/image"]


def test_fetch_forbids_redirect_when_target_is_internal_and_not_allowed(server: Server, make: Make) -> None:
    hop = server.url("/redirect?to=" + server.url("/image", "localhost"))
    code, _ = _code(_allowing(make, server), hop)
    assert code == ErrorCode.IMAGE_URL_FORBIDDEN
    assert len(server.requests) == 1  # the allowed hop only; the internal target never saw a request


def test_fetch_fails_when_redirects_exceed_the_limit(server: Server, make: Make) -> None:
    code, message = _code(_allowing(make, server, max_redirects=2), server.url("/loop?n=2"))  # 3 redirects
    assert code == ErrorCode.IMAGE_URL_FAILED
    assert "redirected more than 2" in message
    assert len(server.requests) == 3
    assert _allowing(make, server, max_redirects=3).fetch_sync(server.url("/loop?n=2")) == BODY


@pytest.mark.parametrize("path", ["/big", "/big-unsized"])
def test_fetch_refuses_body_when_it_exceeds_max_bytes(server: Server, make: Make, path: str) -> None:
    code, _ = _code(_allowing(make, server), server.url(path))
    assert code == ErrorCode.IMAGE_TOO_LARGE


def test_fetch_fails_with_status_when_server_answers_404(server: Server, make: Make) -> None:
    code, message = _code(_allowing(make, server), server.url("/missing"))
    assert code == ErrorCode.IMAGE_URL_FAILED
    assert "404" in message
    assert "127.0.0.1" in message


@pytest.mark.parametrize("path", ["/slow", "/drip"])
def test_fetch_fails_within_timeout_when_server_is_slow(server: Server, make: Make, path: str) -> None:
    started = time.monotonic()
    code, message = _code(_allowing(make, server, timeout_s=0.3), server.url(path))
    assert code == ErrorCode.IMAGE_URL_FAILED
    assert "timed out" in message
    assert time.monotonic() - started < 1.5


def test_fetch_fails_when_nothing_listens_on_the_port(make: Make) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fetcher = make(allow_hosts=frozenset({f"127.0.0.1:{port}"}))
    code, message = _code(fetcher, f"http://127.0.0.1:{port}/image")
    assert code == ErrorCode.IMAGE_URL_FAILED
    assert "refused" in message.lower()


def test_fetch_fails_naming_host_when_name_does_not_resolve(make: Make, fake_dns: dict[str, list[str]]) -> None:
    code, message = _code(make(), "https://nowhere.example.com/a.png")
    assert code == ErrorCode.IMAGE_URL_FAILED
    assert "nowhere.example.com" in message


def test_fetch_fails_when_https_meets_a_plain_http_server(server: Server, make: Make) -> None:
    code, _ = _code(_allowing(make, server), f"https://127.0.0.1:{server.port}/image")
    assert code == ErrorCode.IMAGE_URL_FAILED


@pytest.mark.parametrize("allow", [True, False])
def test_fetch_message_hides_credentials_when_url_has_userinfo(server: Server, make: Make, allow: bool) -> None:
    fetcher = _allowing(make, server) if allow else make()
    _, message = _code(fetcher, f"http://admin:s3cret@127.0.0.1:{server.port}/missing?token=t0ken")
    assert "s3cret" not in message
    assert "admin" not in message
    assert "t0ken" not in message


# resolution, redirects and pooled connections ---------------------------------------------------------------

def test_fetch_resolves_once_and_connects_to_checked_address_when_dns_changes_its_answer(
        hosts: Callable[..., ImageHost], make: Make, fake_dns: dict[str, list[str]]) -> None:
    host = hosts()
    fake_dns["cdn.example"] = ["127.0.0.1"]
    fetcher = make(allow_hosts=frozenset({f"cdn.example:{host.port}"}))
    url = f"http://cdn.example:{host.port}/images/0.png"
    future = fetcher.fetch(url)
    assert future.result(timeout=10) == BODY + b"0"
    assert fake_dns["?lookups"] == ["cdn.example"]  # one lookup, the checked one; aiohttp asked no DNS itself


@pytest.mark.usefixtures("loopback_is_public")
@pytest.mark.parametrize(("target", "address"), [
    ("http://metadata.internal/latest/meta-data", "169.254.169.254"),
    ("http://10.0.0.7/image.png", "10.0.0.7"),
    ("http://[::ffff:169.254.169.254]/image.png", "169.254.169.254"),
    ("http://cdn.example:{port}/images/0.png", "127.0.0.2"),  # the same name, rebound to an internal address
])
def test_fetch_forbids_redirect_to_internal_address_when_first_hop_is_public(
        server: Server, make: Make, fake_dns: dict[str, list[str]], target: str, address: str) -> None:
    fake_dns["first.example"] = ["127.0.0.1"]  # public, by the fixture
    fake_dns["metadata.internal"] = ["169.254.169.254"]
    fake_dns["cdn.example"] = ["127.0.0.2"]
    hop = f"http://first.example:{server.port}/redirect?to=" + quote(target.format(port=server.port), safe="")
    code, message = _code(make(), hop)
    assert code == ErrorCode.IMAGE_URL_FORBIDDEN
    assert address in message
    assert server.requests == [urlsplit(hop).path + "?" + urlsplit(hop).query]  # only the public first hop


@pytest.mark.usefixtures("loopback_is_public")
def test_pooled_connection_is_not_used_when_host_now_resolves_to_internal_address(
        hosts: Callable[..., ImageHost], make: Make, fake_dns: dict[str, list[str]]) -> None:
    host = hosts()
    fetcher = make()
    url = f"http://cdn.example:{host.port}/images/1.png"
    fake_dns["cdn.example"] = ["127.0.0.1"]
    assert fetcher.fetch_sync(url) == BODY + b"1"
    fake_dns["cdn.example"] = ["127.0.0.2"]  # rebound while a kept-alive connection to 127.0.0.1 is pooled
    code, message = _code(fetcher, url)
    assert code == ErrorCode.IMAGE_URL_FORBIDDEN
    assert "127.0.0.2" in message
    assert host.stats().requests == 1
    assert host.stats().open_connections == 1  # the pooled connection was there, and was not used
    fake_dns["cdn.example"] = ["127.0.0.1"]
    assert fetcher.fetch_sync(url) == BODY + b"1"
    assert (host.stats().connections, host.stats().requests) == (1, 2)  # reused once checked again


# concurrency, per-host bounds, keep-alive ---------------------------------------------------------------

def test_fetches_overlap_when_many_are_submitted_at_once(hosts: Callable[..., ImageHost], make: Make) -> None:
    host = hosts(delay_s=0.5)
    fetcher = _allowing(make, host, timeout_s=10, max_in_flight=64, max_per_host=64)
    ok_before = _sample("tagstream_image_fetches_total", outcome="ok")
    futures = [fetcher.fetch(url) for url in _urls(host, 32)]
    assert [f.result(timeout=20) for f in futures] == [BODY + str(i % 8).encode() for i in range(32)]
    assert host.stats().max_active_requests == 32  # all at once: sequential fetching would show 1
    assert _sample("tagstream_image_fetches_total", outcome="ok") - ok_before == 32


def test_host_never_sees_more_than_max_per_host_while_another_host_is_served(
        hosts: Callable[..., ImageHost], make: Make) -> None:
    slow, fast = hosts(delay_s=0.8), hosts()
    fetcher = _allowing(make, slow, fast, timeout_s=10, max_per_host=3, max_in_flight=4)
    slow_futures = [fetcher.fetch(url) for url in _urls(slow, 9)]  # three rounds of three
    fast_futures = [fetcher.fetch(url) for url in _urls(fast, 6)]
    assert all(f.result(timeout=10).startswith(BODY) for f in fast_futures)
    # the fast host took the one slot the slow one left free, before the slow host's first round ended
    assert not any(f.done() for f in slow_futures)
    assert all(f.result(timeout=20).startswith(BODY) for f in slow_futures)
    assert slow.stats().max_active_requests == 3
    assert fast.stats().max_active_requests <= 3


def test_fetcher_never_runs_more_than_max_in_flight_across_hosts(hosts: Callable[..., ImageHost],
                                                                 make: Make) -> None:
    first, second = hosts(delay_s=0.3), hosts(delay_s=0.3)
    fetcher = _allowing(make, first, second, timeout_s=10, max_per_host=4, max_in_flight=5)
    futures = [fetcher.fetch(url) for pair in zip(_urls(first, 8), _urls(second, 8), strict=True) for url in pair]
    assert all(f.result(timeout=20).startswith(BODY) for f in futures)
    assert first.stats().max_active_requests + second.stats().max_active_requests >= 5
    assert max(first.stats().max_active_requests, second.stats().max_active_requests) <= 4


def test_connections_are_reused_when_fetches_follow_each_other(hosts: Callable[..., ImageHost],
                                                               make: Make) -> None:
    host = hosts()
    fetcher = _allowing(make, host)
    for url in _urls(host, 10):
        assert fetcher.fetch_sync(url).startswith(BODY)
    assert (host.stats().connections, host.stats().requests) == (1, 10)


def test_connections_stay_within_the_host_bound_when_fetches_overlap(hosts: Callable[..., ImageHost],
                                                                     make: Make) -> None:
    host = hosts(delay_s=0.05)
    fetcher = _allowing(make, host, timeout_s=10, max_per_host=5)
    futures = [fetcher.fetch(url) for url in _urls(host, 40)]
    assert all(f.result(timeout=20).startswith(BODY) for f in futures)
    assert host.stats().requests == 40
    assert host.stats().connections <= 5


# tarpits and deadlines -------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [Mode.SILENT, Mode.HEADERS])
def test_tarpit_fails_each_fetch_by_its_deadline_without_holding_other_hosts_slots(
        hosts: Callable[..., ImageHost], make: Make, mode: Mode) -> None:
    tarpit, good = hosts(mode=mode), hosts(delay_s=0.05)
    fetcher = _allowing(make, tarpit, good, timeout_s=1.5, max_per_host=2, max_in_flight=4, breaker_failures=100)
    stuck = [fetcher.fetch(url) for url in _urls(tarpit, 6)]
    served = [fetcher.fetch(url) for url in _urls(good, 12)]
    assert all(f.result(timeout=10).startswith(BODY) for f in served)
    assert not any(f.done() for f in stuck)  # the good host was served while every tarpit fetch still hung
    assert (tarpit.stats().requests, tarpit.stats().active_requests) == (2, 2)  # its bound; four wait
    wait(stuck, timeout=10)
    messages = [_failure(f)[1] for f in stuck]
    assert all("timed out after 1.5s" in m for m in messages)


def test_fetch_fails_by_deadline_when_it_waits_for_a_slot_of_a_slow_host(
        server: Server, hosts: Callable[..., ImageHost], make: Make) -> None:
    tarpit = hosts(mode=Mode.SILENT)
    fetcher = _allowing(make, server, tarpit, timeout_s=2.0, max_per_host=1, breaker_failures=100)
    # the queued fetch starts first (its deadline is the earlier one) but reaches the tarpit second
    queued = fetcher.fetch(server.url("/redirect-on-release?to=" + quote(tarpit.url("1.png"), safe="")))
    while not server.requests:
        time.sleep(0.01)
    holder = fetcher.fetch(tarpit.url("0.png"))
    while tarpit.stats().requests == 0:
        time.sleep(0.01)
    server.release.set()  # now it queues for the tarpit's one slot, held past its deadline
    assert "waiting for a slot" in _failure(queued)[1]
    assert "waiting for a slot" not in _failure(holder)[1]
    assert tarpit.stats().requests == 1


# circuit breaker -------------------------------------------------------------------------------------------

def test_circuit_opens_after_consecutive_failures_then_fails_fast(hosts: Callable[..., ImageHost],
                                                                  make: Make) -> None:
    host = hosts(mode=Mode.ERROR)
    fetcher = _allowing(make, host, breaker_failures=3, breaker_reset_s=60)
    opened = _sample("tagstream_image_host_circuit_changes_total", state="open")
    for url in _urls(host, 3):
        assert "503" in _code(fetcher, url)[1]
    code, message = _code(fetcher, host.url("0.png"))
    assert code == ErrorCode.IMAGE_URL_FAILED
    assert "circuit" in message
    assert "open until" in message
    assert host.stats().requests == 3  # refused without a request
    assert _sample("tagstream_image_host_circuit_changes_total", state="open") - opened == 1


def test_circuit_lets_one_trial_through_after_reset_and_closes_when_it_succeeds(
        hosts: Callable[..., ImageHost], make: Make) -> None:
    host = hosts(mode=Mode.ERROR)
    fetcher = _allowing(make, host, breaker_failures=2, breaker_reset_s=0.5)
    for url in _urls(host, 2):
        _code(fetcher, url)
    assert "open until" in _code(fetcher, host.url("0.png"))[1]
    host.mode = Mode.SERVE
    time.sleep(0.6)  # the open period passes
    assert fetcher.fetch_sync(host.url("1.png")) == BODY + b"1"  # the trial
    futures = [fetcher.fetch(url) for url in _urls(host, 8)]  # closed again: all go
    assert all(f.result(timeout=10).startswith(BODY) for f in futures)
    assert host.stats().requests == 2 + 1 + 8


def test_circuit_opens_again_when_the_trial_fails(hosts: Callable[..., ImageHost], make: Make) -> None:
    host = hosts(mode=Mode.ERROR)
    fetcher = _allowing(make, host, breaker_failures=2, breaker_reset_s=0.5)
    for url in _urls(host, 2):
        _code(fetcher, url)
    time.sleep(0.6)
    assert "503" in _code(fetcher, host.url("0.png"))[1]  # the trial, still failing
    assert "open until" in _code(fetcher, host.url("1.png"))[1]
    assert host.stats().requests == 3


def test_circuit_counts_timeouts_of_a_tarpit(hosts: Callable[..., ImageHost], make: Make) -> None:
    tarpit = hosts(mode=Mode.SILENT)
    fetcher = _allowing(make, tarpit, timeout_s=0.3, breaker_failures=2, breaker_reset_s=60)
    for url in _urls(tarpit, 2):
        assert "timed out" in _code(fetcher, url)[1]
    assert "open until" in _code(fetcher, tarpit.url("0.png"))[1]
    assert tarpit.stats().requests == 2


def test_circuit_ignores_answers_that_blame_the_url(hosts: Callable[..., ImageHost], make: Make) -> None:
    host = hosts()
    fetcher = _allowing(make, host, breaker_failures=2)
    for _ in range(4):
        assert "404" in _code(fetcher, host.url("missing.png"))[1]
    assert fetcher.fetch_sync(host.url("0.png")) == BODY + b"0"


# lifecycle -------------------------------------------------------------------------------------------------

def test_stop_fails_fetches_in_flight_and_later_ones(hosts: Callable[..., ImageHost]) -> None:
    tarpit = hosts(mode=Mode.SILENT)
    fetcher = ImageFetcher(FetchPolicy(timeout_s=10, allow_hosts=frozenset({tarpit.address})))
    with fetcher:
        hanging = fetcher.fetch(tarpit.url("0.png"))
        while tarpit.stats().requests == 0:
            time.sleep(0.01)
    with pytest.raises(FetcherStopped):
        hanging.result(timeout=5)
    with pytest.raises(FetcherStopped):
        fetcher.fetch(tarpit.url("1.png")).result(timeout=5)


def test_fetch_fails_when_fetcher_never_started() -> None:
    with pytest.raises(FetcherStopped):
        ImageFetcher(FetchPolicy()).fetch("https://images.example.com/a.png").result(timeout=5)


def test_safe_fetcher_returns_body_when_called_synchronously(server: Server) -> None:
    fetcher = SafeFetcher(FetchPolicy(timeout_s=1.0, allow_hosts=frozenset({f"127.0.0.1:{server.port}"})))
    try:
        assert fetcher.fetch(server.url("/image")) == BODY
    finally:
        fetcher.close()


@pytest.mark.parametrize("limits", [{"max_per_host": 0}, {"timeout_s": 0}, {"max_redirects": -1},
                                    {"breaker_failures": 0, "max_in_flight": -3}])
def test_policy_refuses_limits_that_could_never_let_a_fetch_through(limits: dict[str, float]) -> None:
    with pytest.raises(TagstreamError, match=next(iter(limits))):
        FetchPolicy(**limits)  # type: ignore[arg-type]
