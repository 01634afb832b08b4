"""Kafka records as the window sees them: the arm of a dead letter, and the failed candidate behind a stable tag."""

from __future__ import annotations

from datetime import UTC, datetime

from contracts import ARM_HEADER, FAILED_VERSION_HEADER, RolloutArm, Topics
from rollout.sources.records import parse
from rollout.window import DeadLetterRecord, TagRecord
from tests.rollout.messages import dead_letter
from tools.traffic.reviewitems import review_items

TAG = review_items(1, seed=3)[0].tag


def test_a_tag_carries_the_failed_candidates_version_from_its_header() -> None:
    value = TAG.model_dump_json().encode()
    plain = parse(Topics.TAGS.name, value, [], model=TAG.model.name)
    marked = parse(Topics.TAGS.name, value, [(FAILED_VERSION_HEADER, b"2")], model=TAG.model.name)
    assert isinstance(plain, TagRecord) and isinstance(marked, TagRecord)
    assert (plain.failed_version, marked.failed_version) == ("", "2")
    assert parse(Topics.TAGS.name, value, [], model="another_model") is None


def test_a_dead_letter_is_blamed_on_the_arm_its_header_names_and_on_none_without_it() -> None:
    letter = dead_letter(datetime.now(UTC))
    value = letter.to_bytes()
    at = letter.time.timestamp()
    assert parse(Topics.DEAD_LETTERS.name, value, [(ARM_HEADER, b"candidate")], model="m") == DeadLetterRecord(
        time=at, arm=RolloutArm.CANDIDATE)
    assert parse(Topics.DEAD_LETTERS.name, value, [], model="m") == DeadLetterRecord(time=at, arm=None)
