"""The rollout controller's Prometheus metrics, each declared once with a fixed label set."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from contracts import RolloutStage, RolloutState
from rollout.guardrails import Round

STAGE = Gauge("tagstream_rollout_stage", "1 for the stage the model's rollout is in, 0 for the others",
              ["model", "stage"])
TRAFFIC_SHARE = Gauge("tagstream_rollout_traffic_share", "Share of products whose published tags the candidate makes",
                      ["model"])
REVISION = Gauge("tagstream_rollout_revision", "Revision of the rollout state taggers follow", ["model"])
PAUSED = Gauge("tagstream_rollout_paused", "1 while the rollout is paused", ["model"])
TIME_IN_STAGE = Gauge("tagstream_rollout_time_in_stage_seconds", "Seconds since the current stage began", ["model"])
CANDIDATE_EVENTS = Gauge("tagstream_rollout_candidate_events", "Events the candidate tagged in the current stage",
                         ["model"])
GUARDRAIL_VALUE = Gauge("tagstream_rollout_guardrail_value",
                        "Latest figure of a guardrail (attribute empty: the whole tag); NaN while pending",
                        ["model", "guardrail", "attribute"])
GUARDRAIL_MAX = Gauge("tagstream_rollout_guardrail_max", "The figure above which a guardrail fails",
                      ["model", "guardrail", "attribute"])
MEASUREMENTS = Counter("tagstream_rollout_measurements_total", "Guardrail rounds, by phase",
                       ["model", "guardrail", "phase"])
TRANSITIONS = Counter("tagstream_rollout_transitions_total", "Changes of the rollout state, by action and reason",
                      ["model", "action", "reason"])
SERVING_ERRORS = Counter("tagstream_rollout_serving_errors_total",
                         "Failed calls to Triton's model-repository API (load or unload a version)", ["model"])


def show_state(state: RolloutState, *, candidate_events: int | None = None, time_in_stage_s: float = 0.0) -> None:
    model = state.spec.model
    for stage in RolloutStage:
        STAGE.labels(model, stage.value).set(1.0 if state.status.stage is stage else 0.0)
    TRAFFIC_SHARE.labels(model).set(state.status.traffic_share)
    REVISION.labels(model).set(state.status.revision)
    PAUSED.labels(model).set(1.0 if state.status.paused else 0.0)
    TIME_IN_STAGE.labels(model).set(time_in_stage_s)
    if candidate_events is not None:
        CANDIDATE_EVENTS.labels(model).set(candidate_events)


def show_rounds(model: str, rounds: list[Round]) -> None:
    for r in rounds:
        MEASUREMENTS.labels(model, r.guardrail.value, r.phase.value).inc()
        for m in r.measurements:
            GUARDRAIL_VALUE.labels(model, r.guardrail.value, m.attribute).set(
                m.value if m.value is not None else float("nan"))
            GUARDRAIL_MAX.labels(model, r.guardrail.value, m.attribute).set(m.max)
