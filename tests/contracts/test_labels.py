"""LabelFeedback as the review console writes it, and as it was written before: both validate."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts import DeadLetterReplay, ErrorCode, LabelFeedback, LabelSource, ModelRef, SourcePosition, replay_key

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def test_a_label_of_the_first_layout_still_validates() -> None:
    old = {"schema_version": 1, "product_id": "p-1", "event_id": "e-1", "labels": {"fit": "slim"},
           "source": "merchant", "time": "2026-11-01T10:00:00Z"}
    label = LabelFeedback.model_validate_json(json.dumps(old))
    assert label.labels == {"fit": "slim"} and label.who is None and label.unusable is False


def test_a_reviewer_decision_round_trips_with_who_model_and_merchant() -> None:
    label = LabelFeedback(product_id="p-1", event_id="e-1", merchant_id="m-017", labels={"collar": "v_neck"},
                          source=LabelSource.AUDIT, who="ana", model=ModelRef(name="catalog_tagger", version="1"),
                          time=NOW)
    assert LabelFeedback.model_validate_json(label.to_bytes()) == label
    assert label.key == b"p-1"


def test_an_unusable_image_carries_no_labels() -> None:
    label = LabelFeedback(product_id="p-1", labels={}, unusable=True, source=LabelSource.REVIEWER, who="ana",
                          time=NOW)
    assert LabelFeedback.model_validate_json(label.to_bytes()).unusable
    with pytest.raises(ValidationError) as info:
        LabelFeedback(product_id="p-1", labels={"fit": "slim"}, unusable=True, source=LabelSource.REVIEWER, time=NOW)
    assert info.value.errors()[0]["loc"] == ("labels",)


def test_labels_may_be_empty_only_for_an_unusable_image() -> None:
    with pytest.raises(ValidationError) as info:
        LabelFeedback(product_id="p-1", labels={}, source=LabelSource.REVIEWER, time=NOW)
    assert info.value.errors()[0]["loc"] == ("labels",)


def test_a_replay_record_is_keyed_by_the_dead_letters_position() -> None:
    replay = DeadLetterReplay(
        dead_letter=SourcePosition(topic="catalog.events.dlq", partition=2, offset=17),
        original=SourcePosition(topic="catalog.events", partition=1, offset=40),
        republished=SourcePosition(topic="catalog.events", partition=1, offset=97),
        event_id="e-1", code=ErrorCode.IMAGE_URL_FAILED, by="oncall", time=NOW)
    assert replay.key == replay_key(2, 17) == b"2:17"
    assert DeadLetterReplay.model_validate_json(replay.to_bytes()) == replay
