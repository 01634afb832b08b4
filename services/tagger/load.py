"""The load stage: the image an event names, fetched or inline, decoded, measured, ready for a batch.

Fetching is waiting, decoding is work, and they never share a thread. A URL goes to the fetcher
(:class:`Fetcher`: many fetches in flight, bounded per host, every failure an ``InputError`` naming
``data.image.url``), at most ``fetch_in_flight`` at a time: the rest wait here, in order, so that a
fetch's deadline starts when the fetcher can start it, not while a backlog of a thousand polled events
queues in front of it. When its bytes arrive they join the decode queue. An inline image joins the
decode queue at once. ``decode_workers`` threads take what is ready from that queue, up to
``DECODE_CHUNK`` images at a time (never waiting for more), decode and shrink each
(``modelspec.preprocess``), measure them together (``modelspec.features``: the drift summary every
tag carries; one vectorised call for the chunk costs a fraction of one call per image) and judge
them (``modelspec.quality``: blank, blurred, tiny), and hand each on as :class:`Loaded`. Work that
a rebalance took away is dropped before it is decoded.
"""

from __future__ import annotations

import base64
import binascii
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from contracts import ErrorCode, FeatureSummary, ImageRef, ReviewReason
from modelspec import quality
from modelspec.errors import InputError
from modelspec.features import feature_summaries, measure
from modelspec.preprocess import DecodedImage, decode, stack
from services.tagger import metrics
from services.tagger.batcher import MicroBatcher
from services.tagger.settings import TaggerSettings
from services.tagger.work import Loaded, Valid

log = logging.getLogger(__name__)

INLINE_FIELD = "data.image.inline"
URL_FIELD = "data.image.url"
#: Most images one decode thread takes from the queue at once (only those already waiting).
DECODE_CHUNK = 16


class Fetcher(Protocol):
    """Fetches image URLs concurrently; the future fails with an ``InputError`` naming ``data.image.url``."""

    def fetch(self, url: str) -> Future[bytes]: ...


@dataclass(frozen=True)
class Preprocessed:
    """One image as the model and the drift monitor see it."""

    image: DecodedImage
    features: FeatureSummary
    quality: tuple[ReviewReason, ...]


