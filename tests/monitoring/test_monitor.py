"""The monitor's state machine without Kafka: windows, drift decisions, the label join and realised quality."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from contracts import LabelFeedback, LabelSource, ModelRef
from monitoring.monitor import Monitor, MonitorConfig
from monitoring.policy import DriftPolicy, load_targets
from tests.monitoring.factories import T0, card, draw_tags, draw_truth, label_for, make_tag

V1 = ModelRef(name="catalog_tagger", version="1")
V2 = ModelRef(name="catalog_tagger", version="2")


class Clock:
    def __init__(self) -> None:
        self.now = T0.timestamp() + 3 * 3600.0

    def __call__(self) -> float:
        return self.now


def monitor(clock: Clock | None = None, **overrides: object) -> Monitor:
    clock = clock or Clock()
    settings: dict[str, object] = {"window_events": 500, "window_seconds": 3600.0, "targets": load_targets(),
                                   "label_report_every": 1, **overrides}
    m = Monitor(MonitorConfig(**settings), wall=clock, mono=clock)  # type: ignore[arg-type]
    m.observe_card(card("1"))
    m.observe_card(card("2"))
    return m


def feed(m: Monitor, tags) -> list:
    reports = []
    for tag in tags:
        reports.extend(m.observe_tag(tag))
    return reports


def test_windows_close_by_count_per_model_version():
    m = monitor()
    reports = feed(m, itertools.chain(draw_tags(600, seed=1), draw_tags(499, seed=2, version="2")))
    assert [(r.model.version, r.index, r.size, r.reason) for r in reports] == [("1", 1, 500, "count")]
    assert m.windows.open_sizes() == {V1: 100, V2: 499}


def test_a_window_closes_by_time_once_it_holds_enough_tags():
    clock = Clock()
    m = monitor(clock, window_seconds=30.0, policy=DriftPolicy(min_window=200))
    feed(m, draw_tags(150, seed=1))
    clock.now += 31
    assert m.tick()[0] == []  # 150 < min_window: it keeps filling
    feed(m, draw_tags(60, seed=2))
    windows, _ = m.tick()
    assert [(w.size, w.reason) for w in windows] == [(210, "time")]


def test_a_stationary_stream_raises_nothing_over_twenty_windows():
    m = monitor()
    reports = feed(m, draw_tags(20 * 500, seed=3))
    assert len(reports) == 20
    assert [r.drifted_columns() for r in reports if r.drifted_columns()] == []
    assert all(r.trusted and not r.estimated_drop for r in reports)
    assert m.decisions(V1) == {"input": False, "prediction": False, "label": False, "quality": False}


def test_a_class_prior_shift_is_prediction_drift_naming_the_attribute():
    m = monitor()
    (report,) = feed(m, draw_tags(500, seed=4, class_shift={"main_colour": "red"}))
    assert report.drifted_columns() == ["main_colour"]
    assert m.decisions(V1)["prediction"] and not m.decisions(V1)["input"]


def test_a_darker_camera_is_input_drift_and_the_estimate_is_not_trusted():
    m = monitor()
    (report,) = feed(m, draw_tags(500, seed=5, brightness_factor=0.6))
    drifted = set(report.drifted_columns())
    assert {"brightness", "mean_r", "mean_g", "mean_b"} <= drifted
    assert "input_drift" in report.untrusted
    assert m.decisions(V1)["input"]


def test_a_high_ood_share_makes_the_estimate_untrusted():
    m = monitor()
    (report,) = feed(m, draw_tags(500, seed=6, ood_share=0.2))
    assert report.untrusted == ["out_of_distribution_share"]
    assert report.review_share["out_of_distribution"] == pytest.approx(report.ood_share)


def test_low_confidences_are_an_estimated_quality_drop_with_the_attributes_under_target():
    m = monitor()
    (report,) = feed(m, draw_tags(500, seed=7, confidence_shift=-0.45))
    dropped = {name for name, q in report.quality.items() if q.dropped}
    assert {"main_colour", "sleeve_length", "garment_length"} <= dropped
    assert all(q.estimate.lower <= q.estimate.value <= q.estimate.upper for q in report.quality.values())
    assert m.decisions(V1)["quality"]


def test_segments_cover_every_predicted_category_and_the_busiest_merchants():
    m = monitor(policy=DriftPolicy(top_merchants=3))
    (report,) = feed(m, draw_tags(500, seed=8, merchants=10))
    merchants = [s for s in report.segments if s.kind == "merchant"]
    categories = [s for s in report.segments if s.kind == "category"]
    assert len(merchants) == 3
    assert sum(s.size for s in categories) == 500


def test_late_out_of_order_labels_join_their_tags_for_every_version():
    m = monitor()
    tags = list(draw_tags(500, seed=9))
    shadow = [t.model_copy(update={"model": V2}) for t in tags]
    feed(m, tags)
    feed(m, shadow)
    labels = [label_for(t, correct=i % 2 == 0, delay=timedelta(hours=5 - i % 3)) for i, t in enumerate(tags[:120])]
    for label in reversed(labels):  # newest first
        m.observe_label(label)
    m.tick()
    for version in (V1, V2):
        report = m.latest_labels[(version, LabelSource.AUDIT)]
        assert report.quality["main_colour"].n == 120
        assert report.quality["main_colour"].correct == 60
    joins = m.drain_joins()
    assert len(joins) == 240
    assert {round(j.delay_s / 3600) for j in joins} == {3, 4, 5}


def test_a_label_that_arrives_before_its_tag_waits_and_joins_when_the_window_closes():
    m = monitor()
    tags = list(draw_tags(500, seed=10))
    m.observe_label(label_for(tags[7]))
    assert m.label_outcomes[(LabelSource.AUDIT, "waiting")] == 1
    feed(m, tags)
    m.tick()
    assert m.latest_labels[(V1, LabelSource.AUDIT)].quality["fit"].n == 1


def test_a_duplicate_label_counts_once_and_another_event_does_not_join():
    m = monitor()
    tags = list(draw_tags(500, seed=11))
    feed(m, tags)
    label = label_for(tags[3])
    m.observe_label(label)
    m.observe_label(label)
    m.observe_label(label.model_copy(update={"event_id": "an-older-image"}))
    m.tick()
    assert m.label_outcomes[(LabelSource.AUDIT, "joined")] == 1
    assert m.label_outcomes[(LabelSource.AUDIT, "duplicate")] == 1
    assert m.latest_labels[(V1, LabelSource.AUDIT)].quality["fit"].n == 1


def test_reviewer_labels_are_reported_apart_and_decide_nothing():
    m = monitor()
    tags = list(draw_tags(500, seed=12))
    feed(m, tags)
    for tag in tags[:100]:
        m.observe_label(label_for(tag, correct=False, source=LabelSource.REVIEWER))
    m.tick()
    report = m.latest_labels[(V1, LabelSource.REVIEWER)]
    assert report.quality["fit"].accuracy == 0.0 and not report.quality_drop
    assert not m.decisions(V1)["quality"]


def test_wrong_audit_labels_are_a_realised_quality_drop():
    m = monitor()
    tags = list(draw_tags(500, seed=13))
    feed(m, tags)
    for tag in tags[:100]:
        m.observe_label(label_for(tag, correct=False))
    m.tick()
    report = m.latest_labels[(V1, LabelSource.AUDIT)]
    assert report.quality_drop and report.quality["main_colour"].upper < 0.85
    assert m.decisions(V1)["quality"]


def test_labels_naming_a_class_outside_the_taxonomy_are_label_drift():
    m = monitor()
    tags = list(draw_tags(500, seed=14))
    feed(m, tags)
    for i, (tag, truth) in enumerate(zip(tags[:300], draw_truth(300, seed=14), strict=True)):
        if i % 3 == 0:
            truth["main_pattern"] = "houndstooth"  # a reviewer names the new pattern
        m.observe_label(LabelFeedback(product_id=tag.product_id, event_id=tag.event_id, source=LabelSource.AUDIT,
                                      time=tag.timings.tagged_at + timedelta(hours=2), labels=truth))
    m.tick()
    report = m.latest_labels[(V1, LabelSource.AUDIT)]
    assert [c.column for c in report.label_drift if c.drifted] == ["main_pattern"]
    assert m.decisions(V1)["label"]


def test_the_index_stays_within_its_capacity_and_old_labels_expire_unjoined():
    clock = Clock()
    m = monitor(clock, index_capacity=2000, pending_capacity=50, pending_ttl_s=60.0)
    first = list(draw_tags(500, seed=15))
    feed(m, first)
    for window in range(1, 12):
        feed(m, draw_tags(500, seed=15, start=window * 500))
        assert m.index.size <= 2000 + 500
    assert m.index.evicted >= 7 * 500
    m.observe_label(label_for(first[0]))  # its tag was dropped: it waits, then expires
    clock.now += 61
    m.tick()
    assert m.pending.expired_unjoined[LabelSource.AUDIT] == 1
    assert m.label_outcomes[(LabelSource.AUDIT, "joined")] == 0


def test_a_label_for_an_unknown_product_keeps_memory_bounded():
    m = monitor(pending_capacity=100)
    for i in range(1000):
        m.observe_label(label_for(make_tag(f"nowhere-{i}")))
    assert len(m.pending) == 100
