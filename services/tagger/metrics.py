"""The tagger's Prometheus metrics, each declared once with a fixed label set."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from contracts import ReviewReason, RolloutArm, RolloutStage

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

EVENTS_CONSUMED = Counter("tagstream_events_consumed_total", "Records read from catalog.events")
EVENTS_TAGGED = Counter("tagstream_events_tagged_total", "Tags acknowledged by the broker", ["arm"])
EVENTS_REVIEW = Counter("tagstream_events_review_total", "Tags that need review (in doubt), sent to catalog.review")
EVENTS_AUDIT = Counter("tagstream_events_audit_total",
                       "Tags in the random audit sample, sent to catalog.review as audit items (in doubt or not)")
REVIEWS_BY_REASON = Counter("tagstream_reviews_total",
                            "Tags sent to catalog.review, by reason (a tag with two reasons counts under both)",
                            ["reason"])
for _reason in ReviewReason:  # the fixed label set, every series present from the start
    REVIEWS_BY_REASON.labels(_reason.value)
TOMBSTONES = Counter("tagstream_tombstones_total", "Tombstones (null tags) acknowledged for deleted products")
DEAD_LETTERS = Counter("tagstream_dead_letters_total", "Records sent to the dead-letter topic", ["code"])
TRITON_ERRORS = Counter("tagstream_triton_errors_total", "Failed Triton calls (retried, never dead-lettered)")
COMMITS = Counter("tagstream_commits_total", "Offset commits", ["result"])

BATCH_SIZE = Histogram("tagstream_batch_size", "Images per Triton request",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
INFERENCE_SECONDS = Histogram("tagstream_inference_seconds", "Triton call latency per batch",
                              buckets=_LATENCY_BUCKETS)
PREPROCESS_SECONDS = Histogram("tagstream_preprocess_seconds", "Load, decode and resize of one image",
                               buckets=_LATENCY_BUCKETS)
OOD_SCORE = Histogram("tagstream_ood_score",
                      "The model's normalised out-of-distribution score per tagged image (above 1: unlike training)",
                      buckets=(0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2, 3, 5, 10))
END_TO_END_SECONDS = Histogram("tagstream_end_to_end_seconds", "Event time to tag acknowledged",
                               buckets=_LATENCY_BUCKETS)

IN_FLIGHT = Gauge("tagstream_in_flight", "Events read but not yet acknowledged")
PAUSED = Gauge("tagstream_paused", "1 while consumption is paused (backpressure or Triton outage)")
TRITON_UP = Gauge("tagstream_triton_up", "1 when the last Triton call succeeded")
POSITION = Gauge("tagstream_consumer_position", "Next offset this consumer will read", ["partition"])
HIGH_WATERMARK = Gauge("tagstream_consumer_high_watermark",
                       "High watermark from the last fetch response", ["partition"])
LAG = Gauge("tagstream_consumer_lag", "High watermark minus position", ["partition"])
COMMITTED = Gauge("tagstream_committed_offset", "Last committed offset", ["partition"])

# -- the rollout, as this tagger routes by it (the controller's own metrics are tagstream_rollout_*) ----------------
ROUTER_REVISION = Gauge("tagstream_router_revision", "The rollout revision this tagger routes new events by")
ROUTER_STAGE = Gauge("tagstream_router_stage", "1 for the rollout stage this tagger routes new events by", ["stage"])
ROUTER_APPLIED = Gauge("tagstream_router_revision_applied_timestamp_seconds",
                       "When (Unix time) this tagger began routing new events by the revision it follows")
for _stage in RolloutStage:
    ROUTER_STAGE.labels(_stage.value)

# -- per arm, for guardrails measured in Prometheus (a plan names the query; see the README's Rollouts) -----------
INFERENCE_BY_ARM = Histogram("tagstream_inference_by_arm_seconds",
                             "Triton call latency per batch, by the rollout arm it served", ["arm"],
                             buckets=_LATENCY_BUCKETS)
CANDIDATE_FALLBACKS = Counter("tagstream_candidate_fallbacks_total",
                              "Events routed to a rollout's candidate that stable tagged because the candidate kept "
                              "failing while stable answered")
TRITON_ERRORS_BY_ARM = Counter("tagstream_triton_errors_by_arm_total",
                               "Failed Triton calls (retried), by the rollout arm they were for", ["arm"])
DEAD_LETTERS_BY_ARM = Counter("tagstream_dead_letters_by_arm_total",
                              "Routed events dead-lettered, by the arm of their route (bad input before routing "
                              "counts in tagstream_dead_letters_total only)", ["arm"])
for _arm in RolloutArm:  # the fixed label set, every series present from the start
    INFERENCE_BY_ARM.labels(_arm.value)
    TRITON_ERRORS_BY_ARM.labels(_arm.value)
    DEAD_LETTERS_BY_ARM.labels(_arm.value)
    EVENTS_TAGGED.labels(_arm.value)


def show_route(revision: int, stage: str, *, applied_at: float | None) -> None:
    """The rollout state the router follows now; ``applied_at`` when its revision is new."""
    ROUTER_REVISION.set(revision)
    for name in RolloutStage:
        ROUTER_STAGE.labels(name.value).set(1 if name.value == stage else 0)
    if applied_at is not None:
        ROUTER_APPLIED.set(applied_at)
