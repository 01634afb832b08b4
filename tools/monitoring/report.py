"""``tagstream report quality``: quality per merchant against the agreed targets, from the topics themselves.

Reads ``catalog.tags`` and ``catalog.labels`` from the beginning (no consumer group, nothing committed), joins
each label to the newest tag of its product for every model version (to the tag of its event when the label
names one), exactly as the monitor does, and scores every attribute per merchant and version: accuracy, its
Wilson interval, the target (the merchant's own if agreed, else the catalogue's), by how much it is missed, and
how many labels stand behind the figure. A figure is called missed only when the whole interval is under the
target; with too few labels it says so instead of guessing.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from contracts import LabelFeedback, LabelSource, TagPrediction, Topics
from modelspec.taxonomy import ATTRIBUTE_NAMES
from monitoring.policy import QualityTargets
from monitoring.stats import wilson
from runtime.kafka import consumer
from runtime.settings import KafkaSettings

#: Interval level of every figure (two-sided).
ALPHA = 0.05


@dataclass(frozen=True)
class QualityRow:
    merchant: str
    model_version: str
    attribute: str
    labels: int
    accuracy: float
    lower: float
    upper: float
    target: float | None
    verdict: str  # "met", "missed", "unclear" (the interval straddles the target), "no target", "too few labels"

    @property
    def missed_by(self) -> float:
        """Points under the target (positive when under), from the accuracy."""
        return (self.target - self.accuracy) if self.target is not None and self.labels else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "missed_by": round(self.missed_by, 4)}


def read_topic(settings: KafkaSettings, topic: str, *, idle_s: float = 2.0) -> Iterator[Any]:
    """Every record of ``topic`` from the beginning, until nothing new comes for ``idle_s``."""
    reader: KafkaConsumer = consumer(settings, group_id=None, client_id="report")
    try:
        partitions = reader.partitions_for_topic(topic) or set()
        reader.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        reader.seek_to_beginning()
        last = time.monotonic()
        while time.monotonic() - last < idle_s:
            batches = reader.poll(timeout_ms=200, max_records=5000)
            for records in batches.values():
                last = time.monotonic()
                yield from records
    finally:
        reader.close()


def _parse(records: Iterator[Any], model: type[TagPrediction] | type[LabelFeedback]) -> Iterator[Any]:
    for record in records:
        if record.value is None:
            continue
        try:
            yield model.model_validate_json(record.value)
        except ValidationError:
            continue


def quality_rows(tags: Iterator[TagPrediction], labels: Iterator[LabelFeedback], targets: QualityTargets, *,
                 merchant: str | None = None, since: datetime | None = None, source: LabelSource = LabelSource.AUDIT,
                 min_labels: int = 30) -> list[QualityRow]:
    newest: dict[tuple[str, str], TagPrediction] = {}  # (product, version) -> newest tag
    by_event: dict[tuple[str, str], TagPrediction] = {}  # (event, version) -> tag
    for tag in tags:
        if since is not None and tag.timings.tagged_at < since:
            continue
        if merchant is not None and tag.merchant_id != merchant:
            continue
        key = (tag.product_id, tag.model.version)
        if key not in newest or tag.timings.tagged_at >= newest[key].timings.tagged_at:
            newest[key] = tag
        by_event[(tag.event_id, tag.model.version)] = tag
    versions = sorted({v for _, v in newest})
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])  # (merchant, version, attr)
    seen: set[tuple[str, str]] = set()
    for label in labels:
        if label.source is not source:
            continue
        for version in versions:
            found = (by_event.get((label.event_id, version)) if label.event_id
                     else newest.get((label.product_id, version)))
            if found is None or (found.event_id, version) in seen:
                continue
            seen.add((found.event_id, version))
            for attribute, truth in label.labels.items():
                predicted = found.attributes.get(attribute)
                if predicted is None:
                    continue
                entry = counts[(found.merchant_id, version, attribute)]
                entry[0] += 1
                entry[1] += predicted.label == truth
    rows = []
    for (who, version, attribute), (n, right) in sorted(counts.items(),
                                                        key=lambda kv: (kv[0][0], kv[0][1],
                                                                        ATTRIBUTE_NAMES.index(kv[0][2])
                                                                        if kv[0][2] in ATTRIBUTE_NAMES else 99)):
        lower, upper = wilson(right, n, alpha=ALPHA)
        target = targets.target(attribute, who)
        if target is None:
            verdict = "no target"
        elif n < min_labels:
            verdict = "too few labels"
        elif upper < target:
            verdict = "missed"
        elif lower >= target:
            verdict = "met"
        else:
            verdict = "unclear"
        rows.append(QualityRow(merchant=who, model_version=version, attribute=attribute, labels=n,
                               accuracy=right / n if n else math.nan, lower=lower, upper=upper, target=target,
                               verdict=verdict))
    return rows


def report_from_topics(settings: KafkaSettings, targets: QualityTargets, *, merchant: str | None = None,
                       since: datetime | None = None, source: LabelSource = LabelSource.AUDIT,
                       min_labels: int = 30) -> list[QualityRow]:
    tags = list(_parse(read_topic(settings, Topics.TAGS.name), TagPrediction))
    labels = list(_parse(read_topic(settings, Topics.LABELS.name), LabelFeedback))
    return quality_rows(iter(tags), iter(labels), targets, merchant=merchant, since=since, source=source,
                        min_labels=min_labels)
