"""The whole local stack with ``--with-prometheus``: every query of the production Grafana dashboard returns data.

A private stack (Tansu, Triton, one tagger, the monitor, Debian's Prometheus with the alert rules) takes a short
run of synthetic traffic (5% malformed, so dead letters exist) and audit labels from the generator's truth. Then
each query of ``monitoring/grafana/tagstream.json`` (the ``model_version`` variable set to all) is sent to that
Prometheus and must return at least one series; and no drift or quality alert is pending on this stationary
traffic.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from contracts import LabelSource
from monitoring.grafana import COMMITTED, dashboard, queries, render
from tests.conftest import FAST_GROUP_ENV
from tools.monitoring.labeller import publish as publish_labels
from tools.monitoring.labeller import read_truth, schedule
from tools.monitoring.prometheus import committed_config
from tools.monitoring.stack import prometheus_url
from tools.traffic.produce import produce
from tools.traffic.synthetic import generate, write_truth

MONITOR_ENV = {"TAGSTREAM_MONITOR_WINDOW_EVENTS": "100", "TAGSTREAM_MONITOR_WINDOW_SECONDS": "3",
               "TAGSTREAM_MONITOR_MIN_WINDOW": "50", "TAGSTREAM_MONITOR_LABEL_REPORT_SECONDS": "1",
               "TAGSTREAM_MONITOR_SESSION_TIMEOUT_MS": "6000", "TAGSTREAM_MONITOR_HEARTBEAT_INTERVAL_MS": "2000",
               "TAGSTREAM_MONITOR_SNAPSHOTS": "false"}
DECISION_ALERTS = ("TagstreamInputDrift|TagstreamPredictionDrift|TagstreamLabelDrift|TagstreamRealisedQualityDrop|"
                   "TagstreamEstimatedQualityDrop")


def _query(base: str, expr: str) -> list[dict[str, object]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_the_committed_dashboard_and_scrape_config_are_generated_from_code():
    assert COMMITTED.read_text() == render(), "run `python -m monitoring.grafana`"
    config = Path(__file__).resolve().parents[3] / "monitoring" / "prometheus" / "prometheus.yml"
    assert config.read_text() == committed_config()


@pytest.mark.integration
def test_every_grafana_query_returns_data_from_the_stack_prometheus(stack_factory, tmp_path):
    stack = stack_factory(monitor=True, with_prometheus=True, monitor_env={**MONITOR_ENV},
                          tagger_env={**FAST_GROUP_ENV})
    assert [s.name for s in stack.status() if s.ready][-2:] == ["monitor", "prometheus"]
    truth = tmp_path / "truth.jsonl"
    with truth.open("w") as out:
        produce(stack.kafka_settings(), write_truth(generate(500, malformed_ratio=0.05, seed=17), out), rate=120,
                progress=False)
    publish_labels(stack.kafka_settings(), schedule(read_truth(truth), sample=0.4, seed=1, delay_s=0.0,
                                                    jitter_s=2.0), source=LabelSource.AUDIT)
    base = prometheus_url(stack.settings)
    expressions = [(title, expr.replace("$model_version", ".*")) for title, expr in queries(dashboard())]
    empty: list[str] = []
    deadline = time.monotonic() + 150
    while True:
        empty = [f"{title}: {expr}" for title, expr in expressions if not _query(base, expr)]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert empty == [], "queries without data:\n" + "\n".join(empty)
    raised = _query(base, f'ALERTS{{alertname=~"{DECISION_ALERTS}"}}')
    assert raised == [], raised
    windows = _query(base, "sum(tagstream_monitor_windows_total)")
    print(f"\n{len(expressions)} dashboard queries answered; {windows[0]['value'][1]} windows judged")
