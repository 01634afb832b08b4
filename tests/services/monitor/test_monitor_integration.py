"""The monitor on the real broker: a stationary stream, three drift scenarios, late labels, a bad record.

Tags come from the committed model run in-process on rendered synthetic products (see conftest); everything
the monitor reads travels through Tansu as the contracts' JSON.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from kafka import KafkaProducer

from contracts import LabelSource, Topics
from model.drift import parse_drift
from modelspec.taxonomy import ATTRIBUTE_NAMES
from tests.services.monitor.conftest import TAG_AGE, V1, WINDOW, publish, running_monitor
from tools.monitoring.labeller import Truth, label_of, schedule
from tools.monitoring.tags import render, tag

pytestmark = pytest.mark.integration


def test_a_stationary_stream_raises_no_drift_and_no_alert_over_twenty_windows(broker, stationary):
    _, tags = stationary
    with running_monitor(broker) as runner:
        publish(broker, tags)
        runner.until(lambda r: len(r.windows) == 20, timeout_s=120)
    assert [w.index for w in runner.windows] == list(range(1, 21))
    assert all(w.has_reference for w in runner.windows)  # the card registered when the broker started
    assert {(w.index, tuple(w.drifted_columns())) for w in runner.windows if w.drifted_columns()} == set()
    raised = [(index, kind) for _, index, decisions in runner.decisions for kind, on in decisions.items() if on]
    assert raised == []
    assert all(w.trusted and not w.estimated_drop for w in runner.windows)
    print(f"\nstationary: 0 of {20 * 4} window decisions raised; largest PSI "
          f"{max(c.comparison.psi for w in runner.windows for c in (*w.input, *w.prediction)):.3f}")


SCENARIOS = [
    # (name, drift knobs, the kind that must fire, columns it must name)
    ("colour prior shift", ["colour_shift=red:6,pink:6,green:6,yellow:6"], "prediction", {"main_colour"}),
    ("brightness shift", ["brightness=0.7"], "input", {"brightness", "mean_r", "mean_g", "mean_b"}),
    ("new pattern class", ["new_pattern=houndstooth", "new_pattern_share=0.3"], "prediction", {"main_pattern"}),
]


@pytest.mark.parametrize(("name", "knobs", "kind", "columns"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_drift_is_detected_within_two_windows_naming_what_moved(broker, stationary, committed_model, name, knobs,
                                                                kind, columns):
    _, before = stationary
    drifted = render(WINDOW + WINDOW // 2, seed=300 + SCENARIOS.index((name, knobs, kind, columns)),
                     drift=parse_drift(knobs))
    after = tag(drifted, committed_model, version="1", start_time=datetime.now(UTC) - TAG_AGE)
    start = 2 * WINDOW + WINDOW // 2  # the drift starts in the middle of the third window
    with running_monitor(broker) as runner:
        publish(broker, before[:start] + after)
        runner.until(lambda r: len(r.windows) == 4, timeout_s=90)
    assert not any(runner.decisions[i][2][kind] for i in (0, 1))  # no drift before it starts
    detected = next(w for w in runner.windows if w.index >= 3 and columns & set(w.drifted_columns()))
    assert detected.index <= 4
    assert columns <= set(detected.drifted_columns()) or detected.index == 3
    assert runner.decisions[detected.index - 1][2][kind]
    events = detected.index * WINDOW - start
    print(f"\n{name}: detected in window {detected.index - 2} after the start ({events} drifted tags), "
          f"naming {', '.join(detected.drifted_columns())}")


def test_late_out_of_order_labels_join_their_tags_and_measure_realised_quality(broker, stationary):
    rendered, tags = stationary
    first = tags[:3 * WINDOW]
    truths = [Truth(event_id=t.event_id, product_id=t.product_id,
                    labels={a: v for a, v in truth.labels.items() if v is not None})
              for t, truth in zip(first, rendered.truths, strict=False) if not truth.out_of_distribution]
    due = schedule(truths, sample=0.3, seed=5, delay_s=0.0, jitter_s=3600.0)  # shuffled by the jitter
    labels = [label_of(truth, LabelSource.AUDIT, datetime.now(UTC)) for _, truth in due]
    early, late = labels[:20], labels[20:]  # 20 labels come before their tags
    with running_monitor(broker, monitor_label_window=1000) as runner:
        publish(broker, early, topic=Topics.LABELS.name)
        runner.until(lambda r: r.loop.monitor.label_outcomes[(LabelSource.AUDIT, "waiting")] == len(early))
        publish(broker, first)
        runner.until(lambda r: len(r.windows) == 3)
        publish(broker, late, topic=Topics.LABELS.name)
        runner.until(lambda r: any(rep.labels == len(labels) for rep in r.labels), timeout_s=60)
    report = next(rep for rep in runner.labels if rep.labels == len(labels))
    by_product = {t.product_id: t for t in first}
    for attribute in ATTRIBUTE_NAMES:
        pairs = [(by_product[lab.product_id].attributes[attribute].label, lab.labels[attribute]) for lab in labels
                 if attribute in lab.labels]
        expected = sum(p == t for p, t in pairs) / len(pairs)
        assert report.quality[attribute].n == len(pairs)
        assert report.quality[attribute].accuracy == pytest.approx(expected)
    delays = [j.delay_s for j in runner.loop.monitor.drain_joins()]  # the rest were drained into the histogram
    assert all(math.isclose(d, TAG_AGE.total_seconds(), rel_tol=0.01) for d in delays)


def test_an_invalid_record_is_skipped_and_counted_and_the_stream_goes_on(broker, stationary):
    _, tags = stationary
    producer = KafkaProducer(**broker.kafka_settings().kafka_client_kwargs(), acks="all")
    producer.send(Topics.TAGS.name, key=b"p-x", value=b'{"not": "a tag"}')
    producer.send(Topics.LABELS.name, key=b"p-y", value=b"\xff\xfe")
    producer.flush()
    producer.close()
    with running_monitor(broker) as runner:
        publish(broker, tags[:WINDOW])
        runner.until(lambda r: len(r.windows) == 1)
    from monitoring import metrics

    assert metrics.INVALID_RECORDS.labels(Topics.TAGS.name)._value.get() >= 1
    assert metrics.INVALID_RECORDS.labels(Topics.LABELS.name)._value.get() >= 1
    assert runner.windows[0].size == WINDOW and runner.windows[0].model == V1


def test_estimates_track_realised_quality_on_the_stationary_stream(broker, stationary):
    """Per attribute, the mean confidence of twenty windows against the accuracy on their own truths."""
    rendered, tags = stationary
    confidence = {a: np.mean([t.attributes[a].confidence for t in tags]) for a in ATTRIBUTE_NAMES}
    garments = [(t, tr) for t, tr in zip(tags, rendered.truths, strict=True) if not tr.out_of_distribution]
    errors = {}
    for attribute in ATTRIBUTE_NAMES:
        pairs = [(t.attributes[attribute].label, tr.labels[attribute]) for t, tr in garments
                 if tr.labels[attribute] is not None]
        accuracy = sum(p == t for p, t in pairs) / len(pairs)
        errors[attribute] = confidence[attribute] - accuracy
    assert max(abs(e) for e in errors.values()) < 0.06
    print("\nestimated - realised accuracy, 6,000 tags: " + ", ".join(f"{a} {e:+.3f}" for a, e in errors.items()))


def test_after_a_restart_labels_still_join_tags_read_before_it(broker, stationary):
    rendered, tags = stationary
    first = tags[:2 * WINDOW]
    with running_monitor(broker, monitor_group_id="monitor-restart") as runner:
        publish(broker, first)
        runner.until(lambda r: len(r.windows) == 2)
    labels = [label_of(Truth(t.event_id, t.product_id, {a: v for a, v in truth.labels.items() if v is not None}),
                       LabelSource.AUDIT, datetime.now(UTC))
              for t, truth in zip(first[::4], rendered.truths[:2 * WINDOW:4], strict=True)
              if not truth.out_of_distribution]
    with running_monitor(broker, monitor_group_id="monitor-restart") as runner:
        assert runner.loop.monitor.index.size == len(first)  # rebuilt from the topic, before the committed offsets
        publish(broker, labels, topic=Topics.LABELS.name)
        runner.until(lambda r: any(rep.labels == len(labels) for rep in r.labels))
    assert runner.windows == []  # nothing judged twice
