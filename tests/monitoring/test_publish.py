"""The metrics the monitor publishes: names and labels as the issue fixes them, values from the reports."""

from prometheus_client import REGISTRY

from monitoring.monitor import Monitor, MonitorConfig
from monitoring.policy import DriftPolicy, load_targets
from monitoring.publish import Publisher
from tests.monitoring.factories import card, draw_tags, label_for


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_a_judged_window_and_its_labels_set_every_contract_metric():
    targets = load_targets()
    monitor = Monitor(MonitorConfig(window_events=300, targets=targets, label_report_every=1,
                                    policy=DriftPolicy(top_merchants=2)))
    monitor.observe_card(card("77"))
    publisher = Publisher(targets)
    windows_before = value("tagstream_monitor_windows_total", model_version="77") or 0.0
    tags = list(draw_tags(300, seed=21, version="77", brightness_factor=0.6))
    for tag in tags:
        for report in monitor.observe_tag(tag):
            publisher.window(report)
    for tag in tags[:60]:
        monitor.observe_label(label_for(tag))
    _, labels = monitor.tick()
    for report in labels:
        publisher.labels(report)
    publisher.joins(monitor.drain_joins())
    publisher.state(monitor)
    v = {"model_version": "77"}
    assert value("tagstream_monitor_windows_total", **v) == windows_before + 1
    assert value("tagstream_monitor_drift_share", **v) > 0
    assert value("tagstream_monitor_feature_drift_score", **v, feature="brightness") > 1.0
    assert value("tagstream_monitor_prediction_drift_score", **v, attribute="fit") is not None
    assert 0 < value("tagstream_monitor_quality_estimated", **v, attribute="fit") < 1
    assert value("tagstream_monitor_quality_realised", **v, attribute="fit", source="audit") == 1.0
    assert value("tagstream_monitor_quality_realised_labels", **v, attribute="fit", source="audit") == 60
    assert value("tagstream_monitor_label_coverage", **v) == 60 / 300
    assert value("tagstream_monitor_label_delay_seconds_count", **v, source="audit") == 60
    assert value("tagstream_monitor_review_share", **v, reason="any") == 0.0
    assert value("tagstream_monitor_window_lag_seconds", **v) >= 0
    assert value("tagstream_monitor_drift_detected", **v, kind="input") == 1
    assert value("tagstream_monitor_drift_detected", **v, kind="label") is not None  # labels = predictions here
    assert value("tagstream_monitor_quality_estimate_trusted", **v) == 0
    assert value("tagstream_monitor_labels_total", source="audit", outcome="joined") >= 60


def test_a_merchant_that_leaves_the_busiest_loses_its_series():
    targets = load_targets()
    monitor = Monitor(MonitorConfig(window_events=200, targets=targets, policy=DriftPolicy(top_merchants=1)))
    publisher = Publisher(targets)
    first = list(draw_tags(200, seed=22, version="78", merchants=1))
    second = [t.model_copy(update={"merchant_id": "m-new"}) for t in draw_tags(200, seed=23, version="78",
                                                                               start=200)]
    for tag in first + second:
        for report in monitor.observe_tag(tag):
            publisher.window(report)
    series = {"model_version": "78", "segment_kind": "merchant"}
    assert value("tagstream_monitor_segment_review_share", **series, segment="m-new") == 0.0
    assert value("tagstream_monitor_segment_review_share", **series, segment="m-000") is None
