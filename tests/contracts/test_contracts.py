"""The contracts accept what they promise, reject the rest with an error that names the field, and
never fail in any other way, whatever bytes arrive."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contracts import (
    AttributeTag,
    AttributeThreshold,
    CatalogEvent,
    ContractModel,
    DeadLetter,
    ErrorCode,
    ErrorInfo,
    EventType,
    FeatureSummary,
    ImageRef,
    LabelFeedback,
    LabelScore,
    LabelSource,
    ModelCard,
    ModelRef,
    PilotCohort,
    ProductData,
    ReferenceProfile,
    ReviewItem,
    ReviewKind,
    ReviewThresholds,
    RolloutArm,
    RolloutReason,
    RolloutRef,
    RolloutSpec,
    RolloutStage,
    RolloutState,
    RolloutStatus,
    SourcePosition,
    TagPrediction,
    Timings,
    card_key,
)
from contracts.events import from_binary_mode, is_binary_mode

NOW = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
PIXEL_B64 = base64.b64encode(b"\xff\xd8\xff\xe0 not really a jpeg").decode()


def _event_doc() -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "7d9c3c3e-5b8e-4a43-9a57-0e0c0f7f0a11",
        "source": "/merchants/m-017/catalog",
        "type": "catalog.product.created",
        "time": "2025-03-14T09:26:53Z",
        "data": {"product_id": "p-0-1", "merchant_id": "m-017", "title": "Navy striped t-shirt",
                 "image": {"inline": PIXEL_B64}, "locale": "en-GB"},
    }


def _loc_of_failure(doc: dict[str, Any]) -> set[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as info:
        CatalogEvent.model_validate_json(json.dumps(doc))
    return {tuple(e["loc"]) for e in info.value.errors()}


def test_a_valid_event_round_trips() -> None:
    event = CatalogEvent.model_validate_json(json.dumps(_event_doc()))
    assert event.type is EventType.CREATED and event.time == NOW
    assert event.key == b"p-0-1"
    assert CatalogEvent.model_validate_json(event.to_bytes()) == event
    data = ProductData(product_id="p-0-1", merchant_id="m-017", title="Navy striped t-shirt",
                       image=ImageRef(inline=PIXEL_B64))
    built = CatalogEvent(id=event.id, source=event.source, type=EventType.CREATED, time=NOW, data=data)
    assert built == event


def _parent(doc: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    *parents, leaf = path.split(".")
    for part in parents:
        doc = doc[part]
    return doc, leaf


Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        node, leaf = _parent(doc, path)
        node[leaf] = value
    return mutate


def _drop(path: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        node, leaf = _parent(doc, path)
        del node[leaf]
    return mutate


BOTH_IMAGES = {"inline": PIXEL_B64, "url": "https://img.example/a.jpg"}


@pytest.mark.parametrize(("mutate", "loc"), [
    pytest.param(_set("data.colour", "red"), ("data", "colour"), id="unknown field in data"),
    pytest.param(_set("priority", "high"), ("priority",), id="unknown top-level field"),
    pytest.param(_set("data.product_id", 12345), ("data", "product_id"), id="product_id as number"),
    pytest.param(_set("data.title", 42), ("data", "title"), id="title as number"),
    pytest.param(_set("data.title", "x" * 10_000), ("data", "title"), id="oversize title"),
    pytest.param(_set("type", "catalog.product.archived"), ("type",), id="bad event type"),
    pytest.param(_set("time", "2025-03-14T09:26:53"), ("time",), id="naive datetime"),
    pytest.param(_set("data.image", BOTH_IMAGES), ("data", "image"), id="both url and inline"),
    pytest.param(_set("data.image", {}), ("data", "image"), id="neither url nor inline"),
    pytest.param(_set("data.image", {"inline": "!!not base64!!"}), ("data", "image", "inline"),
                 id="bad base64"),
    pytest.param(_set("data.image", {"url": "ftp://img.example/a.jpg"}), ("data", "image", "url"),
                 id="non-http url"),
    pytest.param(_drop("data.image"), ("data", "image"), id="missing image"),
    pytest.param(_set("specversion", "0.3"), ("specversion",), id="other CloudEvents version"),
    pytest.param(_set("data.product_id", "p 1; drop"), ("data", "product_id"), id="product id with spaces"),
    pytest.param(_set("data.locale", "english"), ("data", "locale"), id="bad locale"),
])
def test_a_broken_event_fails_naming_the_field(mutate: Mutation, loc: tuple[str, ...]) -> None:
    doc = _event_doc()
    mutate(doc)
    assert loc in _loc_of_failure(doc)


def _timings() -> Timings:
    return Timings(event_time=NOW, received_at=NOW, tagged_at=NOW, preprocess_ms=1.5, inference_ms=7.0)


def _features() -> FeatureSummary:
    return FeatureSummary(width=128, height=128, bytes=4096, brightness=0.7, contrast=0.3, saturation=0.4,
                          sharpness=12.0, mean_r=0.5, mean_g=0.4, mean_b=0.3)


def _tag(**overrides: Any) -> TagPrediction:
    fields: dict[str, Any] = {
        "event_id": "e-1", "product_id": "p-0-1", "merchant_id": "m-017",
        "model": ModelRef(name="catalog_tagger", version="2"),
        "rollout": RolloutRef(revision=3, arm=RolloutArm.CANDIDATE),
        "attributes": {"category": AttributeTag(label="t_shirt", confidence=0.4, top_k=[
            LabelScore(label="t_shirt", score=0.4), LabelScore(label="blouse", score=0.3)])},
        "needs_review": ["category"], "timings": _timings(), "features": _features()}
    return TagPrediction(**{**fields, **overrides})


@pytest.mark.parametrize("message", [
    _tag(),
    DeadLetter(original_value_b64=base64.b64encode(b"not json").decode(), original_key_b64=None,
               original_headers=[("content-type", base64.b64encode(b"application/json").decode())],
               source=SourcePosition(topic="catalog.events", partition=2, offset=41),
               error=ErrorInfo(code=ErrorCode.NOT_JSON, message="value is not JSON"),
               consumer_group="tagstream-tagger", time=NOW),
    LabelFeedback(product_id="p-0-1", labels={"main_colour": "navy"}, source=LabelSource.REVIEWER, time=NOW),
    RolloutState(spec=RolloutSpec(model="catalog_tagger", stable_version="1", candidate_version="2", plan="quick"),
                 status=RolloutStatus(revision=4, stage=RolloutStage.PILOT, step="pilot", traffic_share=0.05,
                                      pilot_cohort=PilotCohort(merchants=["m-017"], hash_share=0.01),
                                      reason=RolloutReason.ADVANCED, message="shadow passed", time=NOW)),
    ReviewItem(kind=ReviewKind.DOUBT, tag=_tag(), attributes=["category"], title="Navy tee",
               image=ImageRef(url="https://images.example.com/p-0-1.jpg")),
], ids=lambda m: type(m).__name__)
def test_every_message_round_trips_through_its_bytes(message: ContractModel) -> None:
    assert type(message).model_validate_json(message.to_bytes()) == message


def test_messages_are_closed_and_strict() -> None:
    with pytest.raises(ValidationError) as info:
        LabelFeedback.model_validate_json(json.dumps({"product_id": "p-1", "labels": {}, "source": "reviewer",
                                                      "time": "2025-03-14T09:26:53Z", "extra": 1}))
    assert {tuple(e["loc"]) for e in info.value.errors()} >= {("labels",), ("extra",)}


# Keys and values of real events are mixed in, so that random documents reach the deeper validators.
_FIELDS = ["specversion", "id", "source", "type", "time", "data", "product_id", "merchant_id", "image", "url",
           "inline", "title", "locale", "category_hint", "schema_version"]
_VALUES = ["1.0", "catalog.product.created", "2025-03-14T09:26:53Z", "p-1", PIXEL_B64, "https://img.example/a.jpg"]
_KEYS = st.sampled_from(_FIELDS) | st.text(max_size=8)
_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=20) | st.sampled_from(_VALUES))
_JSONISH = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(_KEYS, inner, max_size=6), max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _JSONISH, max_size=8))
def test_random_documents_fail_only_with_a_validation_error(doc: dict[str, Any]) -> None:
    try:
        event = CatalogEvent.model_validate_json(json.dumps(doc))
    except ValidationError:
        return
    assert {"id", "source", "type", "time", "data"} <= set(doc)  # only a well-formed event gets through
    assert isinstance(doc["data"], dict) and event.data.product_id == doc["data"]["product_id"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_fail_only_with_a_validation_error(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        CatalogEvent.model_validate_json(raw)


def test_deep_nesting_fails_with_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        CatalogEvent.model_validate_json(b"[" * 5000 + b"]" * 5000)


def test_binary_mode_rebuilds_a_valid_event() -> None:
    doc = _event_doc()
    headers = [(f"ce_{k}", str(v).encode()) for k, v in doc.items() if k != "data"]
    headers.append(("content-type", b"application/json"))
    assert is_binary_mode(headers) and not is_binary_mode([("content-type", b"application/json")])
    rebuilt = CatalogEvent.model_validate_json(from_binary_mode(headers, doc["data"]))
    assert rebuilt == CatalogEvent.model_validate_json(json.dumps(doc))


def test_binary_mode_keeps_an_unknown_attribute_so_validation_names_it() -> None:
    doc = _event_doc()
    headers = [(f"ce_{k}", str(v).encode()) for k, v in doc.items() if k != "data"] + [("ce_color", b"red")]
    with pytest.raises(ValidationError) as info:
        CatalogEvent.model_validate_json(from_binary_mode(headers, doc["data"]))
    assert ("color",) in {tuple(e["loc"]) for e in info.value.errors()}


def test_rollout_state_of_version_1_still_validates_as_spec_and_status() -> None:
    v1 = {"schema_version": 1, "revision": 4, "model": "catalog_tagger", "stable_version": "1",
          "candidate_version": "2", "stage": "canary", "traffic_share": 0.1,
          "pilot_cohort": {"merchants": ["m-017"]}, "reason": "plan started", "time": "2025-03-14T09:26:53Z"}
    state = RolloutState.model_validate_json(json.dumps(v1))
    assert state.schema_version == 2
    assert state.spec == RolloutSpec(model="catalog_tagger", stable_version="1", candidate_version="2")
    assert (state.status.revision, state.status.stage, state.status.traffic_share) == (4, RolloutStage.CANARY, 0.1)
    assert state.status.pilot_cohort.merchants == ["m-017"]
    assert (state.status.reason, state.status.message) == (RolloutReason.MIGRATED, "plan started")
    assert RolloutState.model_validate_json(state.to_bytes()) == state  # written back as version 2


def test_rollout_state_names_the_field_when_a_version_1_record_is_broken() -> None:
    v1 = {"schema_version": 1, "revision": -1, "model": "catalog_tagger", "stable_version": "1",
          "stage": "canary", "time": "2025-03-14T09:26:53Z"}
    with pytest.raises(ValidationError) as info:
        RolloutState.model_validate_json(json.dumps(v1))
    assert ("status", "revision") in {tuple(e["loc"]) for e in info.value.errors()}


def test_rollout_state_refuses_an_unknown_schema_version() -> None:
    with pytest.raises(ValidationError) as info:
        RolloutState.model_validate_json(json.dumps({"schema_version": 3, "spec": {}, "status": {}}))
    assert ("schema_version",) in {tuple(e["loc"]) for e in info.value.errors()}


def test_a_delete_event_needs_no_image_and_other_events_do() -> None:
    doc = _event_doc()
    del doc["data"]["image"]
    doc["type"] = EventType.DELETED.value
    event = CatalogEvent.model_validate_json(json.dumps(doc))
    assert event.deletes and event.data.image is None and event.key == b"p-0-1"
    doc["type"] = EventType.CREATED.value
    with pytest.raises(ValidationError, match=r"needs data\.image"):
        CatalogEvent.model_validate_json(json.dumps(doc))


def test_review_item_lists_only_attributes_of_its_tag() -> None:
    with pytest.raises(ValidationError, match="not in the tag"):
        ReviewItem(kind=ReviewKind.DOUBT, tag=_tag(), attributes=["collar"],
                   image=ImageRef(url="https://images.example.com/a.jpg"))


def test_review_item_of_doubt_needs_a_doubtful_tag_and_audit_does_not() -> None:
    confident = _tag(needs_review=[])
    with pytest.raises(ValidationError, match="audit"):
        ReviewItem(kind=ReviewKind.DOUBT, tag=confident, attributes=["category"],
                   image=ImageRef(url="https://images.example.com/a.jpg"))
    item = ReviewItem(kind=ReviewKind.AUDIT, tag=confident, attributes=["category"],
                      image=ImageRef(url="https://images.example.com/a.jpg"))
    assert item.key == b"p-0-1"


def _committed_profile() -> ReferenceProfile:
    path = Path(__file__).resolve().parents[2] / "model" / "repository" / "catalog_tagger" / "1"
    path = path / "reference_profile.json"
    return ReferenceProfile.model_validate_json(path.read_bytes())


def test_model_card_round_trips_with_profile_and_thresholds_keyed_by_name_and_version() -> None:
    profile = _committed_profile()
    review = ReviewThresholds(confidence=0.9, calibration_size=2000, attributes={
        "category": AttributeThreshold(threshold=0.62, target_precision=0.95, expected_precision=0.963,
                                       review_share=0.31),
        "texture": AttributeThreshold(threshold=None, target_precision=0.95, review_share=1.0)})
    card = ModelCard(model=profile.model, profile=profile, review=review, registered_at=NOW)
    assert ModelCard.model_validate_json(card.to_bytes()) == card
    assert card.key == f"{profile.model.name}:{profile.model.version}".encode() == card_key(profile.model).encode()
