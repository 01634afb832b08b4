"""TagPrediction's review fields: reasons agree with needs_review, and tags from before them still read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from contracts import (
    AttributeTag,
    FeatureSummary,
    LabelScore,
    ModelRef,
    ReviewReason,
    RolloutArm,
    RolloutRef,
    TagPrediction,
    Timings,
)

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
ATTRIBUTES = ("category", "main_colour")


def _tag(**fields: Any) -> TagPrediction:
    base: dict[str, Any] = {
        "event_id": "e-1", "product_id": "p-1", "merchant_id": "m-017",
        "model": ModelRef(name="catalog_tagger", version="2"),
        "rollout": RolloutRef(revision=0, arm=RolloutArm.STABLE),
        "attributes": {name: AttributeTag(label="x", confidence=0.4, top_k=[LabelScore(label="x", score=0.4)])
                       for name in ATTRIBUTES},
        "timings": Timings(event_time=NOW, received_at=NOW, tagged_at=NOW, preprocess_ms=1.0, inference_ms=2.0),
        "features": FeatureSummary(width=128, height=128, bytes=4096, brightness=0.7, contrast=0.3, saturation=0.4,
                                   sharpness=0.05, mean_r=0.5, mean_g=0.4, mean_b=0.3),
    }
    return TagPrediction(**{**base, **fields})


@pytest.mark.parametrize("tag", [
    _tag(),
    _tag(needs_review=["category"], review_reasons=[ReviewReason.LOW_CONFIDENCE], ood_score=0.4),
    _tag(needs_review=list(ATTRIBUTES), review_reasons=[ReviewReason.OUT_OF_DISTRIBUTION], ood_score=3.2),
    _tag(needs_review=list(ATTRIBUTES), review_reasons=[ReviewReason.IMAGE_BLANK, ReviewReason.IMAGE_TINY]),
], ids=["fine", "low confidence", "out of distribution", "poor image without a score"])
def test_a_tag_round_trips_through_its_bytes_with_its_review_fields(tag: TagPrediction) -> None:
    assert TagPrediction.model_validate_json(tag.to_bytes()) == tag


def test_reasons_travel_as_their_stable_string_values() -> None:
    tag = _tag(needs_review=list(ATTRIBUTES), review_reasons=[ReviewReason.OUT_OF_DISTRIBUTION], ood_score=2.0)
    doc = json.loads(tag.to_bytes())
    assert doc["review_reasons"] == ["out_of_distribution"]
    assert doc["ood_score"] == 2.0


def test_a_tag_written_before_review_reasons_existed_still_validates() -> None:
    doc = json.loads(_tag(needs_review=["category"]).to_bytes())
    del doc["review_reasons"]
    old = TagPrediction.model_validate_json(json.dumps(doc))
    assert old.review_reasons == [] and old.ood_score is None and old.needs_review == ["category"]


@pytest.mark.parametrize(("fields", "complaint"), [
    ({"review_reasons": [ReviewReason.LOW_CONFIDENCE]}, "empty needs_review"),
    ({"needs_review": ["category"], "review_reasons": [ReviewReason.OUT_OF_DISTRIBUTION]}, "every attribute"),
    ({"needs_review": ["category"], "review_reasons": [ReviewReason.LOW_CONFIDENCE, ReviewReason.IMAGE_BLURRED]},
     "every attribute"),
    ({"ood_score": -0.1}, "ood_score"),
], ids=["reasons without attributes", "OOD naming one attribute", "poor image naming one attribute",
        "negative score"])
def test_a_tag_whose_review_fields_disagree_is_rejected(fields: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        _tag(**fields)


def test_an_unknown_reason_is_rejected_naming_the_field() -> None:
    doc = json.loads(_tag(needs_review=["category"], review_reasons=[ReviewReason.LOW_CONFIDENCE]).to_bytes())
    doc["review_reasons"] = ["looks_odd"]
    with pytest.raises(ValidationError) as info:
        TagPrediction.model_validate_json(json.dumps(doc))
    assert {e["loc"][0] for e in info.value.errors()} == {"review_reasons"}


def test_only_low_confidence_is_about_some_attributes() -> None:
    assert [r for r in ReviewReason if not r.whole_image] == [ReviewReason.LOW_CONFIDENCE]
