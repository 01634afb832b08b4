"""The production Grafana dashboard, in code: ``dashboard()`` builds it, ``monitoring/grafana/tagstream.json`` is its
output (regenerate with ``python -m monitoring.grafana``; a test fails when the committed file drifts).

Import it into Grafana with a Prometheus data source for ``DS_PROMETHEUS``. Rows: what moved (drift share and
decisions, input drift per feature, prediction drift per attribute), quality (estimated with its interval and
whether it is trusted, realised from audit labels beside the target, label coverage and delay), review (share by
reason, per merchant), and the pipeline (tags per second, dead letters by code, consumer lag, Triton errors,
the monitor's lag), plus the alerts firing. Every query keeps ``model_version`` selectable.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COMMITTED = Path(__file__).resolve().parent / "grafana" / "tagstream.json"
UID = "tagstream-monitoring"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
V = 'model_version=~"$model_version"'

#: (row title, [(panel title, kind, unit, [(PromQL, legend)])]); kind is "timeseries" or "stat".
ROWS: list[tuple[str, list[tuple[str, str, str, list[tuple[str, str]]]]]] = [
    ("What moved", [
        ("Drift share (features and predicted attributes)", "timeseries", "percentunit",
         [(f"tagstream_monitor_drift_share{{{V}}}", "v{{model_version}}")]),
        ("Drift decisions (1 = drift)", "timeseries", "none",
         [(f"tagstream_monitor_drift_detected{{{V}}}", "v{{model_version}} {{kind}}")]),
        ("Input drift per feature (PSI)", "timeseries", "none",
         [(f"tagstream_monitor_feature_drift_score{{{V}}}", "v{{model_version}} {{feature}}")]),
        ("Prediction drift per attribute (PSI)", "timeseries", "none",
         [(f"tagstream_monitor_prediction_drift_score{{{V}}}", "v{{model_version}} {{attribute}}")]),
        ("Out-of-distribution share", "timeseries", "percentunit",
         [(f"tagstream_monitor_ood_share{{{V}}}", "v{{model_version}}")]),
    ]),
    ("Quality", [
        ("Estimated accuracy per attribute (before labels)", "timeseries", "percentunit",
         [(f"tagstream_monitor_quality_estimated{{{V}}}", "v{{model_version}} {{attribute}}")]),
        ("Estimated accuracy interval", "timeseries", "percentunit",
         [(f"tagstream_monitor_quality_estimated_bound{{{V}}}", "v{{model_version}} {{attribute}} {{bound}}")]),
        ("Estimate trusted (1 = yes)", "stat", "none",
         [(f"tagstream_monitor_quality_estimate_trusted{{{V}}}", "v{{model_version}}")]),
        ("Realised accuracy (audit labels) and target", "timeseries", "percentunit",
         [(f'tagstream_monitor_quality_realised{{{V},source="audit"}}', "v{{model_version}} {{attribute}}"),
          ("tagstream_monitor_quality_target", "target {{attribute}}")]),
        ("Audit labels behind each figure", "timeseries", "none",
         [(f'tagstream_monitor_quality_realised_labels{{{V},source="audit"}}', "v{{model_version}} {{attribute}}")]),
        ("Label coverage", "stat", "percentunit",
         [(f"tagstream_monitor_label_coverage{{{V}}}", "v{{model_version}}")]),
        ("Label delay (median, 90th percentile)", "timeseries", "s",
         [(f"histogram_quantile(0.5, sum by (le, model_version) "
           f"(rate(tagstream_monitor_label_delay_seconds_bucket{{{V}}}[15m])))", "v{{model_version}} p50"),
          (f"histogram_quantile(0.9, sum by (le, model_version) "
           f"(rate(tagstream_monitor_label_delay_seconds_bucket{{{V}}}[15m])))", "v{{model_version}} p90")]),
        ("Quality drops (1 = under target)", "timeseries", "none",
         [(f"tagstream_monitor_quality_drop{{{V}}}", "v{{model_version}} {{attribute}} {{basis}}")]),
    ]),
    ("Review", [
        ("Review share by reason", "timeseries", "percentunit",
         [(f"tagstream_monitor_review_share{{{V}}}", "v{{model_version}} {{reason}}")]),
        ("Review share of the busiest merchants", "timeseries", "percentunit",
         [(f'tagstream_monitor_segment_review_share{{{V},segment_kind="merchant"}}',
           "v{{model_version}} {{segment}}")]),
        ("Estimated main colour accuracy per category", "timeseries", "percentunit",
         [(f'tagstream_monitor_segment_quality_estimated{{{V},segment_kind="category",attribute="main_colour"}}',
           "v{{model_version}} {{segment}}")]),
    ]),
    ("Pipeline", [
        ("Tags per second", "timeseries", "ops",
         [("sum(rate(tagstream_events_tagged_total[5m]))", "tagged"),
          ("sum by (topic) (rate(tagstream_monitor_tags_total[5m]))", "monitored {{topic}}")]),
        ("Dead letters per second by code", "timeseries", "ops",
         [("sum by (code) (rate(tagstream_dead_letters_total[5m]))", "{{code}}")]),
        ("Consumer lag (events)", "timeseries", "none",
         [("sum by (partition) (tagstream_consumer_lag)", "partition {{partition}}")]),
        ("Triton errors per second", "timeseries", "ops",
         [("sum(rate(tagstream_triton_errors_total[5m]))", "errors")]),
        ("Windows judged per minute, and the monitor's lag", "timeseries", "none",
         [(f"rate(tagstream_monitor_windows_total{{{V}}}[5m]) * 60", "v{{model_version}} windows/min"),
          (f"tagstream_monitor_window_lag_seconds{{{V}}}", "v{{model_version}} lag (s)")]),
        ("Alerts firing", "stat", "none",
         [('sum(ALERTS{alertstate="firing",alertname=~"Tagstream.*"}) or vector(0)', "firing")]),
    ]),
]


def _panel(panel_id: int, title: str, kind: str, unit: str, queries: list[tuple[str, str]], x: int, y: int,
           ) -> dict[str, Any]:
    return {
        "id": panel_id, "type": kind, "title": title, "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(queries)],
    }


def dashboard() -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y, panel_id = 0, 1
    for row_title, row_panels in ROWS:
        panels.append({"id": panel_id, "type": "row", "title": row_title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        panel_id, y = panel_id + 1, y + 1
        for i, (title, kind, unit, queries) in enumerate(row_panels):
            panels.append(_panel(panel_id, title, kind, unit, queries, x=12 * (i % 2), y=y + 8 * (i // 2)))
            panel_id += 1
        y += 8 * ((len(row_panels) + 1) // 2)
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "pluginId": "prometheus",
                      "pluginName": "Prometheus"}],
        "uid": UID, "title": "tagstream monitoring", "tags": ["tagstream"], "timezone": "utc", "schemaVersion": 39,
        "version": 1, "editable": True, "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{
            "name": "model_version", "label": "model version", "type": "query", "datasource": DATASOURCE,
            "query": {"query": "label_values(tagstream_monitor_windows_total, model_version)", "refId": "versions"},
            "definition": "label_values(tagstream_monitor_windows_total, model_version)", "refresh": 2,
            "includeAll": True, "multi": True, "allValue": ".*",
            "current": {"text": "All", "value": "$__all"}}]},
        "annotations": {"list": []},
        "panels": panels,
    }


def queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of ``board``."""
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    COMMITTED.parent.mkdir(parents=True, exist_ok=True)
    COMMITTED.write_text(render())
    sys.stdout.write(f"wrote {COMMITTED}\n")
