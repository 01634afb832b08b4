"""Synthetic catalogue traffic: realistic ``CatalogEvent`` records, and malformed ones on purpose.

Every record is built from its own generator seeded by ``(seed, index)``, so a run is reproducible
byte for byte (apart from the event time, which comes from ``clock``) and any record can be rebuilt
alone. Malformed records are chosen by :func:`malformed_plan`: exactly ``round(n * ratio)`` of them,
one in each of that many equal slices of the run, cycling through every kind in :data:`EXPECTED_ERRORS`
so that each dead-letter code the tagger knows about is exercised.

Valid events show products of the synthetic catalogue (``model.synthetic.product``, in its
``TRAFFIC`` domain, so traffic never repeats a training set of the same seed); a
``SyntheticConfig`` drifts them (brightness, new patterns, non-garment pictures, a new merchant mix...).
What a record really shows (``truth``: labels, novelty, out-of-distribution) travels beside the event,
never inside it; :func:`write_truth` keeps it in a JSON-lines file for a labeller to publish later as
``LabelFeedback``.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import logging
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import numpy as np
from PIL import Image

from contracts import CatalogEvent, ErrorCode, EventType, ImageRef, ProductData
from model.synthetic import DEFAULT_CONFIG, TRAFFIC, ProductTruth, SyntheticConfig, product

log = logging.getLogger(__name__)

VALID = "valid"
#: Each malformed kind and the dead-letter code the tagger must give it.
EXPECTED_ERRORS: dict[str, ErrorCode] = {
    "not_json": ErrorCode.NOT_JSON,
    "nested_too_deep": ErrorCode.NESTED_TOO_DEEP,
    "unknown_field": ErrorCode.CONTRACT_VIOLATION,
    "wrong_type": ErrorCode.CONTRACT_VIOLATION,
    "oversize_title": ErrorCode.CONTRACT_VIOLATION,
    "bad_type": ErrorCode.CONTRACT_VIOLATION,
    "missing_image": ErrorCode.IMAGE_MISSING,
    "broken_image": ErrorCode.IMAGE_UNDECODABLE,
    "truncated_image": ErrorCode.IMAGE_UNDECODABLE,
    "too_many_pixels": ErrorCode.IMAGE_TOO_MANY_PIXELS,
}
MALFORMED_KINDS: tuple[str, ...] = tuple(EXPECTED_ERRORS)
#: The picture a ``too_many_pixels`` event carries: it declares this size but compresses to ~17 KB.
BOMB_SIZE = (12_000, 12_000)
NESTING_DEPTH = 5000
CONTENT_TYPE = ("content-type", b"application/cloudevents+json; charset=UTF-8")

LOCALES: tuple[str, ...] = ("en-GB", "de-DE", "fr-FR", "it-IT", "es-ES", "nl-NL", "pl-PL", "sv-SE")
_SLEEVE_WORDS = {"long": "long-sleeve ", "short": "short-sleeve ", "sleeveless": "sleeveless ",
                 "three_quarter": "3/4-sleeve "}
_PATTERN_WORDS = {"solid": "", "striped": "striped ", "checked": "checked ", "dotted": "polka-dot "}
_STYLE_WORDS = ("Essential", "Relaxed", "Classic", "Everyday", "Soft-touch", "Premium", "Organic", "Studio")


@dataclass(frozen=True)
class GeneratedRecord:
    """One Kafka record to send, with what the tagger should do with it."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    event_id: str | None
    product_id: str | None
    kind: str
    expected_error: ErrorCode | None
    truth: ProductTruth | None  # what a valid record's picture really shows; None for a malformed one

    @property
    def valid(self) -> bool:
        return self.expected_error is None


def _utc_now() -> datetime:
    return datetime.now(UTC)


