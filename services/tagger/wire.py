"""``TagPrediction`` and ``ReviewItem`` as the bytes on the topic, written straight from the tagger's data.

The contracts are the pydantic models in ``contracts/``; these functions write exactly their JSON
layout without building the models first. Building them cost about 150 µs of CPU per tag (one object
per attribute and per top-k score, 52 per tag, then the review item copying the tag), a seventh of the
tagger's whole budget per event; serializing the same document as plain data (with pydantic-core's own
serializer, several times faster than ``json.dumps`` on float-heavy documents) costs a fraction of it.
The values are correct by construction (labels from the taxonomy, scores clipped to [0, 1] with NaN as
0, review reasons from ``postprocess.py``), and ``tests/services/tagger/test_wire.py`` validates what
these functions write against the models, field by field, for every case the tagger produces.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic_core import to_json

from contracts import SCHEMA_VERSION, CatalogEvent, FeatureSummary, ModelRef, ReviewKind, RolloutArm
from services.tagger.postprocess import Tagged


def tag_document(event: CatalogEvent, tagged: Tagged, *, model: ModelRef, revision: int, arm: RolloutArm,
                 received_at: datetime, tagged_at: datetime, preprocess_ms: float, inference_ms: float,
                 features: FeatureSummary) -> dict[str, Any]:
    """A ``TagPrediction`` as the JSON document ``TagPrediction.to_bytes`` writes (``None`` fields left out)."""
    data = event.data
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "event_id": event.id,
        "product_id": data.product_id,
        "merchant_id": data.merchant_id,
        "model": {"name": model.name, "version": model.version},
        "rollout": {"revision": revision, "arm": arm.value},
        "attributes": tagged.attributes,
        "needs_review": tagged.needs_review,
        "review_reasons": [reason.value for reason in tagged.review_reasons],
        "timings": {"event_time": event.time, "received_at": received_at, "tagged_at": tagged_at,
                    "preprocess_ms": preprocess_ms, "inference_ms": inference_ms},
        "features": features,
    }
    if tagged.ood_score is not None:
        document["ood_score"] = tagged.ood_score
    return document


def review_document(tag: dict[str, Any], event: CatalogEvent, kind: ReviewKind, attributes: list[str],
                    ) -> dict[str, Any] | None:
    """A ``ReviewItem`` of ``tag`` as JSON: the attributes to check and the product as the event gave it; None
    when the event has no image to show."""
    data = event.data
    if data.image is None:
        return None
    image = {"url": data.image.url} if data.image.url is not None else {"inline": data.image.inline}
    document: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "kind": kind.value, "tag": tag,
                                "attributes": attributes, "title": data.title, "image": image}
    if data.category_hint is not None:
        document["category_hint"] = data.category_hint
    return document


def to_bytes(document: dict[str, Any]) -> bytes:
    """Compact JSON, by the same serializer as the models' (a NaN, which the tagger never makes, would be null)."""
    return to_json(document, inf_nan_mode="null")
