"""The stage's window folds tags, dead letters and labels into each guardrail's figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import GuardrailKind, ReferenceProfile, RolloutArm
from rollout.guardrails import WHOLE
from rollout.window import DeadLetterRecord, LabelRecord, TagRecord, Window

K = GuardrailKind


def tag(event: str, version: str, *, time: float = 100.0, review: bool = False, ms: float = 10.0,
        shadow: bool = False, labels: dict[str, str] | None = None, product: str | None = None,
        features: dict[str, float] | None = None) -> TagRecord:
    arm = RolloutArm.STABLE if version == "1" else (RolloutArm.SHADOW if shadow else RolloutArm.CANDIDATE)
    return TagRecord(time=time, event_id=event, product_id=product or f"p-{event}", version=version, arm=arm,
                     shadow_topic=shadow, needs_review=review, inference_ms=ms,
                     labels=labels or {"fabric": "cotton", "collar": "round"}, features=features or {})


def window() -> Window:
    return Window(50.0, stable="1", candidate="2")


def test_shadow_pairs_give_disagreement_per_attribute_and_the_bake_counts_candidate_events() -> None:
    w = window()
    for i in range(10):
        w.add(tag(f"e{i}", "1"))
        w.add(tag(f"e{i}", "2", shadow=True, labels={"fabric": "silk" if i < 3 else "cotton", "collar": "round"}))
    reading = w.reading(K.DISAGREEMENT)
    assert reading["fabric"].value == pytest.approx(0.3) and reading["fabric"].samples == 10
    assert reading["collar"].value == 0.0
    assert w.candidate_events == 10


def test_records_before_the_window_and_re_delivered_tags_do_not_count() -> None:
    w = window()
    w.add(tag("old", "2", time=10.0))
    w.add(tag("e1", "2"))
    w.add(tag("e1", "2"))
    w.add(tag("e9", "3"))  # neither version of this rollout
    assert w.candidate_events == 1


def test_review_share_latency_and_error_rate_compare_the_candidate_with_stable() -> None:
    w = window()
    for i in range(100):
        w.add(tag(f"s{i}", "1", review=i < 10, ms=10.0))
        w.add(tag(f"c{i}", "2", review=i < 30, ms=30.0 if i >= 5 else 500.0))
    for _ in range(5):
        w.add(DeadLetterRecord(time=100.0, arm=RolloutArm.CANDIDATE))
    w.add(DeadLetterRecord(time=100.0, arm=None))  # bad input: no arm to blame
    assert w.reading(K.REVIEW_SHARE_DIFF)[WHOLE].value == pytest.approx(0.2)
    assert w.reading(K.LATENCY_P99_RATIO)[WHOLE].value == pytest.approx(50.0)
    errors = w.reading(K.ERROR_RATE)[WHOLE]
    c = 5 / 105
    assert errors.candidate == pytest.approx(c) and errors.stable == 0.0 and errors.samples == 105
    assert errors.value == pytest.approx(c - 1.6449 * (c * (1 - c) / 105) ** 0.5)  # less its 95% margin


def test_an_error_rate_difference_chance_explains_passes_and_a_real_one_fails() -> None:
    noisy, broken = window(), window()
    for i in range(400):
        noisy.add(tag(f"s{i}", "1"))
        broken.add(tag(f"s{i}", "1"))
    for _ in range(6):  # stable: 6 failures in 406 events (1.5%)
        for w in (noisy, broken):
            w.add(DeadLetterRecord(time=100.0, arm=RolloutArm.STABLE))
    for i in range(19):  # candidate: one failure in 20 events (5%), as one bad image in a short canary gives
        noisy.add(tag(f"c{i}", "2"))
    noisy.add(DeadLetterRecord(time=100.0, arm=RolloutArm.CANDIDATE))
    for i in range(100):  # candidate: a third of 150 events failed
        broken.add(tag(f"c{i}", "2"))
    for _ in range(50):
        broken.add(DeadLetterRecord(time=100.0, arm=RolloutArm.CANDIDATE))
    assert noisy.reading(K.ERROR_RATE)[WHOLE].value < 0 < 0.25 < broken.reading(K.ERROR_RATE)[WHOLE].value


def test_prediction_divergence_is_zero_for_equal_distributions_and_one_for_disjoint_ones() -> None:
    w = window()
    for i in range(20):
        w.add(tag(f"s{i}", "1", labels={"fabric": "cotton" if i % 2 else "silk", "collar": "round"}))
        w.add(tag(f"c{i}", "2", labels={"fabric": "silk" if i % 2 else "cotton", "collar": "pointed"}))
    reading = w.reading(K.PREDICTION_DIVERGENCE)
    assert reading["fabric"].value == pytest.approx(0.0, abs=1e-9)
    assert reading["collar"].value == pytest.approx(1.0)


def test_quality_drop_joins_labels_with_each_versions_tags_whenever_they_arrive() -> None:
    w = window()
    w.add(LabelRecord(time=60.0, product_id="p1", labels={"fabric": "cotton"}))  # the label before the tags
    w.add(tag("e1", "1", product="p1"))
    w.add(tag("e1", "2", product="p1", shadow=True, labels={"fabric": "silk", "collar": "round"}))
    w.add(tag("e2", "1", product="p2"))
    w.add(tag("e2", "2", product="p2", shadow=True))
    w.add(LabelRecord(time=120.0, product_id="p2", labels={"fabric": "cotton", "collar": "round"}))
    reading = w.reading(K.QUALITY_DROP)
    assert (reading["fabric"].stable, reading["fabric"].candidate) == (1.0, 0.5)
    assert reading["fabric"].value == 0.5 and reading["fabric"].samples == 2
    assert reading["collar"].value == 0.0 and reading["collar"].samples == 1


def test_input_drift_without_a_reference_is_pending_with_the_reason() -> None:
    w = window()
    w.add(tag("e1", "1", features={"brightness": 0.5}))
    figure = w.reading(K.INPUT_DRIFT)[WHOLE]
    assert figure.value is None and "no reference profile" in figure.note


def test_memory_is_bounded_by_the_cap() -> None:
    w = Window(0.0, stable="1", candidate="2", cap=10)
    for i in range(1000):
        w.add(tag(f"e{i}", "1"))  # halves never matched
    assert w.waiting_pairs == 10


def _reference() -> ReferenceProfile:
    path = Path(__file__).parents[2] / "model/repository/catalog_tagger/1/reference_profile.json"
    return ReferenceProfile.model_validate_json(path.read_text())


def _like_reference(reference: ReferenceProfile, shift: dict[str, float]) -> list[dict[str, float]]:
    """Feature rows spread like the reference's histograms (bin middles), some features shifted."""
    columns = {}
    for name, stats in reference.features.items():
        edges, counts = stats.histogram.edges, stats.histogram.counts
        values = [(lo + hi) / 2 + shift.get(name, 0.0) for lo, hi, c in zip(edges, edges[1:], counts, strict=False)
                  for _ in range(c)]
        columns[name] = values
    rows = min(len(v) for v in columns.values())
    return [{name: values[i] for name, values in columns.items()} for i in range(rows)]