def malformed_plan(n: int, malformed_ratio: float, seed: int = 0) -> dict[int, str]:
    """Which of ``n`` records are malformed, and of which kind: exactly ``round(n * malformed_ratio)``."""
    if n < 0 or not 0.0 <= malformed_ratio <= 1.0 or seed < 0:
        raise ValueError(f"need n >= 0, 0 <= malformed_ratio <= 1 and seed >= 0; "
                         f"got n={n}, malformed_ratio={malformed_ratio}, seed={seed}")
    count = round(n * malformed_ratio)
    rng = np.random.default_rng((seed,))
    kinds = [MALFORMED_KINDS[k] for k in rng.permutation(len(MALFORMED_KINDS))]
    plan = {}
    for slot in range(count):  # one per slice, so malformed records are spread over the whole run
        lo, hi = slot * n // count, (slot + 1) * n // count
        plan[lo + int(rng.integers(hi - lo))] = kinds[slot % len(kinds)]
    return plan


def _encode(image: Image.Image, image_format: str, rng: np.random.Generator) -> bytes:
    buffer = io.BytesIO()
    options = {"quality": int(rng.integers(80, 93))} if image_format.upper() in ("JPEG", "WEBP") else {}
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


@functools.cache
def _pixel_bomb() -> bytes:
    """A real PNG of ``BOMB_SIZE`` 1-bit pixels: small on the wire, huge once decoded."""
    buffer = io.BytesIO()
    Image.new("1", BOMB_SIZE, 0).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _title(truth: ProductTruth, rng: np.random.Generator) -> str:
    style = _STYLE_WORDS[int(rng.integers(len(_STYLE_WORDS)))]
    if truth.non_garment is not None:
        return f"{style} {truth.non_garment.replace('_', ' ')}"
    attrs = truth.shown
    pattern = _PATTERN_WORDS.get(attrs["main_pattern"], attrs["main_pattern"].replace("_", "-") + " ")
    sleeve = _SLEEVE_WORDS.get(attrs["sleeve_length"], "")
    category = attrs["category"].replace("_", "-")
    return f"{style} {attrs['main_colour']} {pattern}{sleeve}{category}"


#: Where a valid event's image goes instead of inline: called with the product id and the image file, it
#: returns the URL the event carries (for instance ``ImageHost.put`` behind a name).
ImagePublisher = Callable[[str, bytes], str]


def _valid_event(index: int, seed: int, rng: np.random.Generator, image_format: str,
                 clock: Callable[[], datetime], config: SyntheticConfig,
                 publish: ImagePublisher | None = None) -> tuple[CatalogEvent, ProductTruth, bytes]:
    item = product(seed, index, config, domain=TRAFFIC)
    truth = item.truth
    image = _encode(item.photo, image_format, rng)
    product_id = f"p-{seed}-{index}"
    ref = (ImageRef(url=publish(product_id, image)) if publish is not None
           else ImageRef(inline=base64.b64encode(image).decode()))
    event = CatalogEvent(
        id=str(uuid.UUID(bytes=rng.bytes(16), version=4)),
        source=f"/merchants/{truth.merchant_id}/catalog",
        type=EventType.CREATED if rng.random() < 0.75 else EventType.UPDATED,
        time=clock(),
        subject=product_id,
        data=ProductData(
            product_id=product_id,
            merchant_id=truth.merchant_id,
            category_hint=truth.labels["category"] if rng.random() < 0.35 else None,
            title=_title(truth, rng),
            image=ref,
            locale=LOCALES[zlib.crc32(truth.merchant_id.encode()) % len(LOCALES)],
        ),
    )
    return event, truth, image


def _dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _garbage(kind: str, rng: np.random.Generator, index: int, seed: int) -> bytes:
    if kind == "nested_too_deep":
        if rng.random() < 0.5:
            return b"[" * NESTING_DEPTH + b"]" * NESTING_DEPTH
        return b'{"a":' * NESTING_DEPTH + b"1" + b"}" * NESTING_DEPTH
    style = int(rng.integers(3))
    if style == 0:  # binary: invalid UTF-8 from the first byte
        return b"\x80\xfe" + rng.bytes(int(rng.integers(16, 512)))
    if style == 1:  # an event cut off mid-way
        text = _dumps({"specversion": "1.0", "id": f"e-{seed}-{index}",
                       "data": {"product_id": f"p-{seed}-{index}"}})
        return text[: int(rng.integers(1, len(text) - 1))]
    return f"product p-{seed}-{index} updated, see attached".encode()


