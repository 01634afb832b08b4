"""The load stage: the image an event names, fetched or inline, decoded, measured, ready for a batch.

Fetching is waiting, decoding is work, and they never share a thread. A URL goes to the fetcher
(:class:`Fetcher`: many fetches in flight, bounded per host, every failure an ``InputError`` naming
``data.image.url``); when its bytes arrive, decoding is queued on the ``decode_workers`` pool. An
inline image goes straight to that pool. There the image is decoded and shrunk
(``modelspec.preprocess``), measured once (``modelspec.features``: the drift summary every tag
carries) and judged (``modelspec.quality``: blank, blurred, tiny), and handed on as :class:`Loaded`.
Work that a rebalance took away is dropped before it is decoded.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Protocol

from contracts import ErrorCode, FeatureSummary, ImageRef, ReviewReason
from modelspec import quality
from modelspec.errors import InputError
from modelspec.features import feature_summaries, measure
from modelspec.preprocess import DecodedImage, decode, stack
from services.tagger import metrics
from services.tagger.settings import TaggerSettings
from services.tagger.work import Loaded, Valid

log = logging.getLogger(__name__)

INLINE_FIELD = "data.image.inline"
URL_FIELD = "data.image.url"


class Fetcher(Protocol):
    """Fetches image URLs concurrently; the future fails with an ``InputError`` naming ``data.image.url``."""

    def fetch(self, url: str) -> Future[bytes]: ...


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


def preprocess(raw: bytes, settings: TaggerSettings) -> tuple[DecodedImage, FeatureSummary, tuple[ReviewReason, ...]]:
    """Decode and shrink one image, measure it once, judge its quality: what training computes the same way."""
    image = decode(raw, max_pixels=settings.image_max_pixels)
    stats = measure(stack([image]))
    size = ([image.width], [image.height])
    features = feature_summaries(stats, *size, [image.nbytes])[0]
    return image, features, tuple(quality.assess(stats, *size, settings.quality)[0])


def decode_image(valid: Valid, raw: bytes, settings: TaggerSettings, started: float) -> Loaded:
    """The event's image decoded, measured and judged; ``started`` (``time.perf_counter``) is when loading began."""
    image, features, reasons = preprocess(raw, settings)
    elapsed = time.perf_counter() - started
    metrics.PREPROCESS_SECONDS.observe(elapsed)
    return Loaded(valid=valid, image=image, features=features, quality=reasons, preprocess_ms=elapsed * 1000)


class LoadStage:
    def __init__(self, fetcher: Fetcher, settings: TaggerSettings, *, owns: Callable[[Valid], bool],
                 on_loaded: Callable[[Loaded], None], on_failed: Callable[[Valid, BaseException], None],
                 on_fatal: Callable[[BaseException], None]) -> None:
        self.settings = settings
        self._on_fatal = on_fatal
        self._fetcher = fetcher
        self._owns = owns
        self._on_loaded = on_loaded
        self._on_failed = on_failed
        self._decoders = ThreadPoolExecutor(settings.decode_workers, thread_name_prefix="decode")

    def load(self, valid: Valid) -> None:
        """Start loading one event's image; the result (or the error) is handed on later, from another thread."""
        started = time.perf_counter()
        ref = valid.event.data.image
        if ref is None:  # the contract allows it only for deletions, which never come here
            self._on_failed(valid, InputError(ErrorCode.IMAGE_MISSING, "event has no image", field="data.image"))
        elif ref.url is not None:
            self._fetcher.fetch(ref.url).add_done_callback(partial(self._guarded, self._fetched, valid, started))
        else:
            self._decoders.submit(self._guarded, self._decode_inline, valid, ref, started)

    def stop(self, wait: bool = True) -> None:
        """Stop decoding: after the queued images (``wait``), or at once, leaving their events in flight."""
        self._decoders.shutdown(wait=wait, cancel_futures=not wait)

    def _fetched(self, valid: Valid, started: float, future: Future[bytes]) -> None:
        """On the fetcher's thread: queue the decoding, or hand on the failure."""
        try:
            raw = within_limit(future.result(), self.settings.image_max_bytes, URL_FIELD)
        except Exception as e:  # noqa: BLE001 -- every fetch failure is the event's (an InputError) or a bug
            self._fail(valid, e)
            return
        try:
            self._decoders.submit(self._guarded, self._decode, valid, raw, started)
        except RuntimeError:  # the pool shut down while the fetch was in flight: the event is re-delivered
            log.debug("stopping: dropped the fetched image of %s", valid.received.position)

    def _decode_inline(self, valid: Valid, ref: ImageRef, started: float) -> None:
        if not self._owns(valid):
            return
        try:
            raw = inline_bytes(ref, self.settings.image_max_bytes)
        except InputError as e:
            self._fail(valid, e)
            return
        self._decode(valid, raw, started)

    def _decode(self, valid: Valid, raw: bytes, started: float) -> None:
        if not self._owns(valid):
            return
        try:
            loaded = decode_image(valid, raw, self.settings, started)
        except Exception as e:  # a poison image must never kill a worker
            if not isinstance(e, InputError):
                log.exception("unexpected error decoding %s", valid.received.position)
            self._fail(valid, e)
            return
        self._on_loaded(loaded)

    def _guarded(self, step: Callable[..., None], *args: object) -> None:
        """Run one step on a pool or fetcher thread, where an exception would otherwise vanish silently."""
        try:
            step(*args)
        except Exception as e:  # a bug here must stop the pipeline, not leave its event in flight forever
            log.exception("the load stage failed")
            self._on_fatal(e)

    def _fail(self, valid: Valid, error: BaseException) -> None:
        if self._owns(valid):
            self._on_failed(valid, error)
