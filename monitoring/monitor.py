"""The monitor's state and decisions, without any I/O: tags, labels and model cards in; reports out.

``Monitor`` composes the pieces: ``Windows`` (per version, by count and time), the version references from
``ModelCard`` messages, ``evaluate_window``, the label join (``TagIndex``, ``PendingLabels``) and the realised
quality book. The process (``services.monitor``) feeds it from Kafka and publishes what it returns; tests and
the benchmark feed it directly. Every structure is bounded: open windows by ``window_events`` and
``max_versions``, the index by ``index_capacity`` tags and ``index_horizon_s``, waiting labels by
``pending_capacity`` and ``pending_ttl_s``, realised figures by ``policy.label_window`` labels per version
and source.

The decision per version and kind (``decisions``): input and prediction from the newest window; label from the
newest audit-label report; quality when the newest audit-label report shows a realised drop, or the newest
window a trusted estimated drop.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from contracts import LabelFeedback, LabelSource, ModelCard, ModelRef, TagPrediction
from monitoring.evaluate import WindowReport, evaluate_window
from monitoring.join import Hit, Pending, PendingLabels, TagIndex, truth_row
from monitoring.policy import DriftPolicy, QualityTargets
from monitoring.realised import LabelReport, RealisedBook
from monitoring.reference import Reference, reference_of
from monitoring.window import ClosedWindow, WindowBuffer, Windows

log = logging.getLogger(__name__)

#: The decision kinds, as the ``kind`` label of ``tagstream_monitor_drift_detected``.
KINDS: tuple[str, ...] = ("input", "prediction", "label", "quality")


@dataclass(frozen=True)
class MonitorConfig:
    window_events: int = 5000
    window_seconds: float = 60.0
    policy: DriftPolicy = field(default_factory=DriftPolicy)
    targets: QualityTargets = field(default_factory=QualityTargets)
    index_capacity: int = 1_000_000
    index_horizon_s: float = 48 * 3600.0
    pending_capacity: int = 20_000
    pending_ttl_s: float = 3600.0
    label_report_every: int = 50
    label_report_seconds: float = 60.0
    max_versions: int = 8


@dataclass(frozen=True)
class Join:
    """One label credited to one tag."""

    model: ModelRef
    source: LabelSource
    delay_s: float  # label time minus tag time


class Monitor:
    def __init__(self, config: MonitorConfig, *, wall: Callable[[], float] = time.time,
                 mono: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._wall, self._mono = wall, mono
        policy = config.policy
        self.windows = Windows(events=config.window_events, seconds=config.window_seconds,
                               min_events=min(policy.min_window, config.window_events),
                               max_versions=config.max_versions, wall=wall, mono=mono)
        self.index = TagIndex(capacity=config.index_capacity, horizon_s=config.index_horizon_s)
        self.pending = PendingLabels(capacity=config.pending_capacity, ttl_s=config.pending_ttl_s)
        self.book = RealisedBook(policy, config.targets)
        self.references: dict[ModelRef, Reference] = {}
        self.latest_window: dict[ModelRef, WindowReport] = {}
        self.latest_labels: dict[tuple[ModelRef, LabelSource], LabelReport] = {}
        #: (source, outcome) -> labels: joined (credited to a tag), duplicate, waiting (found no tag on arrival)
        self.label_outcomes: Counter[tuple[LabelSource, str]] = Counter()
        self._joins: list[Join] = []
        self._last_label_report: dict[tuple[ModelRef, LabelSource], float] = {}

    # -- inputs -------------------------------------------------------------------------------------------------

    def observe_card(self, card: ModelCard) -> None:
        """Use ``card``'s profile as the reference of its version from now on."""
        self.references[card.model] = reference_of(card.profile)
        log.info("reference profile of %s:%s (%d images)", card.model.name, card.model.version,
                 card.profile.reference_size)

    def observe_tag(self, tag: TagPrediction) -> list[WindowReport]:
        """Add a tag; returns the reports of the windows this closed."""
        return [self._judge(window) for window in self.windows.add(tag)]

    def remember(self, tags: list[TagPrediction]) -> None:
        """Put tags read before a restart into the label index only (no window judged): window index 0."""
        by_model: dict[ModelRef, list[TagPrediction]] = {}
        for tag in sorted(tags, key=lambda t: t.timings.tagged_at):
            by_model.setdefault(tag.model, []).append(tag)
        size = self.config.window_events
        for model, model_tags in by_model.items():
            for start in range(0, len(model_tags), size):
                chunk = model_tags[start:start + size]
                buffer = WindowBuffer(model, len(chunk), 0, self._wall(), self._mono())
                for tag in chunk:
                    buffer.add(tag)
                self.index.add(buffer.close(self._wall(), "replayed"), self._wall())

    def observe_label(self, label: LabelFeedback) -> None:
        """Join a label to the tags it judges now, and keep it for tags that come later."""
        hits = self.index.lookup(label.product_id, label.event_id)
        pending = Pending(label, self._wall())
        for hit in hits:
            self._credit(pending, hit)
        if not hits:
            self.label_outcomes[(label.source, "waiting")] += 1
        self.pending.add(pending)

    def tick(self) -> tuple[list[WindowReport], list[LabelReport]]:
        """Close windows that are due, expire old labels, and report realised quality where labels came in."""
        windows = [self._judge(window) for window in self.windows.due()]
        now = self._wall()
        self.pending.expire(now)
        self.index.evict(now)
        labels = []
        for model, source in self.book.with_new_labels():
            key = (model, source)
            new = self.book.new_labels(model, source)
            waited = self._mono() - self._last_label_report.get(key, 0.0)
            if new >= self.config.label_report_every or waited >= self.config.label_report_seconds:
                report = self.book.report(model, source, self.references.get(model), now)
                self.latest_labels[key] = report
                self._last_label_report[key] = self._mono()
                labels.append(report)
        return windows, labels

    def drain_joins(self) -> list[Join]:
        """The joins made since the last call (for the label-delay histogram)."""
        joins, self._joins = self._joins, []
        return joins

    # -- decisions ----------------------------------------------------------------------------------------------

    def decisions(self, model: ModelRef) -> dict[str, bool]:
        window = self.latest_window.get(model)
        audit = self.latest_labels.get((model, LabelSource.AUDIT))
        return {
            "input": bool(window and window.input_drift),
            "prediction": bool(window and window.prediction_drift),
            "label": bool(audit and audit.label_drift_detected),
            "quality": bool((audit and audit.quality_drop) or (window and window.estimated_drop)),
        }

    def models(self) -> list[ModelRef]:
        seen = {*self.latest_window, *(m for m, _ in self.latest_labels), *self.windows.open_sizes()}
        return sorted(seen, key=lambda m: (m.name, m.version))

    def coverage(self) -> dict[ModelRef, float]:
        """Per version, the share of tracked tags with at least one label."""
        return {model: labelled / total for model, (total, labelled) in self.index.per_model().items() if total}

    # -- internals ----------------------------------------------------------------------------------------------

    def _judge(self, window: ClosedWindow) -> WindowReport:
        report = evaluate_window(window, self.references.get(window.model), self.config.policy, self.config.targets)
        self.latest_window[window.model] = report
        self.book.open_window(window.model, window.index,
                              {name: q.estimate.value for name, q in report.quality.items()})
        chunk = self.index.add(window, self._wall())
        for pending, hit in self.pending.match(chunk):
            self._credit(pending, hit)
        if report.untrusted and report.has_reference:
            log.info("%s window %d: estimated quality not trusted (%s)", window.model.version, window.index,
                     ", ".join(report.untrusted))
        return report

    def _credit(self, pending: Pending, hit: Hit) -> None:
        pending.joined.add(hit.model)
        label = pending.label
        if not hit.mark(label.source):
            self.label_outcomes[(label.source, "duplicate")] += 1
            return
        self.label_outcomes[(label.source, "joined")] += 1
        self.book.add(hit.model, hit.chunk.window_index, label.source, truth_row(label), hit.predicted)
        self._joins.append(Join(hit.model, label.source, label.time.timestamp() - hit.tagged_at))
