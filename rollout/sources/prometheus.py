"""The Prometheus metric source: a guardrail's figure from a PromQL query against a real Prometheus server.

A guardrail with ``source: prometheus`` runs its ``query`` (or the default below for its kind) through the
HTTP API (``GET /api/v1/query``), with ``{model}``, ``{stable}``, ``{candidate}`` and ``{window}`` (the stage's
age as a PromQL duration, e.g. ``90s``) filled in. A per-attribute guardrail reads one series per ``attribute``
label; the others read one number (the largest, when several series come back). An empty answer is pending
(nothing to compare yet); a server that does not answer, or answers an error, is a ``MetricSourceError``:
the guardrail's measurement is an error, counted toward its consecutive-error limit.

The defaults read the monitor's metrics (``tagstream_monitor_*``, see the monitoring issue's list); the tagger's
own per-arm series are not defaults, so a plan that measures latency or errors in Prometheus names its query.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from contracts import Guardrail, GuardrailKind
from rollout.errors import MetricSourceError
from rollout.guardrails import WHOLE, Figure, Reading

DEFAULT_QUERIES: dict[GuardrailKind, str] = {
    GuardrailKind.INPUT_DRIFT: 'max(tagstream_monitor_drift_share{{model_version="{stable}"}})',
    GuardrailKind.PREDICTION_DIVERGENCE:
        'max by (attribute) (tagstream_monitor_prediction_drift_score{{model_version="{candidate}"}})',
    GuardrailKind.QUALITY_DROP:
        'max by (attribute) (tagstream_monitor_quality_realised{{model_version="{stable}",source="audit"}}) '
        '- on (attribute) '
        'max by (attribute) (tagstream_monitor_quality_realised{{model_version="{candidate}",source="audit"}})',
    GuardrailKind.REVIEW_SHARE_DIFF:
        'max(tagstream_monitor_review_share{{model_version="{candidate}",reason="any"}}) '
        '- max(tagstream_monitor_review_share{{model_version="{stable}",reason="any"}})',
}


@dataclass(frozen=True)
class QueryContext:
    model: str
    stable: str
    candidate: str
    window_s: float

    def fill(self, query: str) -> str:
        return query.format(model=self.model, stable=self.stable, candidate=self.candidate,
                            window=f"{max(1, math.ceil(self.window_s))}s")


def query_of(kind: GuardrailKind, guardrail: Guardrail) -> str | None:
    return guardrail.query or DEFAULT_QUERIES.get(kind)


class PrometheusSource:
    def __init__(self, url: str, *, timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """An instant query: each series' labels and value (a scalar answers one series without labels)."""
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        if not address.startswith(("http://", "https://")):
            raise MetricSourceError(f"prometheus url {self.url} is not http(s)", field="prometheus_url")
        try:
            with urllib.request.urlopen(address, timeout=self.timeout_s) as response:  # noqa: S310 - scheme checked
                body: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as e:
            detail = e.read()[:300].decode(errors="replace")
            raise MetricSourceError(f"prometheus at {self.url} answered {e.code} to {promql!r}: {detail}") from e
        except (OSError, ValueError) as e:
            raise MetricSourceError(f"prometheus at {self.url} did not answer {promql!r}: {e}") from e
        if body.get("status") != "success":
            raise MetricSourceError(f"prometheus at {self.url} failed {promql!r}: {body.get('error', body)}")
        data = body.get("data", {})
        if data.get("resultType") == "scalar":
            return [({}, float(data["result"][1]))]
        return [(dict(series.get("metric", {})), float(series["value"][1])) for series in data.get("result", [])]

    def reading(self, kind: GuardrailKind, guardrail: Guardrail, context: QueryContext) -> Reading:
        query = query_of(kind, guardrail)
        if query is None:
            raise MetricSourceError(f"guardrail {kind} has source prometheus and no query", field="query")
        series = [(labels, value) for labels, value in self.query(context.fill(query)) if math.isfinite(value)]
        if kind.per_attribute:
            return {labels["attribute"]: Figure(value) for labels, value in series if "attribute" in labels}
        return {WHOLE: Figure(max(value for _, value in series))} if series else {}