@pytest.mark.parametrize(("shift", "drifted"), [({}, 0), ({"brightness": 0.3, "mean_r": 0.3}, 2)])
def test_input_drift_is_the_share_of_features_whose_psi_passes_0_2(shift: dict[str, float], drifted: int) -> None:
    reference = _reference()
    w = Window(50.0, stable="1", candidate="2", reference=reference)
    for i, row in enumerate(_like_reference(reference, shift)):
        w.add(tag(f"e{i}", "1", features=row))
    figure = w.reading(K.INPUT_DRIFT)[WHOLE]
    assert figure.value == pytest.approx(drifted / len(reference.features))
    assert figure.note == ", ".join(shift)
    assert figure.samples == w.input_events > 100


def test_a_tag_stable_made_for_a_failing_candidate_counts_as_the_candidates_failure_once() -> None:
    w = window()
    for i in range(40):
        w.add(tag(f"s{i}", "1"))
    for i in range(10):
        w.add(tag(f"c{i}", "2"))
    for i in range(30):  # the candidate kept failing: stable tagged these, the header naming version 2
        fallback = TagRecord(**{**tag(f"f{i}", "1").__dict__, "failed_version": "2"})
        w.add(fallback)
        w.add(fallback)  # re-delivered: counted once
    errors = w.reading(K.ERROR_RATE)[WHOLE]
    assert errors.candidate == pytest.approx(30 / 40) and errors.stable == 0.0 and errors.samples == 40
    assert errors.value is not None and errors.value > 0.5