def inline_bytes(ref: ImageRef, max_bytes: int) -> bytes:
    """The image file carried inline, base64 decoded, within ``max_bytes``."""
    text = ref.inline or ""
    if len(text) > 4 * -(-max_bytes // 3):  # size the text before decoding any of it
        raise InputError(ErrorCode.IMAGE_TOO_LARGE, f"inline image is {len(text)} base64 characters, more than "
                         f"{max_bytes} bytes (TAGSTREAM_IMAGE_MAX_BYTES)", field=INLINE_FIELD)
    try:
        return within_limit(base64.b64decode(text, validate=True), max_bytes, INLINE_FIELD)
    except (binascii.Error, ValueError) as e:
        raise InputError(ErrorCode.IMAGE_UNDECODABLE, f"inline image is not base64: {e}", field=INLINE_FIELD) from e


def within_limit(raw: bytes, max_bytes: int, field: str) -> bytes:
    if len(raw) > max_bytes:
        raise InputError(ErrorCode.IMAGE_TOO_LARGE, f"image is {len(raw)} bytes, more than {max_bytes}", field=field)
    return raw


def measured(images: list[DecodedImage], settings: TaggerSettings) -> list[Preprocessed]:
    """Measure decoded images together, once: the drift summary and the quality reasons of each."""
    if not images:
        return []
    stats = measure(stack(images))
    widths, heights = [i.width for i in images], [i.height for i in images]
    summaries = feature_summaries(stats, widths, heights, [i.nbytes for i in images])
    reasons = quality.assess(stats, widths, heights, settings.quality)
    return [Preprocessed(image, summary, tuple(found))
            for image, summary, found in zip(images, summaries, reasons, strict=True)]


@dataclass(frozen=True)
class _Queued:
    valid: Valid
    raw: bytes | None  # None: inline, base64-decoded on the decode thread
    started: float  # time.perf_counter() when loading began


class LoadStage:
    def __init__(self, fetcher: Fetcher, settings: TaggerSettings, *, owns: Callable[[Valid], bool],
                 on_loaded: Callable[[Loaded], None], on_failed: Callable[[Valid, BaseException], None],
                 on_fatal: Callable[[BaseException], None]) -> None:
        self.settings = settings
        self._fetcher = fetcher
        self._owns = owns
        self._on_loaded = on_loaded
        self._on_failed = on_failed
        self._on_fatal = on_fatal
        self._queue: MicroBatcher[_Queued] = MicroBatcher(
            max_size=DECODE_CHUNK, max_wait_s=0.0, capacity=settings.max_in_flight + settings.max_poll_records)
        self._stop = threading.Event()
        self._draining = False
        self._urls: queue.Queue[tuple[Valid, str, float]] = queue.Queue()
        self._fetch_slots = threading.Semaphore(settings.fetch_in_flight)
        self._workers = [threading.Thread(target=self._run, name=f"decode-{i}", daemon=True)
                         for i in range(settings.decode_workers)]
        self._workers.append(threading.Thread(target=self._start_fetches, name="fetch-start", daemon=True))

    def start(self) -> None:
        for worker in self._workers:
            worker.start()

    def load(self, valid: Valid) -> None:
        """Start loading one event's image; the result (or the error) is handed on later, from another thread."""
        started = time.perf_counter()
        ref = valid.event.data.image
        if ref is None:  # the contract allows it only for deletions, which never come here
            self._on_failed(valid, InputError(ErrorCode.IMAGE_MISSING, "event has no image", field="data.image"))
        elif ref.url is not None:
            self._urls.put((valid, ref.url, started))
        else:
            self._queue.put(_Queued(valid, None, started))

    def stop(self, wait: bool = True) -> None:
        """Stop decoding: after the queued images (``wait``), or at once, leaving their events in flight."""
        self._draining = wait
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30 if wait else 1)

    def _start_fetches(self) -> None:
        """Hand URLs to the fetcher in order, each when a slot is free (a finished fetch frees its slot)."""
        try:
            while not self._stop.is_set():
                try:
                    valid, url, started = self._urls.get(timeout=0.1)
                except queue.Empty:
                    continue
                while not self._fetch_slots.acquire(timeout=0.1):
                    if self._stop.is_set():
                        return
                if not self._owns(valid):  # a rebalance took it while it waited
                    self._fetch_slots.release()
                    continue
                self._fetcher.fetch(url).add_done_callback(partial(self._fetched, valid, started))
        except Exception as e:  # a bug here must stop the pipeline, not leave its events in flight forever
            log.exception("the load stage failed")
            self._on_fatal(e)

    def _fetched(self, valid: Valid, started: float, future: Future[bytes]) -> None:
        self._fetch_slots.release()
        self._arrived(valid, started, future)

    def _arrived(self, valid: Valid, started: float, future: Future[bytes]) -> None:
        """On the fetcher's thread: queue the bytes for decoding, or hand on the failure.

        A failure that is the event's (an ``InputError``: forbidden, unreachable, timed out, too large) is
        dead-lettered. Any other (the fetcher stopped, the fetch was cancelled) is not: while the pipeline
        stops, the event stays uncommitted and is re-delivered; otherwise the pipeline stops on it.
        """
        try:
            try:
                raw = within_limit(future.result(), self.settings.image_max_bytes, URL_FIELD)
            except InputError as e:
                self._fail(valid, e)
                return
            except Exception as e:  # noqa: BLE001 -- the fetcher's own failure (stopped, cancelled), not the event's
                if not self._stop.is_set():
                    log.error("the image fetcher failed on %s: %s: %s", valid.received.position,
                              type(e).__name__, e)
                    self._on_fatal(e)
                return
            if not self._stop.is_set():  # else the event stays in flight and is re-delivered
                self._queue.put(_Queued(valid, raw, started))
        except Exception as e:  # a bug here must stop the pipeline, not leave its event in flight forever
            log.exception("the load stage failed")
            self._on_fatal(e)

    def _run(self) -> None:
        try:
            while not self._stop.is_set() or (self._draining and self._queue.qsize()):
                chunk = self._queue.next_batch(idle_timeout_s=0.1)
                if chunk:
                    self._decode(chunk)
        except Exception as e:  # a bug here must stop the pipeline, not leave its events in flight forever
            log.exception("the load stage failed")
            self._on_fatal(e)

    def _decode(self, chunk: list[_Queued]) -> None:
        decoded: list[tuple[_Queued, DecodedImage]] = []
        for item in chunk:
            if not self._owns(item.valid):
                continue
            try:
                image = decode(self._bytes(item), max_pixels=self.settings.image_max_pixels)
            except Exception as e:  # a poison image must never kill a worker
                if not isinstance(e, InputError):
                    log.exception("unexpected error decoding %s", item.valid.received.position)
                self._fail(item.valid, e)
                continue
            decoded.append((item, image))
        done = measured([image for _, image in decoded], self.settings)
        now = time.perf_counter()
        for (item, _), pre in zip(decoded, done, strict=True):
            elapsed = now - item.started
            metrics.PREPROCESS_SECONDS.observe(elapsed)
            self._on_loaded(Loaded(valid=item.valid, image=pre.image, features=pre.features, quality=pre.quality,
                                   preprocess_ms=elapsed * 1000))

    def _bytes(self, item: _Queued) -> bytes:
        if item.raw is not None:
            return item.raw
        ref = item.valid.event.data.image
        if ref is None:
            raise InputError(ErrorCode.IMAGE_MISSING, "event has no image", field="data.image")
        return inline_bytes(ref, self.settings.image_max_bytes)

    def _fail(self, valid: Valid, error: BaseException) -> None:
        if self._owns(valid):
            self._on_failed(valid, error)
