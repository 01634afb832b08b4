"""What ``tagstream tail`` prints for a record: every topic's message its own way, never a traceback."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import (
    CatalogEvent,
    ContractModel,
    DeadLetter,
    DeadLetterReplay,
    ErrorCode,
    ErrorInfo,
    LabelFeedback,
    LabelSource,
    ModelCard,
    ModelRef,
    ReferenceProfile,
    ReviewKind,
    ReviewProgress,
    RolloutReason,
    RolloutSpec,
    RolloutStage,
    RolloutState,
    RolloutStatus,
    SourcePosition,
    Topics,
)
from tools.traffic.describe import MESSAGES, as_json_line, describe
from tools.traffic.reviewitems import review_items
from tools.traffic.synthetic import generate

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
PROFILE = Path(__file__).resolve().parents[3] / "model/repository/catalog_tagger/1/reference_profile.json"


@dataclass
class Record:
    topic: str
    value: bytes | None
    key: bytes | None = b"p-1"
    partition: int = 0
    offset: int = 7
    timestamp: int = 1_764_489_600_000
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def _shown(record: Record) -> str:
    return describe(record).plain


def _examples() -> dict[str, ContractModel]:
    """One valid message of every tagstream topic."""
    review = review_items(1, seed=3)[0]
    event = CatalogEvent.model_validate_json(next(iter(generate(1, seed=3))).value)
    position = SourcePosition(topic=Topics.EVENTS.name, partition=1, offset=41)
    letter = DeadLetter(original_value_b64="e30=", source=position, consumer_group="taggers", time=T0,
                        error=ErrorInfo(code=ErrorCode.IMAGE_MISSING, message="data.image: required",
                                        field="data.image"))
    profile = ReferenceProfile.model_validate_json(PROFILE.read_bytes())
    return {
        Topics.EVENTS.name: event,
        Topics.DEAD_LETTERS.name: letter,
        Topics.TAGS.name: review.tag,
        Topics.TAGS_SHADOW.name: review.tag,
        Topics.REVIEW.name: review,
        Topics.LABELS.name: LabelFeedback(product_id="p-1", labels={"fabric": "denim"}, source=LabelSource.REVIEWER,
                                          who="ana", time=T0),
        Topics.ROLLOUT.name: RolloutState(
            spec=RolloutSpec(model="catalog_tagger", stable_version="1", candidate_version="2"),
            status=RolloutStatus(revision=4, stage=RolloutStage.CANARY, step="canary-10", traffic_share=0.1,
                                 reason=RolloutReason.BAKING, message="baking for 10 min", time=T0)),
        Topics.DLQ_REPLAYS.name: DeadLetterReplay(
            dead_letter=SourcePosition(topic=Topics.DEAD_LETTERS.name, partition=0, offset=3), original=position,
            republished=SourcePosition(topic=Topics.EVENTS.name, partition=1, offset=90),
            code=ErrorCode.IMAGE_MISSING, by="ops", time=T0),
        Topics.REVIEW_PROGRESS.name: ReviewProgress(group="reviewers", partition=2, committed=10, decided=[12, 14],
                                                    time=T0),
        Topics.MODELS.name: ModelCard(model=ModelRef(name="catalog_tagger", version="1"), profile=profile,
                                      registered_at=T0),
    }


def test_every_tagstream_topic_has_its_message() -> None:
    assert set(MESSAGES) == {topic.name for topic in Topics.all()}


@pytest.mark.parametrize("topic", [topic.name for topic in Topics.all()])
def test_describe_shows_the_message_when_record_is_valid(topic: str) -> None:
    shown = _shown(Record(topic, _examples()[topic].to_bytes()))
    assert shown.startswith(f"08:00:00.000 {topic}[0]@7 ")
    assert "not a valid" not in shown
    assert "key=" not in shown  # the raw fallback was not taken


def test_describe_says_deleted_when_tags_record_is_a_tombstone() -> None:
    shown = _shown(Record(Topics.TAGS.name, None, key=b"p-42"))
    assert shown.endswith("p-42 deleted (tombstone)")


def test_describe_says_deleted_when_compacted_record_is_a_tombstone_without_key() -> None:
    assert _shown(Record(Topics.ROLLOUT.name, None, key=None)).endswith("(no key) deleted (tombstone)")


def test_describe_shows_kind_and_attributes_to_check_when_record_is_a_review_item() -> None:
    item = review_items(1, seed=5, kind=ReviewKind.AUDIT)[0]
    shown = _shown(Record(Topics.REVIEW.name, item.to_bytes()))
    assert item.tag.product_id in shown
    assert "audit" in shown
    assert "check: category, fit" in shown
    assert f"cat={item.tag.attributes['category'].label}" in shown


def test_describe_shows_labels_of_review_item_only_for_attributes_to_check() -> None:
    item = review_items(1, seed=5, doubtful=("fabric",))[0]
    shown = _shown(Record(Topics.REVIEW.name, item.to_bytes()))
    assert "doubt" in shown and "check: fabric" in shown
    assert " fabric=" in shown and " cat=" not in shown


def test_describe_shows_every_attribute_when_record_is_a_tag() -> None:
    tag = review_items(1, seed=5)[0].tag
    shown = _shown(Record(Topics.TAGS.name, tag.to_bytes()))
    assert f"{tag.product_id}  catalog_tagger v1 [stable r0]  review: fabric, texture" in shown
    assert shown.count("=") == len(tag.attributes) + 1  # one per attribute, and ood=


def test_describe_names_the_fault_on_one_line_when_record_is_not_its_topics_message() -> None:
    tag = json.loads(review_items(1)[0].tag.to_bytes())  # a tag where a review item belongs
    shown = _shown(Record(Topics.REVIEW.name, json.dumps(tag).encode(), key=b"p-9"))
    assert "\n" not in shown
    assert "key=p-9 not a valid ReviewItem: kind: Field required (+" in shown


@pytest.mark.parametrize("value", [b"", b"not json \xff\n at all", b"[1, 2]", b"{" * 5000, b"null"])
def test_describe_is_one_line_when_value_is_not_a_message(value: bytes) -> None:
    shown = _shown(Record(Topics.TAGS.name, value))
    assert "\n" not in shown
    assert "key=p-1 not a valid TagPrediction: " in shown


def test_describe_shows_key_and_raw_text_when_topic_is_unknown() -> None:
    assert _shown(Record("other.topic", b'{"a": 1}')).endswith('key=p-1 {"a": 1}')
    assert _shown(Record("other.topic", b"\x00\x01 plain")).endswith("key=p-1 (not JSON) \x00\x01 plain")


def test_describe_shows_a_placeholder_when_timestamp_is_outside_the_calendar() -> None:
    assert _shown(Record("other.topic", b"1", timestamp=2**62)).startswith("--:--:--.--- other.topic")


@settings(max_examples=150, deadline=None)
@given(topic=st.sampled_from([topic.name for topic in Topics.all()]),
       value=st.one_of(st.binary(max_size=200),
                       st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                                    lambda inner: st.lists(inner, max_size=3)
                                    | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                                    max_leaves=12).map(lambda doc: json.dumps(doc).encode())))
def test_describe_never_raises_when_record_is_arbitrary(topic: str, value: bytes) -> None:
    shown = _shown(Record(topic, value))
    assert "\n" not in shown
    assert "not a valid" in shown


def test_json_line_has_null_value_when_record_is_a_tombstone() -> None:
    line = json.loads(as_json_line(Record(Topics.TAGS.name, None, key=b"p-42")))
    assert line["key"] == "p-42" and line["value"] is None and "value_raw" not in line
