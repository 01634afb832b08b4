"""Set the Prometheus metrics from the monitor's reports and state (``monitoring.metrics``)."""

from __future__ import annotations

import math
from collections import Counter

from contracts import LabelSource, ModelRef, ReviewReason
from monitoring import metrics as m
from monitoring.evaluate import ANY_REASON, WindowReport
from monitoring.monitor import KINDS, Join, Monitor
from monitoring.policy import QualityTargets
from monitoring.realised import LabelReport


class Publisher:
    """Writes reports into the metrics; remembers segment series so that a merchant leaving the top is removed."""

    def __init__(self, targets: QualityTargets) -> None:
        for attribute, target in targets.attributes.items():
            m.QUALITY_TARGET.labels(attribute).set(target)
        self._segments: dict[str, set[tuple[str, ...]]] = {}
        self._outcomes: Counter[tuple[LabelSource, str]] = Counter()

    def window(self, report: WindowReport) -> None:
        v = report.model.version
        m.WINDOWS.labels(v).inc()
        m.WINDOW_SIZE.labels(v).set(report.size)
        m.WINDOW_LAG.labels(v).set(max(0.0, report.closed_at - report.newest_tag_at))
        m.OOD_SHARE.labels(v).set(report.ood_share)
        m.ESTIMATE_TRUSTED.labels(v).set(1 if report.trusted else 0)
        if report.has_reference:
            m.DRIFT_SHARE.labels(v).set(report.drift_share)
            for column in report.input:
                m.FEATURE_DRIFT_SCORE.labels(v, column.column).set(column.comparison.psi)
            for column in report.prediction:
                m.PREDICTION_DRIFT_SCORE.labels(v, column.column).set(column.comparison.psi)
        for name, quality in report.quality.items():
            if math.isnan(quality.estimate.value):
                continue
            m.QUALITY_ESTIMATED.labels(v, name).set(quality.estimate.value)
            m.QUALITY_ESTIMATED_BOUND.labels(v, name, "lower").set(quality.estimate.lower)
            m.QUALITY_ESTIMATED_BOUND.labels(v, name, "upper").set(quality.estimate.upper)
            m.QUALITY_DROP.labels(v, name, "estimated").set(1 if quality.dropped else 0)
        for reason in (ANY_REASON, *(r.value for r in ReviewReason)):
            m.REVIEW_SHARE.labels(v, reason).set(report.review_share.get(reason, 0.0))
        self._publish_segments(report)

    def _publish_segments(self, report: WindowReport) -> None:
        v = report.model.version
        now: set[tuple[str, ...]] = set()
        for segment in report.segments:
            m.SEGMENT_REVIEW_SHARE.labels(v, segment.kind, segment.name).set(segment.review_share)
            now.add((segment.kind, segment.name))
            for attribute, value in segment.estimated.items():
                if not math.isnan(value):
                    m.SEGMENT_QUALITY_ESTIMATED.labels(v, segment.kind, segment.name, attribute).set(value)
        for kind, name in self._segments.get(v, set()) - now:
            m.SEGMENT_REVIEW_SHARE.remove(v, kind, name)
            for attribute in report.quality:
                try:
                    m.SEGMENT_QUALITY_ESTIMATED.remove(v, kind, name, attribute)
                except KeyError:
                    continue
        self._segments[v] = now

    def labels(self, report: LabelReport) -> None:
        v, source = report.model.version, report.source.value
        for name, quality in report.quality.items():
            m.QUALITY_LABELS.labels(v, name, source).set(quality.n)
            if quality.n:
                m.QUALITY_REALISED.labels(v, name, source).set(quality.accuracy)
            if report.source is LabelSource.AUDIT:
                m.QUALITY_DROP.labels(v, name, "realised").set(1 if quality.dropped else 0)
        for column in report.label_drift:
            m.LABEL_DRIFT_SCORE.labels(v, column.column).set(column.comparison.psi)

    def joins(self, joins: list[Join]) -> None:
        for join in joins:
            m.LABEL_DELAY.labels(join.model.version, join.source.value).observe(max(0.0, join.delay_s))

    def state(self, monitor: Monitor) -> None:
        """Decisions per version, coverage, and the sizes of the bounded structures."""
        for model in monitor.models():
            self.decisions(model, monitor.decisions(model))
        for model, share in monitor.coverage().items():
            m.LABEL_COVERAGE.labels(model.version).set(share)
        outcomes = monitor.label_outcomes + Counter({(source, "expired"): n
                                                     for source, n in monitor.pending.expired_unjoined.items()})
        for (source, outcome), total in outcomes.items():
            delta = total - self._outcomes[(source, outcome)]
            if delta > 0:
                m.LABELS.labels(source.value, outcome).inc(delta)
        self._outcomes = outcomes
        m.INDEX_TAGS.set(monitor.index.size)
        m.PENDING_LABELS.set(len(monitor.pending))
        m.MODELS_KNOWN.set(len(monitor.references))

    @staticmethod
    def decisions(model: ModelRef, decisions: dict[str, bool]) -> None:
        for kind in KINDS:
            m.DRIFT_DETECTED.labels(model.version, kind).set(1 if decisions[kind] else 0)
