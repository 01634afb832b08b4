"""The router: each stage's route per event, the versions still served, the metrics it shows, and how the infer
stage addresses a route's versions on Triton (and what it does when a version it called was retired)."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from PIL import Image
from prometheus_client import REGISTRY

from contracts import (
    ARM_HEADER,
    CatalogEvent,
    DeadLetter,
    ErrorCode,
    EventType,
    ImageRef,
    ProductData,
    RolloutArm,
    RolloutState,
    TagPrediction,
    Topics,
    TritonAddressing,
)
from modelspec.errors import InputError
from modelspec.preprocess import decode
from rollout import state as machine
from rollout.routing import bucket
from services.tagger import messages
from services.tagger.batcher import MicroBatcher
from services.tagger.errors import InferenceUnavailable
from services.tagger.infer import InferStage
from services.tagger.load import measured
from services.tagger.policy import Stage
from services.tagger.publish import PublishStage
from services.tagger.router import ModelCall, Route, Router
from services.tagger.settings import TaggerSettings
from services.tagger.work import Inferred, Loaded, Received, Valid
from tests.rollout.factories import at, idle, in_stage
from tests.services.tagger.fakes import FakeProducer, FakeTriton

MODEL = "catalog_tagger"
PRODUCTS = [f"p-{i}" for i in range(2000)]
INSIDE_CANARY = next(p for p in PRODUCTS if bucket(p) < 0.1 and bucket(p, salt=b"tagstream-compare") < 0.5)
COMPARED_ELSEWHERE = next(p for p in PRODUCTS if bucket(p) < 0.1 and bucket(p, salt=b"tagstream-compare") >= 0.5)
OUTSIDE = next(p for p in PRODUCTS if bucket(p) >= 0.1)


def fail(error: BaseException) -> None:
    pytest.fail(f"a stage stopped on {error!r}")


def stable(version: str = "1") -> ModelCall:
    return ModelCall(MODEL, version, RolloutArm.STABLE)


CANDIDATE = ModelCall(MODEL, "2", RolloutArm.CANDIDATE)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (80, 80), "teal").save(out, format="PNG")
    return out.getvalue()


PNG = _png()


def event(product: str, merchant: str = "m-9", category: str | None = None) -> CatalogEvent:
    return CatalogEvent(id=f"e-{product}", source="/test", type=EventType.CREATED, time=datetime.now(UTC),
                        data=ProductData(product_id=product, merchant_id=merchant, title="Top", category_hint=category,
                                         image=ImageRef(inline=base64.b64encode(PNG).decode())))


def routed(state: RolloutState | None, product: str, **data: str) -> Route:
    router = Router(MODEL, "")
    router.update(state)
    return router.route(event(product, **data))


def rolled_back() -> RolloutState:
    return machine.rollback(in_stage("canary-10"), at(5))


def completed() -> RolloutState:
    return machine.complete(in_stage("full"), at(5))


@pytest.mark.parametrize(("name", "state", "product", "data", "publish", "shadow"), [
    ("no rollout state yet", None, OUTSIDE, {}, ModelCall(MODEL, "", RolloutArm.STABLE), ()),
    ("no rollout running", idle(), OUTSIDE, {}, stable(), ()),
    ("shadow", in_stage("shadow"), OUTSIDE, {}, stable(), (ModelCall(MODEL, "2", RolloutArm.SHADOW),)),
    ("pilot, a merchant of the cohort", in_stage("pilot"), OUTSIDE, {"merchant": "m-1"}, CANDIDATE, (stable(),)),
    ("pilot, outside the cohort", in_stage("pilot"), OUTSIDE, {}, stable(), ()),
    ("canary, inside the share and compared", in_stage("canary-10"), INSIDE_CANARY, {}, CANDIDATE, (stable(),)),
    ("canary, inside the share, not compared", in_stage("canary-10"), COMPARED_ELSEWHERE, {}, CANDIDATE, ()),
    ("canary, outside the share", in_stage("canary-10"), OUTSIDE, {}, stable(), ()),
    ("full", in_stage("full"), OUTSIDE, {}, CANDIDATE, ()),
    ("rolled back", rolled_back(), INSIDE_CANARY, {}, stable(), ()),
    ("completed: the candidate is stable", completed(), INSIDE_CANARY, {}, stable("2"), ()),
])
def test_each_stage_routes_an_event_to_its_version_and_arm(name, state, product, data, publish, shadow):
    route = routed(state, product, **data)
    assert (route.publish, route.shadow) == (publish, shadow), name
    assert route.revision == (state.status.revision if state is not None else 0)


def test_a_product_keeps_its_version_within_a_stage_and_a_larger_share_keeps_the_smaller_ones_products():
    ten = in_stage("canary-10")
    half = ten.model_copy(update={"status": ten.status.model_copy(update={"traffic_share": 0.5})})
    router_a, router_b = Router(MODEL), Router(MODEL)  # two taggers
    router_a.update(ten)
    router_b.update(ten)
    first = {p: router_a.route(event(p)).publish for p in PRODUCTS}
    assert first == {p: router_b.route(event(p)).publish for p in PRODUCTS}
    router_a.update(half)
    on_candidate = {p for p, call in first.items() if call.arm is RolloutArm.CANDIDATE}
    assert 0.07 < len(on_candidate) / len(PRODUCTS) < 0.13
    assert all(router_a.route(event(p)).publish.arm is RolloutArm.CANDIDATE for p in on_candidate)


def test_a_pilot_serves_its_categories():
    state = in_stage("pilot")
    by_category = state.model_copy(update={"status": state.status.model_copy(update={
        "pilot_cohort": state.status.pilot_cohort.model_copy(update={"categories": ["blouse"]})})})
    assert routed(by_category, OUTSIDE, category="blouse").publish == CANDIDATE
    assert routed(by_category, OUTSIDE, category="shirt").publish == stable()


def test_the_state_of_another_model_is_ignored():
    router = Router(MODEL)
    router.update(in_stage("full"))
    other = in_stage("shadow")
    router.update(other.model_copy(update={"spec": other.spec.model_copy(update={"model": "other_tagger"})}))
    assert router.route(event(OUTSIDE)).publish == CANDIDATE


@pytest.mark.parametrize(("name", "state", "served", "retired"), [
    ("no state: the configured version", None, [(MODEL, "")], [(MODEL, "1")]),
    ("shadow", in_stage("shadow"), [(MODEL, "1"), (MODEL, "2")], [(MODEL, ""), ("other", "1")]),
    ("rolled back", rolled_back(), [(MODEL, "1")], [(MODEL, "2")]),
    ("completed", completed(), [(MODEL, "2")], [(MODEL, "1")]),
])
def test_the_router_knows_which_versions_the_state_in_force_still_routes_to(name, state, served, retired):
    router = Router(MODEL, "")
    router.update(state)
    assert all(router.serves(*target) for target in served), name
    assert not any(router.serves(*target) for target in retired), name


def _gauge(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    assert value is not None, name
    return value


def test_the_router_shows_the_revision_and_stage_it_routes_by_and_since_when():
    router = Router(MODEL)
    shadow = in_stage("shadow")
    router.update(shadow)
    applied = _gauge("tagstream_router_revision_applied_timestamp_seconds")
    assert _gauge("tagstream_router_revision") == shadow.status.revision
    assert _gauge("tagstream_router_stage", stage="shadow") == 1
    assert abs(applied - datetime.now(UTC).timestamp()) < 5
    held = machine.hold(shadow, at(3), shadow.status.reason.BAKING, "baking")
    router.update(held)  # same revision: routing did not change, nor did the time it began
    assert _gauge("tagstream_router_revision_applied_timestamp_seconds") == applied
    router.update(rolled_back())
    assert _gauge("tagstream_router_stage", stage="rolled_back") == 1
    assert _gauge("tagstream_router_stage", stage="shadow") == 0
    assert _gauge("tagstream_router_revision") == rolled_back().status.revision


# -- the infer stage: addressing, and a retired version --------------------------------------------------------------

def loaded(product: str, route: Route, settings: TaggerSettings) -> Loaded:
    record = ConsumerRecord("catalog.events", 0, -1, 0, 0, 0, None, b"", [], None, 0, 0, 0)
    received = Received(tp=TopicPartition("catalog.events", 0), record=record, received_at=datetime.now(UTC), epoch=1)
    [pre] = measured([decode(PNG, max_pixels=settings.image_max_pixels)], settings)
    return Loaded(valid=Valid(received=received, event=event(product), route=route), image=pre.image,
                  features=pre.features, quality=pre.quality, preprocess_ms=1.0)


def infer_stage(triton: FakeTriton, settings: TaggerSettings, router: Router | None = None,
                ) -> tuple[InferStage, list[Inferred]]:
    inferred: list[Inferred] = []
    stage = InferStage(triton, MicroBatcher(max_size=8, max_wait_s=0.001, capacity=8), settings,  # type: ignore[arg-type]
                       owns=lambda _: True, on_inferred=inferred.append, on_fatal=fail,
                       wait=lambda _: False, router=router)
    return stage, inferred


@pytest.mark.parametrize(("addressing", "calls"), [
    (TritonAddressing.NAME, [("catalog_tagger_v1", "1", 1), ("catalog_tagger_v2", "2", 1)]),
    (TritonAddressing.VERSION, [("catalog_tagger", "1", 1), ("catalog_tagger", "2", 1)]),
])
def test_the_infer_stage_addresses_each_version_as_the_setting_says_and_tags_name_the_model(addressing, calls):
    settings = TaggerSettings(triton_addressing=addressing)
    triton = FakeTriton(confident=True)
    stage, inferred = infer_stage(triton, settings)
    assert stage.infer([loaded(INSIDE_CANARY, routed(in_stage("canary-10"), INSIDE_CANARY), settings)])
    assert sorted(triton.calls) == calls
    [item] = inferred
    assert [(a.model.name, a.model.version, a.arm) for a in item.answers] == [
        (MODEL, "2", RolloutArm.CANDIDATE), (MODEL, "1", RolloutArm.STABLE)]


def test_without_a_rollout_state_the_plain_model_name_serves_at_its_default_version():
    settings = TaggerSettings()
    triton = FakeTriton()
    stage, inferred = infer_stage(triton, settings)
    assert stage.infer([loaded("p-1", routed(None, "p-1"), settings)])
    assert triton.calls == [(MODEL, "", 1)]
    assert inferred[0].answers[0].model.version == "1"  # as Triton says it serves


class RetiredCandidate(FakeTriton):
    """Fails every call to version 2, as the host does once it unloaded that version."""

    def infer(self, images, *, model=None, version=None):
        if version == "2":
            self.calls.append((model or self.model, version, images.shape[0]))
            raise InferenceUnavailable("version 2 of catalog_tagger is unloaded")
        return super().infer(images, model=model, version=version)


def test_events_routed_to_a_version_that_failed_after_the_rollout_left_it_are_routed_again():
    settings = TaggerSettings()
    router = Router(MODEL)
    router.update(in_stage("canary-10"))
    batch = [loaded(p, router.route(event(p)), settings) for p in (INSIDE_CANARY, OUTSIDE)]
    assert batch[0].valid.route.publish == CANDIDATE
    router.update(rolled_back())
    stage, inferred = infer_stage(RetiredCandidate(confident=True), settings, router)
    assert stage.infer(batch)
    published = {item.loaded.valid.event.data.product_id: (item.loaded.valid.route.revision, item.answers[0].call)
                 for item in inferred}
    assert published == {INSIDE_CANARY: (rolled_back().status.revision, stable()),
                         OUTSIDE: (in_stage("canary-10").status.revision, stable())}


def test_a_failing_version_the_rollout_still_routes_to_is_retried_not_routed_again():
    settings = TaggerSettings()
    router = Router(MODEL)
    router.update(in_stage("canary-10"))
    triton = FakeTriton(failures=2, confident=True)
    stage, inferred = infer_stage(triton, settings, router)
    assert stage.infer([loaded(INSIDE_CANARY, router.route(event(INSIDE_CANARY)), settings)])
    assert [call[:2] for call in triton.calls].count(("catalog_tagger_v2", "2")) == 3
    assert inferred[0].answers[0].call == CANDIDATE


def test_per_arm_latency_and_errors_are_counted_under_the_arm_they_served():
    settings = TaggerSettings()
    before = {arm: REGISTRY.get_sample_value("tagstream_inference_by_arm_seconds_count", {"arm": arm}) or 0.0
              for arm in ("stable", "candidate", "shadow")}
    errors = REGISTRY.get_sample_value("tagstream_triton_errors_by_arm_total", {"arm": "candidate"}) or 0.0
    stage, _ = infer_stage(FakeTriton(failures=1), settings)
    assert stage.infer([loaded(INSIDE_CANARY, routed(in_stage("canary-10"), INSIDE_CANARY), settings)])
    after = {arm: REGISTRY.get_sample_value("tagstream_inference_by_arm_seconds_count", {"arm": arm}) or 0.0
             for arm in before}
    assert {arm: after[arm] - before[arm] for arm in before} == {"stable": 1, "candidate": 1, "shadow": 0}
    # the first call (dict order: the candidate's group first) failed once
    assert REGISTRY.get_sample_value("tagstream_triton_errors_by_arm_total", {"arm": "candidate"}) == errors + 1


# -- what the publish stage writes for each answer and each failure ------------------------------------------------

def test_a_compared_events_stable_copy_goes_to_the_shadow_topic_and_the_candidates_tag_is_published():
    settings = TaggerSettings()
    stage, inferred = infer_stage(FakeTriton(), settings)
    assert stage.infer([loaded(INSIDE_CANARY, routed(in_stage("canary-10"), INSIDE_CANARY), settings)])
    outputs = messages.tag_outputs(inferred[0])
    topics = [o.topic for o in outputs]
    assert topics == [Topics.TAGS.name, Topics.REVIEW.name, Topics.TAGS_SHADOW.name]
    tags = [TagPrediction.model_validate_json(o.value or b"") for o in outputs if o.topic != Topics.REVIEW.name]
    assert [(t.rollout.arm, t.model.version) for t in tags] == [(RolloutArm.CANDIDATE, "2"), (RolloutArm.STABLE, "1")]


def test_a_routed_events_dead_letter_carries_its_arm_and_bad_input_carries_none():
    producer = FakeProducer()
    stage = PublishStage(producer, group="g", max_original_bytes=1024, on_done=lambda _: None, on_fatal=fail)
    settings = TaggerSettings()
    item = loaded(INSIDE_CANARY, routed(in_stage("canary-10"), INSIDE_CANARY), settings)
    stage.admit(item.valid)
    stage.failed(item.valid, Stage.DECODE, InputError(ErrorCode.IMAGE_UNDECODABLE, "not an image", field="data.image"))
    stage.invalid(item.valid.received, InputError(ErrorCode.NOT_JSON, "not JSON"))
    assert [topic for topic, _, _ in producer.sent] == [Topics.DEAD_LETTERS.name] * 2
    assert producer.headers == [[(ARM_HEADER, b"candidate")], []]
    assert DeadLetter.model_validate_json(producer.sent[0][2] or b"").error.code == "image_undecodable"
