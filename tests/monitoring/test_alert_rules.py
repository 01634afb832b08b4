"""The alert rules under ``promtool check rules`` and ``promtool test rules`` (Debian's prometheus package).

Each case feeds series to the rules and says, at given times, which alerts are firing with which labels. The
expected annotations are the rule's own templates filled with the alert's labels, so a broken template fails.
The promtool test file is written to the test's folder (and kept there as an artifact).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

RULES = Path(__file__).resolve().parents[2] / "monitoring" / "alerts" / "tagstream.rules.yml"
PROMTOOL = shutil.which("promtool") or "promtool"  # Debian's prometheus package, installed by `make system-deps`

V1 = {"model_version": "1"}


def _rules() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def _expected(alert: str, labels: dict[str, str]) -> dict[str, Any]:
    rule = _rules()[alert]

    def fill(text: str) -> str:
        return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels[m.group(1)], text)

    return {"exp_labels": {**rule["labels"], **labels},
            "exp_annotations": {k: fill(v) for k, v in rule["annotations"].items()}}


def _case(series: dict[str, str], checks: list[tuple[str, str, list[dict[str, str]]]]) -> dict[str, Any]:
    return {"interval": "1m",
            "input_series": [{"series": name, "values": values} for name, values in series.items()],
            "alert_rule_test": [{"eval_time": at, "alertname": alert,
                                 "exp_alerts": [_expected(alert, labels) for labels in firing]}
                                for at, alert, firing in checks]}


QUALITY = {"model_version": "1", "attribute": "main_colour"}
CASES = {
    "a stationary stream raises nothing": _case(
        {'tagstream_monitor_drift_detected{model_version="1",kind="input"}': "0x120",
         'tagstream_monitor_drift_detected{model_version="1",kind="prediction"}': "0x120",
         'tagstream_monitor_drift_detected{model_version="1",kind="label"}': "0x120",
         'tagstream_monitor_quality_drop{model_version="1",attribute="main_colour",basis="realised"}': "0x120",
         'tagstream_monitor_quality_drop{model_version="1",attribute="main_colour",basis="estimated"}': "0x120",
         'tagstream_monitor_review_share{model_version="1",reason="any"}': "0.94x120",
         'tagstream_monitor_window_lag_seconds{model_version="1"}': "2x120",
         'up{job="tagstream-monitor",instance="127.0.0.1:9400"}': "1x120",
         "tagstream_triton_errors_total": "0x120",
         'tagstream_commits_total{result="ok"}': "0+60x120",
         'tagstream_commits_total{result="failed"}': "0x120",
         'tagstream_dead_letters_total{code="not_json"}': "0+300x120",
         "tagstream_events_consumed_total": "0+6000x120",
         'tagstream_consumer_lag{partition="0"}': "20x120"},
        [("2h", alert, []) for alert in _rules()]),
    "input drift fires after ten minutes, not before": _case(
        {'tagstream_monitor_drift_detected{model_version="1",kind="input"}': "0 0 1x30"},
        [("10m", "TagstreamInputDrift", []), ("13m", "TagstreamInputDrift", [V1])]),
    "one window of drift is not an alert": _case(
        {'tagstream_monitor_drift_detected{model_version="1",kind="prediction"}': "0 0 1 0x30"},
        [("5m", "TagstreamPredictionDrift", []), ("20m", "TagstreamPredictionDrift", [])]),
    "prediction drift fires per version": _case(
        {'tagstream_monitor_drift_detected{model_version="1",kind="prediction"}': "1x30",
         'tagstream_monitor_drift_detected{model_version="2",kind="prediction"}': "0x30"},
        [("11m", "TagstreamPredictionDrift", [V1])]),
    "label drift needs half an hour": _case(
        {'tagstream_monitor_drift_detected{model_version="1",kind="label"}': "1x60"},
        [("20m", "TagstreamLabelDrift", []), ("31m", "TagstreamLabelDrift", [V1])]),
    "a realised quality drop names the attribute": _case(
        {'tagstream_monitor_quality_drop{model_version="1",attribute="main_colour",basis="realised"}': "0 1x30",
         'tagstream_monitor_quality_drop{model_version="1",attribute="fit",basis="realised"}': "0x30"},
        [("10m", "TagstreamRealisedQualityDrop", []), ("17m", "TagstreamRealisedQualityDrop", [QUALITY])]),
    "an estimated quality drop fires before labels": _case(
        {'tagstream_monitor_quality_drop{model_version="1",attribute="main_colour",basis="estimated"}': "1x30"},
        [("11m", "TagstreamEstimatedQualityDrop", [QUALITY]), ("11m", "TagstreamRealisedQualityDrop", [])]),
    "a review share fifteen points over its six hours fires": _case(
        {'tagstream_monitor_review_share{model_version="1",reason="out_of_distribution"}': "0.01x420 0.3x30"},
        [("7h5m", "TagstreamReviewShareSpike", []),
         ("7h17m", "TagstreamReviewShareSpike", [{"model_version": "1", "reason": "out_of_distribution"}])]),
    "a monitor ten minutes behind fires": _case(
        {'tagstream_monitor_window_lag_seconds{model_version="1"}': "900x30"},
        [("11m", "TagstreamMonitorBehind", [V1])]),
    "a monitor that stops answering fires": _case(
        {'up{job="tagstream-monitor",instance="127.0.0.1:9400"}': "1 1 0x10"},
        [("4m", "TagstreamMonitorDown", []),
         ("8m", "TagstreamMonitorDown", [{"job": "tagstream-monitor", "instance": "127.0.0.1:9400"}])]),
    "failing Triton calls fire": _case(
        {"tagstream_triton_errors_total": "0+60x20", 'tagstream_commits_total{result="failed"}': "0x20"},
        [("3m", "TagstreamTaggerErrorRate", []), ("12m", "TagstreamTaggerErrorRate", [{}])]),
    "a fifth of events dead-lettered fires": _case(
        {'tagstream_dead_letters_total{code="image_url_failed"}': "0+1200x40",
         "tagstream_events_consumed_total": "0+6000x40"},
        [("10m", "TagstreamDeadLetterRate", []), ("27m", "TagstreamDeadLetterRate", [{}])]),
    "a consumer lag over ten thousand fires": _case(
        {'tagstream_consumer_lag{partition="0"}': "6000x30", 'tagstream_consumer_lag{partition="1"}': "6000x30"},
        [("11m", "TagstreamConsumerLag", [{}])]),
}


def test_every_alert_has_a_for_duration_and_a_runbook_line():
    for name, rule in _rules().items():
        assert rule.get("for"), name
        runbook = rule["annotations"].get("runbook", "")
        assert runbook and "\n" not in runbook, name


def test_promtool_accepts_the_rules():
    result = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_exercised_by_a_firing_case():
    fired = {check["alertname"] for case in CASES.values() for check in case["alert_rule_test"] if check["exp_alerts"]}
    assert fired == set(_rules())


def test_promtool_unit_tests_pass(tmp_path):
    tests = tmp_path / "tagstream.rules.test.yml"
    tests.write_text(yaml.safe_dump({"rule_files": [str(RULES)], "evaluation_interval": "1m",
                                     "tests": [{"name": name, **case} for name, case in CASES.items()]},
                                    sort_keys=False))
    result = subprocess.run([PROMTOOL, "test", "rules", str(tests)], capture_output=True, text=True, check=False)
    print(f"promtool test file: {tests}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