def _malform(kind: str, document: dict[str, Any], image: bytes, rng: np.random.Generator) -> None:
    """Break a valid event's JSON document in place, the way ``kind`` says."""
    data = document["data"]
    if kind == "unknown_field":
        places = [(data, "colour"), (document, "priority"), (data["image"], "alt_text")]
        where, name = places[int(rng.integers(len(places)))]
        where[name] = "red"
    elif kind == "wrong_type":
        if rng.random() < 0.5:
            data["product_id"] = int(rng.integers(1, 10**9))
        else:
            data["title"] = int(rng.integers(1, 10**6))
    elif kind == "oversize_title":
        data["title"] = ("Oversized soft cotton top " * 400)[:10_000]
    elif kind == "bad_type":
        document["type"] = "catalog.product.archived"  # no contract accepts it (deleted is a valid type now)
    elif kind == "missing_image":
        del data["image"]
    else:
        makers: dict[str, Callable[[], bytes]] = {
            "broken_image": lambda: b"corrupt\x00" + rng.bytes(int(rng.integers(64, 4096))),
            "truncated_image": lambda: image[: len(image) // 2],
            "too_many_pixels": _pixel_bomb}
        payload = makers[kind]()
        data["image"] = {"inline": base64.b64encode(payload).decode()}


def _record(index: int, seed: int, kind: str, image_format: str, clock: Callable[[], datetime],
            config: SyntheticConfig, publish: ImagePublisher | None) -> GeneratedRecord:
    rng = np.random.default_rng((seed, index))
    expected = EXPECTED_ERRORS.get(kind)
    if kind in ("not_json", "nested_too_deep"):
        return GeneratedRecord(None, _garbage(kind, rng, index, seed), [CONTENT_TYPE], None, None, kind,
                               expected, None)
    event, truth, image = _valid_event(index, seed, rng, image_format, clock, config,
                                       publish if kind == VALID else None)
    key = event.key
    if kind == VALID:
        return GeneratedRecord(key, event.to_bytes(), [CONTENT_TYPE], event.id, event.data.product_id, kind,
                               None, truth)
    document = event.model_dump(mode="json", exclude_none=True)
    _malform(kind, document, image, rng)
    return GeneratedRecord(key, _dumps(document), [CONTENT_TYPE], event.id, event.data.product_id, kind,
                           expected, None)


def generate(n: int, *, malformed_ratio: float = 0.0, seed: int = 0, image_format: str = "JPEG",
             clock: Callable[[], datetime] = _utc_now,
             config: SyntheticConfig = DEFAULT_CONFIG,
             image_url: ImagePublisher | None = None) -> Iterator[GeneratedRecord]:
    """``n`` records, lazily; exactly ``round(n * malformed_ratio)`` of them malformed.

    With ``image_url``, each valid event carries ``image.url`` (what ``image_url`` returns for its product
    id and image file) instead of inline bytes; malformed ones keep their inline payloads.

    ``config`` shapes the catalogue the valid events show (priors and drift); each valid record keeps
    the truth (label noise and missing labels are for datasets: traffic keeps the exact truth). The same
    arguments give the same bytes, except the event ``time`` read from ``clock``.
    """
    plan = malformed_plan(n, malformed_ratio, seed)  # checks the arguments now, not at the first next()
    log.debug("generating %d records, %d malformed, seed %d, drift %s", n, len(plan), seed, config.drift.knobs())
    return (_record(i, seed, plan.get(i, VALID), image_format, clock, config, image_url) for i in range(n))


def truth_line(record: GeneratedRecord) -> str | None:
    """The JSON line ``--truth-out`` keeps for a record: ids and the truth; None for a malformed record."""
    if record.truth is None:
        return None
    return json.dumps({"event_id": record.event_id, "product_id": record.product_id, **record.truth.to_json()},
                      separators=(",", ":"))


def write_truth(records: Iterable[GeneratedRecord], out: TextIO) -> Iterator[GeneratedRecord]:
    """Pass ``records`` through, writing each valid one's :func:`truth_line` to ``out`` as it goes by."""
    for record in records:
        line = truth_line(record)
        if line is not None:
            out.write(line + "\n")
        yield record
