"""Fetch image URLs, many at once, without letting a URL reach into our own network (SSRF).

The rules of every hop (the first request and each redirect):

- the host is resolved once, every address it resolves to is checked (:func:`is_public`, or the host is
  named in ``allow_hosts``), and the connection goes to a checked address: no second lookup (DNS
  rebinding) ever happens. aiohttp opens the connections, but its resolver is
  :class:`~services.tagger.fetch_hosts.CheckedAddresses`, which answers only what was just checked for
  that host. A pooled (keep-alive) connection was opened the same way, and the pool is keyed by host
  name, port and TLS, so a connection is only reused for the host it was checked and verified for;
  TLS verifies the URL's own host name;
- redirects are followed by hand (``allow_redirects=False``), each target checked as above;
- one deadline for the whole fetch, from the call of :meth:`ImageFetcher.fetch`: waiting for a slot,
  resolving, connecting, TLS, the answer and every redirect;
- the body is bounded while it is read (and no compressed encoding is asked for or undone);
- every failure is a :class:`FetchError`, an ``InputError`` that names ``data.image.url``; URLs in
  messages and logs carry neither userinfo nor query.

Concurrency: one asyncio loop on its own thread runs every fetch. At most ``max_per_host`` requests go
to one host at once and ``max_in_flight`` in all; a host slot is taken before a fetcher slot, so a slow
host holds at most its own share. A circuit breaker per host fails fetches fast after
``breaker_failures`` consecutive failures (timeouts, connection errors, 5xx) for ``breaker_reset_s``,
then lets one trial request through (see ``fetch_hosts``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import ResolveResult
from yarl import URL

from contracts.errors import TagstreamError
from services.tagger.fetch_hosts import CheckedAddresses, HostGate, HostGates, HostKey, Pass
from services.tagger.fetch_metrics import FETCH_SECONDS, FETCHES, FETCHES_IN_FLIGHT, SLOT_WAIT_SECONDS
from services.tagger.fetch_url import (
    FIELD,
    FetchError,
    Target,
    failed,
    forbidden,
    is_public,
    literal_answer,
    parse,
    too_large,
)

__all__ = ["FIELD", "FetchError", "FetchPolicy", "FetcherStopped", "ImageFetcher", "SafeFetcher", "is_public"]

logger = logging.getLogger(__name__)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_HOST_FAILURES = frozenset({"timeout", "unreachable", "server_error"})  # what counts against a host's circuit
_HEADERS = {"Accept": "image/*", "Accept-Encoding": "identity", "User-Agent": "tagstream-tagger"}
_KEEPALIVE_S = 30.0
_DNS_THREADS = 32
_STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of the fetcher. ``timeout_s`` bounds one whole fetch, waiting for a slot included."""

    timeout_s: float = 5.0
    max_bytes: int = 4 * 1024 * 1024
    #: exact ``host:port`` (or ``host``: any port) that may resolve to internal addresses
    allow_hosts: frozenset[str] = frozenset()
    max_redirects: int = 3
    #: fetches in flight at once (more wait for a slot, within their deadline)
    max_in_flight: int = 256
    #: requests in flight to one host, so one slow host cannot take every slot; 64 lets one host that
    #: answers in 50 ms serve about 1,280 images/s
    max_per_host: int = 64
    #: consecutive failures (timeouts, connection errors, 5xx) that open a host's circuit
    breaker_failures: int = 5
    #: how long an open circuit refuses before it lets one trial request through (half-open)
    breaker_reset_s: float = 30.0

    def __post_init__(self) -> None:
        counts = {"max_bytes": self.max_bytes, "max_in_flight": self.max_in_flight,
                  "max_per_host": self.max_per_host, "breaker_failures": self.breaker_failures}
        durations = {"timeout_s": self.timeout_s, "breaker_reset_s": self.breaker_reset_s}
        bad = [f"{k}={v}" for k, v in {**counts, **durations}.items() if not v > 0]
        if self.max_redirects < 0:
            bad.append(f"max_redirects={self.max_redirects}")
        if bad:
            raise TagstreamError(f"image fetch policy needs positive limits, got {', '.join(bad)}",
                                 code="fetch_policy_invalid")


class FetcherStopped(TagstreamError):
    """The fetcher stopped (or never started) before this fetch finished: not the event's fault, retry it."""

    code = "fetcher_stopped"


