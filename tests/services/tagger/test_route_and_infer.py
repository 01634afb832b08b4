"""The router seam, the infer stage's grouping by model version and its retries, and what each arm publishes."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from PIL import Image

from contracts import (
    CatalogEvent,
    EventType,
    ImageRef,
    ProductData,
    ReviewItem,
    RolloutArm,
    RolloutReason,
    RolloutSpec,
    RolloutStage,
    RolloutState,
    RolloutStatus,
    TagPrediction,
    Topics,
)
from modelspec.preprocess import decode
from services.tagger import messages
from services.tagger.batcher import MicroBatcher
from services.tagger.infer import InferStage
from services.tagger.load import measured
from services.tagger.router import ModelCall, Route, Router
from services.tagger.settings import TaggerSettings
from services.tagger.work import Inferred, Loaded, Received, Valid
from tests.services.tagger.fakes import FakeTriton

SETTINGS = TaggerSettings(triton_backoff_max_s=5.0)
STABLE = ModelCall("catalog_tagger", "1", RolloutArm.STABLE)
CANDIDATE = ModelCall("catalog_tagger", "2", RolloutArm.CANDIDATE)
SHADOW = ModelCall("catalog_tagger", "2", RolloutArm.SHADOW)


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (80, 80), "teal").save(out, format="PNG")
    return out.getvalue()


PNG = _png()


def _event(i: int) -> CatalogEvent:
    return CatalogEvent(id=f"e-{i}", source="/test", type=EventType.CREATED, time=datetime.now(UTC),
                        data=ProductData(product_id=f"p-{i}", merchant_id="m-1", title=f"Top {i}",
                                         image=ImageRef(inline=base64.b64encode(PNG).decode())))


def _loaded(i: int, route: Route) -> Loaded:
    record = ConsumerRecord("catalog.events", 0, -1, i, 0, 0, None, b"", [], None, 0, 0, 0)
    received = Received(tp=TopicPartition("catalog.events", 0), record=record, received_at=datetime.now(UTC), epoch=1)
    [pre] = measured([decode(PNG, max_pixels=SETTINGS.image_max_pixels)], SETTINGS)
    return Loaded(valid=Valid(received=received, event=_event(i), route=route), image=pre.image,
                  features=pre.features, quality=pre.quality, preprocess_ms=1.0)


def _stage(triton: FakeTriton, waits: list[float] | None = None) -> tuple[InferStage, list[Inferred]]:
    inferred: list[Inferred] = []

    def wait(seconds: float) -> bool:
        if waits is not None:
            waits.append(seconds)
        return False

    stage = InferStage(triton, MicroBatcher(max_size=8, max_wait_s=0.001, capacity=8), SETTINGS,  # type: ignore[arg-type]
                       owns=lambda _: True, on_inferred=inferred.append, on_fatal=pytest.fail, wait=wait)
    return stage, inferred


def _state(revision: int) -> RolloutState:
    return RolloutState(spec=RolloutSpec(model="catalog_tagger", stable_version="1", candidate_version="2"),
                        status=RolloutStatus(revision=revision, stage=RolloutStage.SHADOW, reason=RolloutReason.STARTED,
                                             time=datetime.now(UTC)))


def test_router_answers_stable_with_no_rollout_known():
    route = Router("catalog_tagger", "").route(_event(1))
    assert route == Route(revision=0, publish=ModelCall("catalog_tagger", "", RolloutArm.STABLE))


def test_router_follows_the_rollout_state_it_is_given():
    router = Router("catalog_tagger", "")
    router.update(_state(7))
    assert router.route(_event(1)) == Route(revision=7, publish=STABLE, shadow=(SHADOW,))
    router.update(None)
    assert router.route(_event(1)).revision == 0


def test_a_batch_is_grouped_by_model_version_and_each_event_gets_the_answers_its_route_asks_for():
    triton = FakeTriton(confident=True)
    stage, inferred = _stage(triton)
    shadowed, candidate = Route(3, STABLE, (SHADOW,)), Route(3, CANDIDATE)
    batch = [_loaded(0, shadowed), _loaded(1, candidate), _loaded(2, shadowed), _loaded(3, candidate)]
    assert stage.infer(batch)
    assert sorted(triton.calls) == [("catalog_tagger_v1", "1", 2), ("catalog_tagger_v2", "2", 4)]  # one request each
    answers = {item.loaded.valid.event.id: [(a.arm, a.model.version) for a in item.answers] for item in inferred}
    assert answers == {"e-0": [(RolloutArm.STABLE, "1"), (RolloutArm.SHADOW, "2")],
                       "e-1": [(RolloutArm.CANDIDATE, "2")],
                       "e-2": [(RolloutArm.STABLE, "1"), (RolloutArm.SHADOW, "2")],
                       "e-3": [(RolloutArm.CANDIDATE, "2")]}


def test_the_published_answer_goes_to_tags_and_review_and_a_shadow_answer_only_to_the_shadow_topic():
    stage, inferred = _stage(FakeTriton())  # uniform guesses: every attribute is doubtful
    assert stage.infer([_loaded(0, Route(5, STABLE, (SHADOW,)))])
    outputs = messages.tag_outputs(inferred[0])
    assert [o.topic for o in outputs] == [Topics.TAGS.name, Topics.REVIEW.name, Topics.TAGS_SHADOW.name]
    assert {o.key for o in outputs} == {b"p-0"}
    tag, review, shadow = (outputs[0].value, outputs[1].value, outputs[2].value)
    assert tag is not None and review is not None and shadow is not None
    published, item, shadowed = (TagPrediction.model_validate_json(tag), ReviewItem.model_validate_json(review),
                                 TagPrediction.model_validate_json(shadow))
    assert (published.rollout.revision, published.rollout.arm, published.model.version) == (5, RolloutArm.STABLE, "1")
    assert (shadowed.rollout.arm, shadowed.model.version) == (RolloutArm.SHADOW, "2")
    assert item.tag == published and item.attributes == published.needs_review
    assert (item.title, item.image) == ("Top 0", _event(0).data.image)


@pytest.mark.parametrize(("retry_after_s", "waits"), [
    (None, [0.2, 0.4, 0.8]),  # no hint: exponential backoff
    (1.5, [1.5, 1.5, 1.5]),  # the server's wait, while it is longer than the backoff
])
def test_a_failed_call_is_retried_after_the_wait_the_error_asks_for(retry_after_s, waits):
    recorded: list[float] = []
    triton = FakeTriton(failures=3, retry_after_s=retry_after_s)
    stage, inferred = _stage(triton, recorded)
    assert stage.infer([_loaded(0, Route(0, STABLE))])
    assert recorded == waits
    assert len(inferred) == 1 and len(triton.calls) == 4
    assert not stage.triton_down.is_set()


def _routed_stage(triton: FakeTriton, stage_kind: RolloutStage,
                  waits: list[float] | None = None) -> tuple[InferStage, list[Inferred], Router]:
    router = Router("catalog_tagger", "")
    state = _state(4)
    router.update(state.model_copy(update={"status": state.status.model_copy(update={"stage": stage_kind})}))
    inferred: list[Inferred] = []
    stages: list[InferStage] = []

    def wait(seconds: float) -> bool:
        if waits is not None:
            waits.append(seconds)
            if len(waits) > 20:  # an outage that never ends: the test stops the stage here
                stages[0]._stop.set()  # what stop() sets (no worker threads run here)
        return False

    stage = InferStage(triton, MicroBatcher(max_size=8, max_wait_s=0.001, capacity=8), SETTINGS,  # type: ignore[arg-type]
                       owns=lambda _: True, on_inferred=inferred.append, on_fatal=pytest.fail, wait=wait,
                       router=router)
    stages.append(stage)
    return stage, inferred, router


def test_a_candidate_that_keeps_failing_while_stable_answers_has_its_events_tagged_by_stable():
    triton = FakeTriton(confident=True, failing=frozenset({"2"}))
    stage, inferred, _ = _routed_stage(triton, RolloutStage.CANARY)
    compared = Route(4, CANDIDATE, (STABLE,))  # a canary event stable tags too, for the comparison
    batch = [_loaded(0, Route(4, STABLE)), _loaded(1, Route(4, CANDIDATE)), _loaded(2, compared)]
    assert stage.infer(batch)
    assert [c for c in triton.calls if c[1] == "2"] == [("catalog_tagger_v2", "2", 2)] * SETTINGS.candidate_attempts
    answers = {item.loaded.valid.event.id: ([(a.arm, a.model.version) for a in item.answers],
                                           item.loaded.valid.route.failed_version) for item in inferred}
    assert answers == {"e-0": ([(RolloutArm.STABLE, "1")], ""), "e-1": ([(RolloutArm.STABLE, "1")], "2"),
                       "e-2": ([(RolloutArm.STABLE, "1")], "2")}
    assert not stage.triton_down.is_set()
    tags = [o for o in messages.tag_outputs(inferred[1]) if o.topic == Topics.TAGS.name]
    assert [o.headers for o in tags] == [(("tagstream-rollout-failed-version", b"2"),)]
    assert messages.tag_outputs(inferred[0])[0].headers == ()
    before = len(triton.calls)
    assert stage.infer([_loaded(3, Route(4, CANDIDATE))])  # within candidate_pause_s: not tried again
    assert [c[1] for c in triton.calls[before:]] == ["1"] and inferred[-1].loaded.valid.route.failed_version == "2"


def test_a_failing_shadow_candidate_is_dropped_and_stables_tag_is_published_unmarked():
    triton = FakeTriton(failing=frozenset({"2"}))
    stage, inferred, _ = _routed_stage(triton, RolloutStage.SHADOW)
    assert stage.infer([_loaded(0, Route(4, STABLE, (SHADOW,)))])
    [item] = inferred
    assert [(a.arm, a.model.version) for a in item.answers] == [(RolloutArm.STABLE, "1")]
    assert item.loaded.valid.route == Route(4, STABLE)


def test_when_stable_does_not_answer_either_it_is_an_outage_and_the_candidates_events_wait():
    triton = FakeTriton(failing=frozenset({"2"}))
    triton.serving = False  # nothing is ready: an outage, not the candidate's fault
    waits: list[float] = []
    stage, inferred, _ = _routed_stage(triton, RolloutStage.CANARY, waits)
    assert not stage.infer([_loaded(1, Route(4, CANDIDATE))])  # still waiting when the test stops it
    assert inferred == [] and len(waits) > SETTINGS.candidate_attempts and stage.triton_down.is_set()
    assert {c[1] for c in triton.calls} == {"2"}


def test_a_failing_version_routed_as_stable_is_never_bypassed():
    triton = FakeTriton(failing=frozenset({"1"}))
    waits: list[float] = []
    stage, inferred, _ = _routed_stage(triton, RolloutStage.CANARY, waits)
    assert not stage.infer([_loaded(0, Route(4, STABLE))])
    assert inferred == [] and len(waits) > SETTINGS.candidate_attempts
