"""Synthetic traffic: the exact malformed share, valid events that pass the contract, malformed ones
that fail in the way their expected dead-letter code says, drift on demand, and the truth kept beside."""

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
from typer.testing import CliRunner

from contracts import CatalogEvent, ErrorCode
from model.drift import Drift
from model.synthetic import SyntheticConfig, sample_truth
from modelspec.taxonomy import ATTRIBUTE_NAMES, BY_NAME
from tools.cli.main import app
from tools.traffic.synthetic import (
    BOMB_SIZE,
    EXPECTED_ERRORS,
    MALFORMED_KINDS,
    NESTING_DEPTH,
    VALID,
    GeneratedRecord,
    generate,
    malformed_plan,
    write_truth,
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
        assert record.truth is not None and record.truth.merchant_id == event.data.merchant_id
        assert list(record.truth.labels) == list(ATTRIBUTE_NAMES)
        assert all(label in BY_NAME[name].classes for name, label in record.truth.labels.items())
        assert not record.truth.novelty and not record.truth.out_of_distribution
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


def test_traffic_never_repeats_the_training_products_of_the_same_seed(run: list[GeneratedRecord]) -> None:
    valid = [(i, r) for i, r in enumerate(run) if r.truth is not None][:50]
    assert not any(r.truth == sample_truth(4, i) for i, r in valid)


def test_drift_shapes_the_events_and_their_truth_says_how() -> None:
    drift = Drift(non_garment=0.3, new_pattern="argyle", new_pattern_share=0.5, merchant_mix={"m-900": 1.0})
    records = list(generate(60, seed=5, clock=_fixed_clock, config=SyntheticConfig(drift=drift)))
    events = [CatalogEvent.model_validate_json(r.value) for r in records]
    assert {e.data.merchant_id for e in events} == {"m-900"}
    truths = [r.truth for r in records if r.truth is not None]
    assert len(truths) == 60
    ood = [t for t in truths if t.out_of_distribution]
    novel = [t for t in truths if t.novelty]
    assert 5 < len(ood) < 35 and 5 < len(novel) < 40
    assert all(set(t.labels.values()) == {None} for t in ood)
    assert all(t.labels["main_pattern"] is None and t.novelty == {"main_pattern": "argyle"} for t in novel)


def test_the_truth_of_every_valid_record_is_written_as_a_json_line() -> None:
    out = io.StringIO()
    config = SyntheticConfig(drift=Drift(non_garment=0.2))
    records = list(write_truth(generate(40, malformed_ratio=0.25, seed=7, config=config), out))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    valid = [r for r in records if r.valid]
    assert len(records) == 40 and len(lines) == len(valid) == 30
    for record, line in zip(valid, lines, strict=True):
        assert record.truth is not None
        assert (line["event_id"], line["product_id"]) == (record.event_id, record.product_id)
        assert line["merchant_id"] == record.truth.merchant_id and line["labels"] == dict(record.truth.labels)
        assert line["out_of_distribution"] is record.truth.out_of_distribution
        assert line["novelty"] == {} and line["non_garment"] == record.truth.non_garment


def test_produce_refuses_a_bad_drift_knob_before_connecting() -> None:
    result = CliRunner().invoke(app, ["produce", "--synthetic", "5", "--drift", "brigthness=0.5"])
    assert result.exit_code == 2
    assert "brigthness" in result.output and "--drift" in result.output
