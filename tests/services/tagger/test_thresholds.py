"""Review thresholds per model version: the version's card, the settings' overrides, the fallback with one warning.

Unit tests on a lookup of cards in memory (the follower of ``tagstream.models`` is proved on the real broker in
``tests/runtime/test_compacted.py``, and the tagger's use of the committed card in the tagger's integration test).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import pytest

from contracts import AttributeThreshold, ModelCard, ModelRef, ReviewReason, ReviewThresholds, TagPrediction, Topics
from model.registry import model_card
from model.tritonconfig import DEFAULT_REPOSITORY
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES
from modelspec.tensors import OOD_OUTPUT, output_name
from services.tagger.postprocess import to_tags
from services.tagger.settings import TaggerSettings
from services.tagger.thresholds import ALWAYS_REVIEW, VersionThresholds
from tests.services.tagger.fakes import FakeProducer, FakeTriton, run
from tools.traffic.synthetic import generate

V1, V2, V3 = (ModelRef(name="catalog_tagger", version=v) for v in ("1", "2", "3"))
COMMITTED = model_card(DEFAULT_REPOSITORY, 1)


def _card(model: ModelRef, thresholds: dict[str, float | None] | None) -> ModelCard:
    """A card of ``model`` (the committed profile) with these thresholds (None: a card without any)."""
    review = None if thresholds is None else ReviewThresholds(
        confidence=0.9, calibration_size=1000, attributes={
            name: AttributeThreshold(threshold=t, target_precision=0.95, expected_precision=None if t is None else 0.96,
                                     review_share=1.0 if t is None else 0.3)
            for name, t in thresholds.items()})
    return ModelCard(model=model, profile=COMMITTED.profile, review=review, registered_at=datetime.now(UTC))


def _thresholds(cards: dict[ModelRef, ModelCard], **settings: object) -> VersionThresholds:
    return VersionThresholds.of(TaggerSettings(**settings), cards.get)  # type: ignore[arg-type]


def test_each_version_is_held_to_the_thresholds_of_its_own_card():
    cards = {V1: _card(V1, {"collar": 0.8, "fabric": 0.3}), V2: _card(V2, {"collar": 0.4, "fabric": 0.9})}
    thresholds = _thresholds(cards)
    assert (thresholds(V1)("collar"), thresholds(V1)("fabric")) == (0.8, 0.3)
    assert (thresholds(V2)("collar"), thresholds(V2)("fabric")) == (0.4, 0.9)


def test_an_attribute_without_a_threshold_or_missing_from_the_card_always_needs_review():
    limits = _thresholds({V1: _card(V1, {"category": None, "collar": 0.0})})(V1)
    assert limits("category") == ALWAYS_REVIEW and limits("texture") == ALWAYS_REVIEW  # None; not on the card
    assert limits.needs_review("category", 1.0) and limits.needs_review("texture", 1.0)
    assert not limits.needs_review("collar", 0.0)


def test_the_committed_card_routes_as_its_thresholds_accept():
    """The limits agree with ``ReviewThresholds.accepts`` (the contract's rule) on every attribute and confidence."""
    review = COMMITTED.review
    assert review is not None
    limits = _thresholds({V1: COMMITTED})(V1)
    grid = [0.0, 0.5, 1.0, *np.random.default_rng(0).random(200).tolist()]
    for name in ATTRIBUTE_NAMES:
        entry = review.attributes[name]
        grid_here = grid if entry.threshold is None else [*grid, entry.threshold]  # the boundary is accepted
        assert all(limits.needs_review(name, c) == (not review.accepts(name, c)) for c in grid_here), name
    assert {n for n in ATTRIBUTE_NAMES if limits(n) == ALWAYS_REVIEW} == {"category", "texture"}


def test_overrides_in_the_settings_win_over_the_card_and_the_fallback():
    cards = {V1: _card(V1, {"category": None, "collar": 0.8})}
    thresholds = _thresholds(cards, review_thresholds={"category": 0.2, "fabric": 0.6}, review_threshold=0.5)
    assert (thresholds(V1)("category"), thresholds(V1)("collar"), thresholds(V1)("fabric")) == (0.2, 0.8, 0.6)
    assert (thresholds(V2)("category"), thresholds(V2)("collar")) == (0.2, 0.5)  # no card: the fallback


def test_a_version_without_a_card_or_thresholds_falls_back_with_one_warning_each(caplog):
    cards = {V2: _card(V2, None)}
    thresholds = _thresholds(cards, review_threshold=0.35)
    with caplog.at_level(logging.WARNING, logger="services.tagger.thresholds"):
        for _ in range(3):
            for model in (V1, V2):
                assert all(thresholds(model)(name) == 0.35 for name in ATTRIBUTE_NAMES)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "catalog_tagger:1 has no model card" in warnings[0]
    assert "catalog_tagger:2 has a model card without review thresholds" in warnings[1]


def test_a_card_registered_later_is_used_from_then_on_and_no_second_warning_follows(caplog):
    cards: dict[ModelRef, ModelCard] = {}
    thresholds = _thresholds(cards, review_threshold=0.5)
    with caplog.at_level(logging.INFO, logger="services.tagger.thresholds"):
        assert thresholds(V3)("collar") == 0.5
        cards[V3] = _card(V3, {"collar": 0.9})
        assert thresholds(V3)("collar") == 0.9
        del cards[V3]  # deleted from the topic (a tombstone): back to the fallback, already warned about
        assert thresholds(V3)("collar") == 0.5
    levels = [r.levelno for r in caplog.records]
    assert levels.count(logging.WARNING) == 1
    assert any("review thresholds of catalog_tagger:3 from its model card" in r.getMessage() for r in caplog.records)


def test_the_limits_are_worked_out_once_per_version_and_card():
    cards = {V1: _card(V1, {"collar": 0.8})}
    thresholds = _thresholds(cards)
    first = thresholds(V1)
    assert thresholds(V1) is first
    cards[V1] = _card(V1, {"collar": 0.7})
    assert thresholds(V1) is not first and thresholds(V1)("collar") == 0.7


def test_to_tags_with_a_versions_limits_reviews_exactly_the_attributes_under_them():
    rng = np.random.default_rng(5)
    outputs = {output_name(a.name): rng.dirichlet(np.ones(a.size), size=50).astype(np.float32) for a in ATTRIBUTES}
    outputs[OOD_OUTPUT] = np.full((50, 1), 0.2, dtype=np.float32)
    limits = _thresholds({V1: COMMITTED})(V1)
    for tagged in to_tags(outputs, top_k=2, threshold=limits, ood_threshold=1.0):
        expected = [n for n in ATTRIBUTE_NAMES if tagged.attributes[n]["confidence"] < limits(n)]
        assert tagged.needs_review == expected and {"category", "texture"} <= set(expected)
        assert tagged.review_reasons == [ReviewReason.LOW_CONFIDENCE]


def test_review_thresholds_naming_an_unknown_attribute_are_refused():
    with pytest.raises(ValueError, match=r"unknown attributes \['colour'\]"):
        TaggerSettings(review_thresholds={"colour": 0.3})


def test_the_tagger_holds_each_answer_to_the_card_of_the_version_that_made_it():
    """Through the whole pipeline on fake clients: version 1's card reviews collar only; a confident model."""
    card = _card(V1, dict.fromkeys(ATTRIBUTE_NAMES, 0.5) | {"collar": 0.99})
    producer = FakeProducer()
    records = list(generate(6, seed=21))
    code, _ = run([r.value for r in records], producer=producer, triton=FakeTriton(confident=True),
                  cards={V1: card}.get)
    assert code == 0
    tags = [TagPrediction.model_validate_json(v) for v in producer.values(Topics.TAGS.name)]
    assert len(tags) == 6 and all(t.model == V1 and t.needs_review == ["collar"] for t in tags)
