"""The Prometheus source against a real Prometheus server scraping the monitor's metrics."""

from __future__ import annotations

import pytest

from contracts import Guardrail, GuardrailKind
from rollout.errors import MetricSourceError
from rollout.guardrails import WHOLE, MeasurementPhase, judge
from rollout.sources.prometheus import PrometheusSource, QueryContext
from tests.rollout.conftest import Prometheus
from tests.rollout.factories import at
from tools.stack.ports import free_port

pytestmark = pytest.mark.integration
CONTEXT = QueryContext(model="catalog_tagger", stable="1", candidate="2", window_s=42.3)
PROM = Guardrail.model_validate_json('{"max": 0.2, "source": "prometheus", "attributes": {"collar": 0.5}}')


def test_the_default_quality_query_compares_audit_accuracy_per_attribute(prometheus: Prometheus) -> None:
    reading = PrometheusSource(prometheus.url).reading(GuardrailKind.QUALITY_DROP, PROM, CONTEXT)
    assert reading["fabric"].value == pytest.approx(0.3) and reading["collar"].value == pytest.approx(0.01)
    r = judge(GuardrailKind.QUALITY_DROP, PROM, reading, at(0))
    assert r.phase is MeasurementPhase.FAILED and r.worst.attribute == "fabric"


def test_the_default_drift_queries_read_the_monitors_series(prometheus: Prometheus) -> None:
    source = PrometheusSource(prometheus.url)
    assert source.reading(GuardrailKind.INPUT_DRIFT, PROM, CONTEXT)[WHOLE].value == pytest.approx(0.6)
    divergence = source.reading(GuardrailKind.PREDICTION_DIVERGENCE, PROM, CONTEXT)
    assert {a: f.value for a, f in divergence.items()} == {"fabric": pytest.approx(0.4), "collar": pytest.approx(0.05)}


def test_a_plan_query_gets_the_versions_and_the_window_filled_in(prometheus: Prometheus) -> None:
    guardrail = PROM.model_copy(update={"query": 'max_over_time(tagstream_monitor_drift_share'
                                                 '{{model_version="{stable}"}}[{window}])'})
    assert CONTEXT.fill(guardrail.query or "").endswith('[43s])')
    reading = PrometheusSource(prometheus.url).reading(GuardrailKind.INPUT_DRIFT, guardrail, CONTEXT)
    assert reading[WHOLE].value == pytest.approx(0.6)


def test_a_series_that_does_not_exist_is_pending_not_an_error(prometheus: Prometheus) -> None:
    other = QueryContext(model="catalog_tagger", stable="7", candidate="8", window_s=10)
    reading = PrometheusSource(prometheus.url).reading(GuardrailKind.INPUT_DRIFT, PROM, other)
    assert reading == {}
    assert judge(GuardrailKind.INPUT_DRIFT, PROM, reading, at(0)).phase is MeasurementPhase.PENDING


def test_a_bad_query_or_an_unreachable_server_is_a_source_error(prometheus: Prometheus) -> None:
    broken = PROM.model_copy(update={"query": "sum(("})
    with pytest.raises(MetricSourceError, match="answered 400"):
        PrometheusSource(prometheus.url).reading(GuardrailKind.INPUT_DRIFT, broken, CONTEXT)
    with pytest.raises(MetricSourceError, match="did not answer"):
        PrometheusSource(f"http://127.0.0.1:{free_port()}", timeout_s=1).reading(GuardrailKind.INPUT_DRIFT, PROM,
                                                                                   CONTEXT)
    with pytest.raises(MetricSourceError, match="no query"):
        PrometheusSource(prometheus.url).reading(GuardrailKind.LATENCY_P99_RATIO, PROM, CONTEXT)
