"""Evidently's report of a window names the same drifted columns as the monitor's decision."""

import pytest

from monitoring.monitor import Monitor, MonitorConfig
from monitoring.policy import load_targets
from tests.monitoring.factories import card, draw_tags


@pytest.mark.parametrize(("shift", "expected"), [
    ({"brightness_factor": 0.7}, {"brightness", "mean_r", "mean_g", "mean_b"}),
    ({"class_shift": {"main_colour": "red"}}, {"main_colour"}),
    ({}, set()),
])
def test_evidently_drift_columns_agree_with_the_monitor(shift, expected):
    from monitoring.snapshots import window_snapshot

    monitor = Monitor(MonitorConfig(window_events=400, targets=load_targets()))
    version = card("1")
    monitor.observe_card(version)
    (report,) = [r for t in draw_tags(400, seed=31, **shift) for r in monitor.observe_tag(t)]
    snapshot = window_snapshot(report, version.profile, monitor.config.policy)
    drifted = {t["name"].removeprefix("Value Drift for column ") for t in snapshot.dict()["tests"]
               if t["name"].startswith("Value Drift for column ") and t["status"] == "FAIL"}
    assert set(report.drifted_columns()) == expected
    assert drifted == expected
