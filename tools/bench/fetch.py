"""``tagstream bench fetch``: image fetches per second through the tagger's fetcher, against a local image host
that answers after a delay (50 ms by default, a CDN's order of magnitude).

The image host runs in its own process, as a CDN would be another machine (here it still shares the CPU).
Measured in one run, on the same host and images:

1. ``rate_default``: the fetcher under the default policy; one host bounds it at
   ``max_per_host / delay`` (``bound_default``);
2. ``rate_wide``: every fetcher slot open to the one host (``max_per_host = max_in_flight``), bound
   ``max_in_flight / delay``: what the fetcher itself sustains, and its CPU time per fetch;
3. ``rate_two_threads``: two threads that each wait on one fetch at a time, as the two decode threads did
   when they fetched (about ``2 / delay``): the figure before concurrent fetching.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

from services.tagger.fetch import FetchPolicy, ImageFetcher
from tools.traffic.imagehost import HostStats, ImageHost

log = logging.getLogger(__name__)


@dataclass
class FetchFigures:
    fetches: int
    delay_ms: float
    image_bytes: int
    max_in_flight: int
    max_per_host: int
    rate_default: float
    bound_default: float
    rate_wide: float
    bound_wide: float
    rate_two_threads: float
    ratio_default_to_two_threads: float
    cpu_ms_per_fetch: float
    connections_wide: int
    requests_wide: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _host_process(delay_s: float, images: int, size: int, ready: Connection, stop: Event) -> None:
    with ImageHost(delay_s=delay_s) as host:
        body = os.urandom(size)
        for i in range(images):
            host.put(f"{i}.jpg", body)
        ready.send(host.port)
        while not stop.wait(0.05):
            if ready.poll():  # a request for the counts so far
                ready.recv()
                ready.send(host.stats())
                host.reset_stats()


class _RemoteHost:
    """The image host in a child process, with its counts on request."""

    def __init__(self, delay_s: float, images: int, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._stop = context.Event()
        self._process = context.Process(target=_host_process, args=(delay_s, images, size, child, self._stop),
                                        name="bench-image-host", daemon=True)
        self._process.start()
        if not self._conn.poll(60):
            raise TimeoutError("the image host did not start within 60 s")
        self.port: int = self._conn.recv()
        self.images = images

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.port}/images/{i % self.images}.jpg"

    def stats(self) -> HostStats:
        """Counts since the last call."""
        self._conn.send("stats")
        stats: HostStats = self._conn.recv()
        return stats

    def close(self) -> None:
        self._stop.set()
        self._process.join(10)


def _rate(fetcher: ImageFetcher, host: _RemoteHost, n: int) -> tuple[float, float]:
    """Fetches per second for ``n`` fetches submitted at once, and the fetcher process's CPU seconds."""
    cpu, started = time.process_time(), time.perf_counter()
    futures = [fetcher.fetch(host.url(i)) for i in range(n)]
    for future in futures:
        future.result()
    return n / (time.perf_counter() - started), time.process_time() - cpu


def run(*, fetches: int = 4000, delay_ms: float = 50.0, image_bytes: int = 4096,
        policy: FetchPolicy | None = None) -> FetchFigures:
    """Measure the three rates of the module docstring against one image host answering after ``delay_ms``."""
    delay_s = delay_ms / 1000
    host = _RemoteHost(delay_s, images=min(fetches, 1000), size=image_bytes)
    base = replace(policy or FetchPolicy(), allow_hosts=frozenset({f"127.0.0.1:{host.port}"}), timeout_s=30.0)
    wide = replace(base, max_per_host=base.max_in_flight)
    try:
        with ImageFetcher(base) as fetcher:
            fetcher.fetch_sync(host.url(0))  # connect once before measuring
            rate_default, _ = _rate(fetcher, host, fetches)
        with ImageFetcher(wide) as fetcher:
            fetcher.fetch_sync(host.url(0))
            host.stats()
            rate_wide, cpu_s = _rate(fetcher, host, fetches)
            counts = host.stats()
        two = max(40, int(4 * delay_ms))  # a few seconds' worth
        with ImageFetcher(base) as fetcher, ThreadPoolExecutor(2) as threads:
            started = time.perf_counter()
            list(threads.map(lambda i: fetcher.fetch_sync(host.url(i)), range(two)))
            rate_two = two / (time.perf_counter() - started)
    finally:
        host.close()
    return FetchFigures(
        fetches=fetches, delay_ms=delay_ms, image_bytes=image_bytes, max_in_flight=base.max_in_flight,
        max_per_host=base.max_per_host, rate_default=round(rate_default, 1),
        bound_default=round(min(base.max_per_host, base.max_in_flight) / delay_s, 1),
        rate_wide=round(rate_wide, 1), bound_wide=round(wide.max_in_flight / delay_s, 1),
        rate_two_threads=round(rate_two, 1), ratio_default_to_two_threads=round(rate_default / rate_two, 1),
        cpu_ms_per_fetch=round(1000 * cpu_s / fetches, 3), connections_wide=counts.connections,
        requests_wide=counts.requests)