@dataclass(frozen=True)
class _Redirect:
    location: str


class ImageFetcher:
    """Fetches image URLs concurrently under a :class:`FetchPolicy`; see the module docstring for the rules."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._allow = frozenset(h.strip().lower() for h in policy.allow_hosts)
        self._lock = threading.Lock()  # guards _loop and _stopping against fetch() on other threads
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._tasks: set[asyncio.Task[bytes]] = set()
        self._dns: ThreadPoolExecutor | None = None
        # made again on the loop by _open, at each start
        self._session: aiohttp.ClientSession | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._gates = self._new_gates()
        self._slots = asyncio.Semaphore(policy.max_in_flight)

    # lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the fetcher's event loop thread; fetches may be submitted from then on."""
        with self._lock:
            if self._loop is not None:
                return
            loop = asyncio.new_event_loop()
            self._dns = ThreadPoolExecutor(_DNS_THREADS, thread_name_prefix="image-dns")
            loop.set_default_executor(self._dns)  # loop.getaddrinfo runs there
            self._thread = threading.Thread(target=loop.run_forever, name="image-fetcher", daemon=True)
            self._thread.start()
            asyncio.run_coroutine_threadsafe(self._open(), loop).result()
            self._loop, self._stopping = loop, False
        logger.info("image fetcher started: %d in flight, %d per host, timeout %.1fs, circuit after %d failures "
                    "for %.0fs", self.policy.max_in_flight, self.policy.max_per_host, self.policy.timeout_s,
                    self.policy.breaker_failures, self.policy.breaker_reset_s)

    def stop(self) -> None:
        """Fail every fetch still in flight with :class:`FetcherStopped`, close connections, end the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None or self._stopping:
                return
            self._stopping = True
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(_STOP_TIMEOUT_S)
        except TimeoutError:  # concurrent.futures' timeout is the built-in one since 3.11
            logger.warning("image fetcher: connections did not close within %.0fs; stopping anyway",
                           _STOP_TIMEOUT_S)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_STOP_TIMEOUT_S)
            loop.close()
            if self._dns is not None:
                self._dns.shutdown(wait=False, cancel_futures=True)  # a hung lookup must not hold up the stop
            with self._lock:
                self._loop = self._thread = None
        logger.info("image fetcher stopped")

    def __enter__(self) -> ImageFetcher:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def _new_gates(self) -> HostGates:
        return HostGates(per_host=self.policy.max_per_host, breaker_failures=self.policy.breaker_failures,
                         breaker_reset_s=self.policy.breaker_reset_s)

    async def _open(self) -> None:
        self._gates = self._new_gates()
        self._slots = asyncio.Semaphore(self.policy.max_in_flight)
        connector = aiohttp.TCPConnector(
            # every new connection asks the addresses just checked for its host, never the DNS
            resolver=CheckedAddresses(self._gates), use_dns_cache=False,
            limit=self.policy.max_in_flight, limit_per_host=self.policy.max_per_host,  # never reached: see _slot
            ssl=ssl.create_default_context(), keepalive_timeout=_KEEPALIVE_S)
        self._session = aiohttp.ClientSession(
            connector=connector, headers=_HEADERS, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
            trust_env=False, timeout=aiohttp.ClientTimeout(), raise_for_status=False)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _close(self) -> None:
        tasks = list(self._tasks)
        if self._sweeper is not None:
            self._sweeper.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let each task's done callback fail its future
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.policy.breaker_reset_s))
            self._gates.sweep()

    # submitting --------------------------------------------------------------------------------------------

    def fetch(self, url: str) -> Future[bytes]:
        """The body of ``url`` (redirects followed), or a :class:`FetchError` that says why not. Thread-safe;
        never blocks: the deadline starts now, and a fetch waiting for a slot is already counting."""
        future: Future[bytes] = Future()
        deadline = time.monotonic() + self.policy.timeout_s
        with self._lock:
            if self._loop is None or self._stopping:
                future.set_exception(FetcherStopped("the image fetcher is not running"))
                return future
            self._loop.call_soon_threadsafe(self._begin, url, deadline, future)
        return future

    def fetch_sync(self, url: str) -> bytes:
        """:meth:`fetch` and wait: for tools and tests."""
        return self.fetch(url).result()

    def _begin(self, url: str, deadline: float, future: Future[bytes]) -> None:
        if not future.set_running_or_notify_cancel():
            return  # the caller cancelled it before it began
        if self._stopping:
            future.set_exception(FetcherStopped("the image fetcher stopped before this fetch began"))
            return
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._fetch(url, loop.time() + deadline - time.monotonic()))
        self._tasks.add(task)
        FETCHES_IN_FLIGHT.inc()
        task.add_done_callback(lambda done: self._settle(done, future))

    def _settle(self, task: asyncio.Task[bytes], future: Future[bytes]) -> None:
        self._tasks.discard(task)
        FETCHES_IN_FLIGHT.dec()
        if task.cancelled():
            future.set_exception(FetcherStopped("the image fetcher stopped before this fetch finished"))
        elif (error := task.exception()) is not None:
            future.set_exception(error)
        else:
            future.set_result(task.result())

    # one fetch -------------------------------------------------------------------------------------------

    async def _fetch(self, url: str, deadline: float) -> bytes:
        loop = asyncio.get_running_loop()
        started = loop.time()
        shown = "image URL"
        try:
            target = parse(url)
            for _ in range(self.policy.max_redirects + 1):
                shown = target.shown
                result = await self._hop(target, deadline)
                if isinstance(result, bytes):
                    FETCHES.labels("ok").inc()
                    logger.debug("fetched %s: %d bytes", target.shown, len(result))
                    return result
                target = parse(urljoin(target.url, result.location))
            raise failed(f"image URL redirected more than {self.policy.max_redirects} times "
                         f"(last to {target.shown})", "redirects")
        except FetchError as e:
            FETCHES.labels(e.outcome).inc()
            raise
        except asyncio.CancelledError:
            FETCHES.labels("stopped").inc()
            raise
        except Exception as e:  # a defect here must not take the tagger down: the event is dead-lettered
            logger.exception("fetching %s failed unexpectedly", shown)
            FETCHES.labels("unreachable").inc()
            raise failed(f"fetching {shown} failed: {type(e).__name__}", "unreachable") from e
        finally:
            FETCH_SECONDS.observe(loop.time() - started)

    async def _hop(self, target: Target, deadline: float) -> bytes | _Redirect:
        path, _, query = target.path.partition("?")
        try:
            url = URL.build(scheme=target.scheme, host=target.bracketed, port=target.port, path=path,
                            query_string=query, encoded=True)
        except ValueError:
            raise forbidden("image URL has a malformed host") from None
        key: HostKey = (url.raw_host or target.host, target.port)  # as aiohttp will ask the resolver
        with self._gates.using(key) as gate:
            if not gate.breaker.allows():  # fail fast, without queueing for a slot
                raise self._circuit_open(gate, target)
            async with self._slot(gate, target, deadline):
                granted = gate.breaker.admit()
                if granted is None:
                    raise self._circuit_open(gate, target)
                return await self._request(gate, granted, target, url, deadline)

    async def _request(self, gate: HostGate, granted: Pass, target: Target, url: URL,
                       deadline: float) -> bytes | _Redirect:
        try:
            async with asyncio.timeout_at(deadline):
                gate.addresses = await self._checked(target)
                result = await self._exchange(target, url)
        except TimeoutError as e:
            gate.breaker.failure(granted)
            raise failed(f"fetching {target.shown} timed out after {self.policy.timeout_s}s", "timeout") from e
        except FetchError as e:
            if e.outcome in _HOST_FAILURES:
                gate.breaker.failure(granted)
            elif e.outcome == "forbidden":
                gate.breaker.abandon(granted)
            else:  # the host answered (4xx, too large): it is up
                gate.breaker.success(granted)
            raise
        except BaseException:
            gate.breaker.abandon(granted)
            raise
        gate.breaker.success(granted)
        return result

    @asynccontextmanager
    async def _slot(self, gate: HostGate, target: Target, deadline: float) -> AsyncIterator[None]:
        """A slot of the host, then one of the fetcher; both waits count against the fetch's deadline."""
        loop = asyncio.get_running_loop()
        queued = loop.time()
        try:
            async with asyncio.timeout_at(deadline):
                await gate.slots.acquire()
                try:
                    await self._slots.acquire()
                except BaseException:
                    gate.slots.release()
                    raise
        except TimeoutError as e:
            raise failed(f"fetching {target.shown} timed out after {self.policy.timeout_s}s waiting for a slot: "
                         f"at most {self.policy.max_per_host} requests go to image host {target.netloc} at once "
                         f"({self.policy.max_in_flight} in all)", "queue_timeout") from e
        SLOT_WAIT_SECONDS.observe(loop.time() - queued)
        try:
            yield
        finally:
            self._slots.release()
            gate.slots.release()

    def _circuit_open(self, gate: HostGate, target: Target) -> FetchError:
        return failed(f"{gate.refusal()}: {target.shown} was not fetched; replay the event from the dead-letter "
                      "topic once the host recovers", "circuit_open")

    async def _checked(self, target: Target) -> list[ResolveResult]:
        """Resolve ``target``'s host once and check every address; the answers aiohttp may connect to."""
        infos = literal_answer(target)
        if infos is None:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(target.host, target.port,
                                                                     type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as e:
                raise failed(f"cannot resolve image host {target.host}: {e}", "unreachable") from e
        allowed = target.allowed_by(self._allow)
        answers: list[ResolveResult] = []
        for family, _, proto, _, sockaddr in infos:
            address = ipaddress.ip_address(sockaddr[0])
            if not (allowed or is_public(address)):
                logger.info("refused %s: resolves to internal address %s", target.shown, address)
                raise forbidden(f"image host {target.netloc} resolves to internal address {address}; only "
                                "public addresses are fetched (see TAGSTREAM_URL_ALLOW_HOSTS)")
            answers.append(ResolveResult(hostname=target.host, host=str(sockaddr[0]), port=int(sockaddr[1]),
                                         family=family, proto=proto,
                                         flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV))
        if not answers:
            raise failed(f"image host {target.host} resolves to no address", "unreachable")
        return answers

    async def _exchange(self, target: Target, url: URL) -> bytes | _Redirect:
        if self._session is None:
            raise FetcherStopped("the image fetcher is not running")
        try:
            async with self._session.get(url, allow_redirects=False) as response:
                return await self._body(target, response)
        except aiohttp.ClientConnectorError as e:
            reason = os.strerror(e.os_error.errno) if e.os_error.errno else type(e.os_error).__name__
            raise failed(f"cannot connect to image host {target.netloc}: {reason}", "unreachable") from e
        except aiohttp.ClientResponseError as e:  # its text would repeat the URL, query included
            raise failed(f"fetching {target.shown} failed: {type(e).__name__}: {e.message}", "unreachable") from e
        except (aiohttp.ClientError, OSError) as e:
            raise failed(f"fetching {target.shown} failed: {type(e).__name__}: {e}", "unreachable") from e

    async def _body(self, target: Target, response: aiohttp.ClientResponse) -> bytes | _Redirect:
        location = response.headers.get("Location")
        if response.status in _REDIRECTS and location:
            return _Redirect(location)
        if response.status >= 500:
            raise failed(f"image host {target.netloc} answered HTTP {response.status} for {target.shown}",
                         "server_error")
        if response.status >= 400:
            raise failed(f"image host {target.netloc} answered HTTP {response.status} for {target.shown}",
                         "http_error")
        if not 200 <= response.status < 300:
            raise failed(f"image host {target.netloc} answered unexpected HTTP {response.status}", "http_error")
        limit = self.policy.max_bytes
        if response.content_length is not None and response.content_length > limit:
            raise too_large(target, limit, f"Content-Length {response.content_length}")
        chunks: list[bytes] = []
        total = 0
        async for chunk in response.content.iter_chunked(_CHUNK):
            total += len(chunk)
            if total > limit:
                raise too_large(target, limit, f"over {total} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


class SafeFetcher:
    """The blocking face of :class:`ImageFetcher`: ``fetch(url) -> bytes`` for callers that wait anyway.

    Starts its fetcher on first use; :meth:`close` stops it. New code should hold an ``ImageFetcher`` and
    keep its futures, so a thread does not wait on every image.
    """

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._fetcher = ImageFetcher(policy)

    def fetch(self, url: str) -> bytes:
        self._fetcher.start()  # a no-op once started
        return self._fetcher.fetch_sync(url)

    def close(self) -> None:
        self._fetcher.stop()
