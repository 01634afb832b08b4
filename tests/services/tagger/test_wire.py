"""What ``wire.py`` writes is exactly the contract: validated by the pydantic models, equal to what they build."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import (
    AttributeTag,
    CatalogEvent,
    EventType,
    FeatureSummary,
    ImageRef,
    LabelScore,
    ModelRef,
    ProductData,
    ReviewItem,
    ReviewKind,
    ReviewReason,
    RolloutArm,
    RolloutRef,
    TagPrediction,
    Timings,
)
from modelspec.taxonomy import ATTRIBUTES
from modelspec.tensors import OOD_OUTPUT, output_name
from services.tagger import wire
from services.tagger.messages import review_items
from services.tagger.postprocess import Tagged, to_tags

NOW = datetime(2026, 11, 30, 10, 0, 0, 123456, tzinfo=UTC)
FEATURES = FeatureSummary(width=640, height=480, bytes=12345, brightness=0.5, contrast=0.2, saturation=0.3,
                          sharpness=0.04, mean_r=0.4, mean_g=0.5, mean_b=0.6)


def _event(*, url: bool, category: str | None, title: str) -> CatalogEvent:
    image = ImageRef(url="https://images.example.com/a.jpg") if url else ImageRef(inline=base64.b64encode(b"x" * 30)
                                                                                  .decode())
    return CatalogEvent(id="e-1", source="/m/m-1", type=EventType.UPDATED, time=NOW - timedelta(seconds=1),
                        data=ProductData(product_id="p-1", merchant_id="m-1", category_hint=category, title=title,
                                         image=image))


def _reference(event: CatalogEvent, tagged: Tagged, arm: RolloutArm) -> TagPrediction:
    """The tag as the models build it, field by field."""
    attributes = {name: AttributeTag(label=a["label"], confidence=a["confidence"],
                                     top_k=[LabelScore(label=s["label"], score=s["score"]) for s in a["top_k"]])
                  for name, a in tagged.attributes.items()}
    return TagPrediction(event_id=event.id, product_id=event.data.product_id, merchant_id=event.data.merchant_id,
                         model=ModelRef(name="catalog_tagger", version="3"), rollout=RolloutRef(revision=9, arm=arm),
                         attributes=attributes, needs_review=tagged.needs_review,
                         review_reasons=tagged.review_reasons, ood_score=tagged.ood_score,
                         timings=Timings(event_time=event.time, received_at=NOW, tagged_at=NOW, preprocess_ms=2.5,
                                         inference_ms=7.25),
                         features=FEATURES)


def _outputs(rng: np.random.Generator, n: int, ood: list[float]) -> dict[str, np.ndarray]:
    out = {output_name(a.name): rng.dirichlet(np.full(a.size, 0.4), n).astype(np.float32) for a in ATTRIBUTES}
    out[OOD_OUTPUT] = np.asarray(ood, dtype=np.float32).reshape(n, 1)
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), top_k=st.integers(1, 5),
       ood=st.sampled_from([0.2, 3.0, float("nan"), float("inf"), -1.0]),
       quality=st.sampled_from([(), (ReviewReason.IMAGE_BLANK,),
                                (ReviewReason.IMAGE_TINY, ReviewReason.IMAGE_BLURRED)]),
       arm=st.sampled_from(list(RolloutArm)), url=st.booleans(), category=st.sampled_from([None, "tops"]),
       title=st.sampled_from(["", "Striped tee", 'Quote " and \\ and é']), audit=st.booleans())
def test_tags_and_review_items_as_written_are_what_the_models_write(seed, top_k, ood, quality, arm, url, category,
                                                                     title, audit):
    event = _event(url=url, category=category, title=title)
    [tagged] = to_tags(_outputs(np.random.default_rng(seed), 1, [ood]), top_k=top_k, threshold=lambda _: 0.5,
                       ood_threshold=1.0, image_reasons=[quality])
    document = wire.tag_document(event, tagged, model=ModelRef(name="catalog_tagger", version="3"), revision=9,
                                 arm=arm, received_at=NOW, tagged_at=NOW, preprocess_ms=2.5, inference_ms=7.25,
                                 features=FEATURES)
    reference = _reference(event, tagged, arm)
    assert TagPrediction.model_validate_json(wire.to_bytes(document)) == reference
    assert json.loads(wire.to_bytes(document)) == json.loads(reference.to_bytes())
    written = [wire.to_bytes(item) for item in review_items(document, tagged, event, audit=audit)]
    if audit:  # in the audit sample: every attribute to check, in doubt or not
        expected = [ReviewItem(kind=ReviewKind.AUDIT, tag=reference, attributes=list(reference.attributes),
                               title=title, category_hint=category, image=event.data.image)]
    else:
        expected = [ReviewItem(kind=ReviewKind.DOUBT, tag=reference, attributes=reference.needs_review, title=title,
                               category_hint=category, image=event.data.image)] if tagged.needs_review else []
    assert [ReviewItem.model_validate_json(item) for item in written] == expected
    assert [json.loads(item) for item in written] == [json.loads(item.to_bytes()) for item in expected]


def test_nothing_but_json_is_written():
    [tagged] = to_tags(_outputs(np.random.default_rng(1), 1, [0.2]), top_k=1, threshold=lambda _: 0.5,
                       ood_threshold=1.0)
    document = wire.tag_document(_event(url=True, category=None, title=""), tagged,
                                 model=ModelRef(name="m", version="1"), revision=0, arm=RolloutArm.STABLE,
                                 received_at=NOW, tagged_at=NOW, preprocess_ms=float("nan"), inference_ms=1.0,
                                 features=FEATURES)
    assert json.loads(wire.to_bytes(document))["timings"]["preprocess_ms"] is None  # never a bare NaN token
