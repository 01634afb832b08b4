"""Review routing by the committed version's own thresholds, and the audit sample, on the real broker and Triton.

The stack registers the committed model's card (``catalog_tagger:1`` with its ``review_thresholds.json``) on
``tagstream.models`` when its broker starts; the tagger follows that topic. One override in the tagger's settings
(fabric) shows that an operator's threshold wins over the card.
"""

from __future__ import annotations

import json

import pytest

from contracts import ReviewKind
from model.registry import model_card
from model.tritonconfig import DEFAULT_REPOSITORY
from modelspec.taxonomy import ATTRIBUTE_NAMES
from services.tagger.postprocess import in_audit_sample
from tests.conftest import FAST_GROUP_ENV, StackFactory
from tests.services.tagger.streams import OutputReader
from tools.traffic.produce import produce
from tools.traffic.synthetic import generate

pytestmark = pytest.mark.integration

EVENTS = 150
AUDIT_SHARE = 0.2
OVERRIDE = {"fabric": 0.0}  # the card says 0.765: with the override every fabric label is accepted


def test_tags_of_version_1_are_routed_by_its_committed_thresholds_and_an_audit_sample_goes_to_review(
        stack_factory: StackFactory) -> None:
    card = model_card(DEFAULT_REPOSITORY, 1)
    assert card.review is not None
    thresholds = {name: entry.threshold for name, entry in card.review.attributes.items()}
    always = {name for name, t in thresholds.items() if t is None}
    assert always == {"category", "texture"}  # what the README's figures say of the committed model

    stack = stack_factory(["broker", "triton", "tagger-0"], tagger_env={
        **FAST_GROUP_ENV, "TAGSTREAM_AUDIT_SHARE": str(AUDIT_SHARE),
        "TAGSTREAM_REVIEW_THRESHOLDS": json.dumps(OVERRIDE)})
    records = list(generate(EVENTS, seed=51))
    produce(stack.kafka_settings(), records, progress=False)
    reader = OutputReader(stack.kafka_settings())
    everyone = {r.event_id for r in records}
    sampled = {event_id for event_id in everyone if in_audit_sample(event_id, AUDIT_SHARE)}
    seen = reader.until(lambda s: s.tagged_ids >= everyone and len(s.review) >= EVENTS, timeout_s=120)
    reader.close()
    tags = {t.event_id: t for t in seen.tags}

    fallback_differs = 0
    for tag in tags.values():
        assert tag.model.version == "1"
        assert always <= set(tag.needs_review)  # no threshold: always to review
        if any(reason.whole_image for reason in tag.review_reasons):
            assert tag.needs_review == list(ATTRIBUTE_NAMES)
            continue
        limits = {**{n: float("inf") if t is None else t for n, t in thresholds.items()}, **OVERRIDE}
        confidence = {name: tag.attributes[name].confidence for name in ATTRIBUTE_NAMES}
        assert tag.needs_review == [n for n in ATTRIBUTE_NAMES if confidence[n] < limits[n]]  # accepted: not there
        assert "fabric" not in tag.needs_review and "main_colour" not in tag.needs_review  # thresholds 0
        fallback_differs += tag.needs_review != [n for n in ATTRIBUTE_NAMES if confidence[n] < 0.5]
    assert fallback_differs > EVENTS // 2  # the card decided, not TAGSTREAM_REVIEW_THRESHOLD's 0.5

    audits = [item for item in seen.review if item.kind is ReviewKind.AUDIT]
    doubts = [item for item in seen.review if item.kind is ReviewKind.DOUBT]
    assert {item.tag.event_id for item in audits} == sampled and sampled
    assert all(item.attributes == list(ATTRIBUTE_NAMES) for item in audits)
    assert {item.tag.event_id for item in doubts} == everyone - sampled  # every tag is in doubt: category
    assert all(item.attributes == item.tag.needs_review for item in doubts)
    assert len(seen.review) == EVENTS  # one item per tag
    print(f"\n{len(audits)} audit items of {EVENTS} tags (share {AUDIT_SHARE}); attributes to review per doubt "
          f"item {sum(len(i.attributes) for i in doubts) / len(doubts):.2f}; "
          f"{fallback_differs} tags routed differently than a fixed 0.5 would")
