"""Synthetic traffic: the exact malformed share, valid events that pass the contract, and malformed
ones that fail in the way their expected dead-letter code says."""

from __future__ import annotations

import base64
import io
import json
import warnings
from collections import Counter
from datetime import UTC, datetime

import pytest
from PIL import Image, UnidentifiedImageError
from pydantic import ValidationError

from contracts import CatalogEvent, ErrorCode
from services.model.taxonomy import BY_NAME
from services.traffic.synthetic import (
    BOMB_SIZE,
    EXPECTED_ERRORS,
    MALFORMED_KINDS,
    NESTING_DEPTH,
    VALID,
    GeneratedRecord,
    generate,
    malformed_plan,
)

FIXED = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
#: The tagger's default pixel limit (TAGSTREAM_IMAGE_MAX_PIXELS).
MAX_PIXELS = 40_000_000


def _fixed_clock() -> datetime:
    return FIXED


@pytest.fixture(scope="module")
def run() -> list[GeneratedRecord]:
    return list(generate(1000, malformed_ratio=0.05, seed=4, clock=_fixed_clock))


def _by_kind(records: list[GeneratedRecord]) -> dict[str, list[GeneratedRecord]]:
    kinds: dict[str, list[GeneratedRecord]] = {}
    for record in records:
        kinds.setdefault(record.kind, []).append(record)
    return kinds


def _error_locs(value: bytes) -> set[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as info:
        CatalogEvent.model_validate_json(value)
    return {tuple(e["loc"]) for e in info.value.errors()}


def _inline_image(record: GeneratedRecord) -> bytes:
    event = CatalogEvent.model_validate_json(record.value)
    assert event.data.image.inline is not None
    return base64.b64decode(event.data.image.inline)


@pytest.mark.parametrize(("n", "ratio", "expected"), [
    (1000, 0.05, 50), (0, 0.5, 0), (7, 0.3, 2), (10, 0.05, 0), (333, 0.1, 33), (25, 1.0, 25), (500, 0.0, 0),
    (99, 0.123, 12),
])
def test_plan_has_exactly_round_n_times_ratio_malformed(n: int, ratio: float, expected: int) -> None:
    plan = malformed_plan(n, ratio, seed=3)
    assert len(plan) == expected == round(n * ratio)
    assert all(0 <= i < n for i in plan)


def test_malformed_records_are_spread_over_the_whole_run() -> None:
    plan = sorted(malformed_plan(1000, 0.05, seed=1))
    assert [i // 20 for i in plan] == list(range(50))


def test_a_run_has_exactly_the_planned_malformed_records(run: list[GeneratedRecord]) -> None:
    assert len(run) == 1000
    assert sum(not r.valid for r in run) == 50
    assert Counter(r.kind for r in run if not r.valid) == Counter(dict.fromkeys(MALFORMED_KINDS, 5))
    small = list(generate(40, malformed_ratio=0.25, seed=9))
    assert sum(not r.valid for r in small) == 10


def test_valid_records_pass_the_contract_and_carry_their_truth_beside_it(run: list[GeneratedRecord]) -> None:
    valid = [r for r in run if r.kind == VALID]
    assert len(valid) == 950
    for record in valid:
        event = CatalogEvent.model_validate_json(record.value)
        assert record.expected_error is None
        assert record.key == event.key == event.data.product_id.encode()
        assert (record.event_id, record.product_id) == (event.id, event.data.product_id)
        assert event.time == FIXED
        assert record.truth is not None
        assert all(label in BY_NAME[name].classes for name, label in record.truth.items())
        assert "truth" not in json.loads(record.value) and "main_colour" not in record.value.decode()
        with Image.open(io.BytesIO(_inline_image(record))) as image:
            assert image.format == "JPEG" and 96 <= image.width <= 160
    merchants = Counter(json.loads(r.value)["data"]["merchant_id"] for r in valid)
    assert merchants.most_common(1)[0][1] > 5 * min(merchants.values())  # a skewed merchant mix


def test_each_malformed_kind_carries_the_code_the_tagger_must_give(run: list[GeneratedRecord]) -> None:
    for record in run:
        assert record.expected_error == EXPECTED_ERRORS.get(record.kind)
        assert record.truth is None or record.valid


def test_not_json_and_too_deep_records_cannot_be_parsed(run: list[GeneratedRecord]) -> None:
    kinds = _by_kind(run)
    for record in kinds["not_json"]:
        assert record.key is None and record.expected_error is ErrorCode.NOT_JSON
        with pytest.raises(ValueError):  # JSONDecodeError or UnicodeDecodeError
            json.loads(record.value)
    for record in kinds["nested_too_deep"]:
        opening = record.value.count(b"[") + record.value.count(b"{")
        assert opening == NESTING_DEPTH and len(record.value) >= 2 * NESTING_DEPTH
        with pytest.raises(RecursionError):
            json.loads(record.value)


def test_contract_kinds_fail_validation_naming_the_field(run: list[GeneratedRecord]) -> None:
    kinds = _by_kind(run)
    for record in kinds["unknown_field"]:
        assert _error_locs(record.value) & {("data", "colour"), ("priority",), ("data", "image", "alt_text")}
    for record in kinds["wrong_type"]:
        assert _error_locs(record.value) & {("data", "product_id"), ("data", "title")}
    for record in kinds["oversize_title"]:
        assert len(json.loads(record.value)["data"]["title"]) == 10_000
        assert ("data", "title") in _error_locs(record.value)
    for record in kinds["bad_type"]:
        assert ("type",) in _error_locs(record.value)
    for record in kinds["missing_image"]:
        assert "image" not in json.loads(record.value)["data"]
        assert ("data", "image") in _error_locs(record.value)


def test_image_kinds_pass_the_contract_but_not_the_decoder(run: list[GeneratedRecord]) -> None:
    kinds = _by_kind(run)
    for record in kinds["broken_image"]:
        with pytest.raises(UnidentifiedImageError):
            Image.open(io.BytesIO(_inline_image(record)))
    for record in kinds["truncated_image"]:
        with pytest.raises(OSError), Image.open(io.BytesIO(_inline_image(record))) as image:
            image.load()
    for record in kinds["too_many_pixels"]:
        payload = _inline_image(record)
        assert len(payload) < 64 * 1024
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(payload)) as image:
                assert image.size == BOMB_SIZE and image.width * image.height > MAX_PIXELS


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    def fingerprint(seed: int) -> list[tuple[object, ...]]:
        return [(r.key, r.value, r.headers, r.kind, r.truth)
                for r in generate(60, malformed_ratio=0.3, seed=seed, clock=_fixed_clock)]

    assert fingerprint(8) == fingerprint(8)
    assert fingerprint(8) != fingerprint(9)


def test_only_the_event_time_changes_with_the_clock() -> None:
    def documents(clock: datetime) -> list[dict[str, object]]:
        return [json.loads(r.value) for r in generate(5, seed=2, clock=lambda: clock)]

    later = [{**d, "time": None} for d in documents(datetime(2030, 1, 1, tzinfo=UTC))]
    assert later == [{**d, "time": None} for d in documents(FIXED)]


def test_image_format_is_honoured() -> None:
    record = next(generate(1, seed=1, image_format="PNG"))
    with Image.open(io.BytesIO(_inline_image(record))) as image:
        assert image.format == "PNG"


@pytest.mark.parametrize("kwargs", [{"malformed_ratio": -0.1}, {"malformed_ratio": 1.5}, {"seed": -1}])
def test_bad_arguments_fail_at_the_call(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        generate(10, **kwargs)  # type: ignore[arg-type]
