"""Fetch image URLs, many at once, without letting a URL reach into our own network (SSRF).

The rules of every hop (the first request and each redirect):

- the host is resolved once, every address it resolves to is checked (``runtime.addresses.is_public``,
  or the host is named in ``allow_hosts``), and the connection goes to a checked address: no second
  lookup (DNS rebinding) ever happens. aiohttp opens the connections, but its resolver is
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
import logging
import ssl
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

import aiohttp

from contracts.errors import TagstreamError
from services.tagger.fetch_hosts import CheckedAddresses, HostGates
from services.tagger.fetch_metrics import FETCHES_IN_FLIGHT
from services.tagger.fetch_run import Fetches
from services.tagger.fetch_url import FIELD, FetchError

__all__ = ["FIELD", "FetchError", "FetchPolicy", "FetcherStopped", "ImageFetcher", "SafeFetcher"]

logger = logging.getLogger(__name__)

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


class ImageFetcher:
    """Fetches image URLs concurrently under a :class:`FetchPolicy`; see the module docstring for the rules."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self._lock = threading.Lock()  # guards _loop and _stopping against fetch() on other threads
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._tasks: set[asyncio.Task[bytes]] = set()
        self._dns: ThreadPoolExecutor | None = None
        # made on the loop by _open, at each start
        self._session: aiohttp.ClientSession | None = None
        self._fetches: Fetches | None = None
        self._sweeper: asyncio.Task[None] | None = None

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

    async def _open(self) -> None:
        gates = HostGates(per_host=self.policy.max_per_host, breaker_failures=self.policy.breaker_failures,
                          breaker_reset_s=self.policy.breaker_reset_s)
        connector = aiohttp.TCPConnector(
            # every new connection asks the addresses just checked for its host, never the DNS
            resolver=CheckedAddresses(gates), use_dns_cache=False,
            limit=self.policy.max_in_flight, limit_per_host=self.policy.max_per_host,  # never reached: see _slot
            ssl=ssl.create_default_context(), keepalive_timeout=_KEEPALIVE_S)
        self._session = aiohttp.ClientSession(
            connector=connector, headers=_HEADERS, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
            trust_env=False, timeout=aiohttp.ClientTimeout(), raise_for_status=False)
        self._fetches = Fetches(self.policy, self._session, gates, asyncio.Semaphore(self.policy.max_in_flight))
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(gates))

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
            self._session = self._fetches = None

    async def _sweep(self, gates: HostGates) -> None:
        while True:
            await asyncio.sleep(max(1.0, self.policy.breaker_reset_s))
            gates.sweep()

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
        if self._stopping or self._fetches is None:
            future.set_exception(FetcherStopped("the image fetcher stopped before this fetch began"))
            return
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._fetches.run(url, loop.time() + deadline - time.monotonic()))
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
