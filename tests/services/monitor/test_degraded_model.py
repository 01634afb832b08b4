"""A model trained on shuffled labels, deployed as version 2: its estimated quality drops before any label, and
once audit labels arrive the realised quality-drop alert goes off, evaluated by a real Prometheus on the real
alert rules.

The degraded checkpoint is trained here (one epoch of a small network on pictures the stationary stream already
rendered, each attribute's labels shuffled), calibrated and profiled like any model, and registered on
``tagstream.models``; it tags the same kind of products as version 1. Prometheus (Debian's, started by the
project's code) scrapes this test process's /metrics, where the monitor's loop publishes.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime

import pytest

from contracts import LabelSource, Topics
from model.registry import publish as publish_cards
from runtime.health import HealthServer
from tests.services.monitor.conftest import TAG_AGE, WINDOW, publish, running_monitor
from tools.monitoring import degraded
from tools.monitoring.labeller import Truth, label_of
from tools.monitoring.stack import prometheus_process, prometheus_url
from tools.monitoring.tags import tag
from tools.stack.ports import private_settings

pytestmark = pytest.mark.integration


def _alerts(base: str, name: str, version: str) -> list[str]:
    query = urllib.parse.urlencode({"query": f'ALERTS{{alertname="{name}",model_version="{version}"}}'})
    with urllib.request.urlopen(f"{base}/api/v1/query?{query}", timeout=5) as response:
        return [r["metric"]["alertstate"] for r in json.loads(response.read())["data"]["result"]]


def _wait_alert(base: str, name: str, version: str, timeout_s: float = 60.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while not (states := _alerts(base, name, version)):
        assert time.monotonic() < deadline, f"{name} never became pending for version {version}"
        time.sleep(1)
    return states


def test_a_degraded_model_drops_estimated_quality_before_labels_and_realised_quality_alerts_after(
        broker, stationary, tmp_path):
    rendered, v1_tags = stationary
    result = degraded.shuffled_label_model(rendered.slice(0, 1000))
    publish_cards(broker.kafka_settings(), [degraded.card(result, "2")])
    served = rendered.slice(1000, 1000 + 2 * WINDOW)
    v2_tags = tag(served, degraded.predictor(result), version="2", start_time=datetime.now(UTC) - TAG_AGE)

    health = HealthServer("127.0.0.1", 0, liveness=lambda: (True, {}), readiness=lambda: (True, {}))
    health.start()
    settings = private_settings(tmp_path / "prometheus", taggers=0, monitor_port=health.port)
    prometheus, _ = prometheus_process(settings)
    base = prometheus_url(settings)
    try:
        prometheus.start()
        prometheus.wait_ready(60)
        with running_monitor(broker) as runner:
            publish(broker, v1_tags[:2 * WINDOW] + v2_tags)
            runner.until(lambda r: len(r.windows_of("1")) == 2 and len(r.windows_of("2")) == 2)
            assert not any(w.estimated_drop for w in runner.windows_of("1"))
            first = runner.windows_of("2")[0]
            dropped = sorted(name for name, q in first.quality.items() if q.dropped)
            assert first.trusted and first.estimated_drop, first.untrusted
            assert {"main_colour", "sleeve_length", "fit"} <= set(dropped), dropped
            assert not any(r.model.version == "2" for r in runner.labels)  # no label has arrived yet
            assert _wait_alert(base, "TagstreamEstimatedQualityDrop", "2")

            truths = [Truth(event_id=t.event_id, product_id=t.product_id,
                            labels={a: v for a, v in truth.labels.items() if v is not None})
                      for t, truth in zip(v2_tags, served.truths, strict=True) if not truth.out_of_distribution]
            publish(broker, [label_of(t, LabelSource.AUDIT, datetime.now(UTC)) for t in truths[::2]],
                    topic=Topics.LABELS.name)
            runner.until(lambda r: any(rep.model.version == "2" and rep.quality_drop for rep in r.labels))
            realised = next(rep for rep in runner.labels if rep.model.version == "2" and rep.quality_drop)
            assert realised.quality["main_colour"].upper < realised.quality["main_colour"].target
            assert runner.loop.monitor.decisions(realised.model)["quality"]
            states = _wait_alert(base, "TagstreamRealisedQualityDrop", "2")
            print(f"\nversion 2 (shuffled labels): estimated drop on {', '.join(dropped)} before any label; "
                  f"realised main_colour {realised.quality['main_colour'].accuracy:.2f} on "
                  f"{realised.quality['main_colour'].n} audit labels; alert {states[0]}")
    finally:
        prometheus.stop()
        health.stop()
