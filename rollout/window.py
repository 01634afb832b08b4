"""The stage's window: tags, dead letters and labels since the stage began, folded into the guardrails' figures.

Pure and incremental: records go in one at a time (``add_tag``, ``add_dead_letter``, ``add_label``), and
``reading(kind)`` answers a guardrail from the sums so far. Every version's figures are kept apart by the model
version each tag names, whatever topic it came from: in shadow the candidate's tags are on ``catalog.tags.shadow``
and stable's on ``catalog.tags``; in a canary both are on ``catalog.tags``, and the stable tags of compared events
on ``catalog.tags.shadow``. Memory is bounded: pairs waiting for their other half, labelled products and latency
samples are capped (the oldest go first).
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from contracts import GuardrailKind, ReferenceProfile, RolloutArm
from rollout.guardrails import WHOLE, Figure, Reading

#: A feature drifted when its population stability index against the reference passes this (the usual 0.2).
PSI_DRIFT = 0.2
_EPSILON = 1e-4
#: The normal quantile of a one-sided 95% bound.
_ONE_SIDED_95 = 1.6449


@dataclass(frozen=True)
class TagRecord:
    time: float  # tagged_at, epoch seconds
    event_id: str
    product_id: str
    version: str
    arm: RolloutArm
    shadow_topic: bool
    needs_review: bool
    inference_ms: float
    labels: Mapping[str, str]
    features: Mapping[str, float] = field(default_factory=dict)
    #: the candidate version this event was routed to, which kept failing, so the version above tagged it instead
    failed_version: str = ""


@dataclass(frozen=True)
class DeadLetterRecord:
    time: float
    arm: RolloutArm | None  # None: failed before routing (bad input), on no arm in particular


@dataclass(frozen=True)
class LabelRecord:
    time: float
    product_id: str
    labels: Mapping[str, str]


Record = TagRecord | DeadLetterRecord | LabelRecord


V = TypeVar("V")
Labels = Mapping[str, str]


class _Capped(OrderedDict[str, V]):
    """An insertion-ordered dict that forgets its oldest entry past ``cap``."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap

    def put(self, key: str, value: V) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.cap:
            self.popitem(last=False)


@dataclass
class _Version:
    tags: int = 0
    reviews: int = 0
    errors: int = 0
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=50_000))
    labels: dict[str, Counter[str]] = field(default_factory=dict)


class Window:
    """Sums over one window for the stable and the candidate version of one model."""

    def __init__(self, start: float, *, stable: str, candidate: str, reference: ReferenceProfile | None = None,
                 cap: int = 100_000) -> None:
        self.start = start
        self.stable, self.candidate = stable, candidate
        self.reference = reference
        self._versions = {stable: _Version(), candidate: _Version()}
        self._seen: _Capped[None] = _Capped(cap * 2)  # version/event_id: a re-delivered tag counts once
        self._halves: _Capped[tuple[str, Labels]] = _Capped(cap)  # event_id -> the first version's tag
        self._pairs = 0
        self._disagree: Counter[str] = Counter()
        self._compared: Counter[str] = Counter()
        self._tagged: _Capped[dict[str, Labels]] = _Capped(cap)  # product_id -> {version: labels}
        self._truth: _Capped[Labels] = _Capped(cap)  # product_id -> true labels
        self._features: dict[str, deque[float]] = {}
        self.input_events = 0

    @property
    def candidate_events(self) -> int:
        """Events the candidate tagged in the window: what the bake counts."""
        return self._versions[self.candidate].tags

    @property
    def waiting_pairs(self) -> int:
        """Tags of one version whose event the other version has not tagged (yet), within the cap."""
        return len(self._halves)

    def add(self, record: Record) -> None:
        if isinstance(record, TagRecord):
            self.add_tag(record)
        elif isinstance(record, DeadLetterRecord):
            self.add_dead_letter(record)
        else:
            self.add_label(record)

    def add_tag(self, tag: TagRecord) -> None:
        stats = self._versions.get(tag.version)
        if tag.time < self.start or stats is None or f"{tag.version}/{tag.event_id}" in self._seen:
            return
        self._seen.put(f"{tag.version}/{tag.event_id}", None)
        failed = self._versions.get(tag.failed_version)
        if failed is not None and tag.failed_version != tag.version:
            failed.errors += 1
        stats.tags += 1
        stats.reviews += tag.needs_review
        stats.latencies.append(tag.inference_ms)
        for attribute, label in tag.labels.items():
            stats.labels.setdefault(attribute, Counter())[label] += 1
        self._pair(tag)
        self._tagged.put(tag.product_id, {**self._tagged.get(tag.product_id, {}), tag.version: tag.labels})
        if not tag.shadow_topic and tag.features:  # each published event's input once
            self.input_events += 1
            for name, value in tag.features.items():
                self._features.setdefault(name, deque(maxlen=50_000)).append(value)

    def _pair(self, tag: TagRecord) -> None:
        other = self._halves.pop(tag.event_id, None)
        if other is None or other[0] == tag.version:
            self._halves.put(tag.event_id, (tag.version, tag.labels))
            return
        self._pairs += 1
        for attribute in set(tag.labels) & set(other[1]):
            self._compared[attribute] += 1
            self._disagree[attribute] += tag.labels[attribute] != other[1][attribute]

    def add_dead_letter(self, letter: DeadLetterRecord) -> None:
        if letter.time < self.start or letter.arm is None:
            return
        version = self.stable if letter.arm is RolloutArm.STABLE else self.candidate
        self._versions[version].errors += 1

    def add_label(self, label: LabelRecord) -> None:
        if label.time >= self.start:
            self._truth.put(label.product_id, label.labels)

    def reading(self, kind: GuardrailKind) -> Reading:
        """The figures of one guardrail over the window so far."""
        return _READERS[kind](self)

    # -- one reader per guardrail ------------------------------------------------------------------------------

    def _error_rate(self) -> Reading:
        """The candidate's excess failure rate that chance cannot explain: the difference of the two rates less its
        one-sided 95% margin. Every dead letter after routing so far is the input's fault (an image that will not
        load fails under any version), and the arms split products at random, so a raw difference over the few
        events of a short canary is mostly noise (one undecodable image in 20 candidate events is 5 points)."""
        cand, stab = (self._versions[self.candidate], self._versions[self.stable])
        n_c, n_s = cand.tags + cand.errors, stab.tags + stab.errors
        if not n_c:
            return {WHOLE: Figure(None, 0, None, stab.errors / n_s if n_s else None)}
        c = cand.errors / n_c
        s = stab.errors / n_s if n_s else 0.0
        margin = _ONE_SIDED_95 * math.sqrt(c * (1 - c) / n_c + (s * (1 - s) / n_s if n_s else 0.0))
        note = f"{c - s:+.4f} less a margin of {margin:.4f}" if margin else ""
        return {WHOLE: Figure(c - s - margin, n_c, c, s if n_s else None, note)}

    def _latency(self) -> Reading:
        cand, stab = self._versions[self.candidate], self._versions[self.stable]
        c, s = _p99(cand.latencies), _p99(stab.latencies)
        value = c / s if c is not None and s else None
        return {WHOLE: Figure(value, min(len(cand.latencies), len(stab.latencies)), c, s,
                              "" if s is not None else "no stable tags in the window")}

    def _review_share(self) -> Reading:
        cand, stab = self._versions[self.candidate], self._versions[self.stable]
        c = cand.reviews / cand.tags if cand.tags else None
        s = stab.reviews / stab.tags if stab.tags else None
        value = c - s if c is not None and s is not None else None
        return {WHOLE: Figure(value, min(cand.tags, stab.tags), c, s)}

    def _disagreement(self) -> Reading:
        return {a: Figure(self._disagree[a] / n, n) for a, n in self._compared.items()}

    def _divergence(self) -> Reading:
        cand, stab = self._versions[self.candidate], self._versions[self.stable]
        samples = min(cand.tags, stab.tags)
        return {a: Figure(_js_distance(cand.labels[a], stab.labels.get(a, Counter())), samples)
                for a in cand.labels}

    def _quality(self) -> Reading:
        right: dict[str, Counter[str]] = {}
        seen: dict[str, Counter[str]] = {}
        for product, truth in self._truth.items():
            for version, labels in self._tagged.get(product, {}).items():
                for attribute, label in truth.items():
                    if attribute in labels:
                        seen.setdefault(attribute, Counter())[version] += 1
                        right.setdefault(attribute, Counter())[version] += labels[attribute] == label
        reading = {}
        for attribute, counts in seen.items():
            n_c, n_s = counts[self.candidate], counts[self.stable]
            c = right[attribute][self.candidate] / n_c if n_c else None
            s = right[attribute][self.stable] / n_s if n_s else None
            value = s - c if c is not None and s is not None else None
            reading[attribute] = Figure(value, min(n_c, n_s), c, s)
        return reading

    def _input_drift(self) -> Reading:
        if self.reference is None:
            return {WHOLE: Figure(None, self.input_events, note=f"no reference profile of version {self.stable}")}
        drifted = [name for name, stats in self.reference.features.items()
                   if name in self._features and _psi(stats.histogram.fractions(),
                                                      stats.histogram.counts_of(self._features[name])) > PSI_DRIFT]
        value = len(drifted) / len(self.reference.features) if self._features else None
        return {WHOLE: Figure(value, self.input_events, note=", ".join(drifted))}


def _p99(values: deque[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


def _js_distance(a: Counter[str], b: Counter[str]) -> float | None:
    """Jensen-Shannon distance (base 2: 0 same, 1 disjoint) of two label counts; None when one is empty."""
    total_a, total_b = sum(a.values()), sum(b.values())
    if not total_a or not total_b:
        return None
    divergence = 0.0
    for label in set(a) | set(b):
        p, q = a[label] / total_a, b[label] / total_b
        m = (p + q) / 2
        divergence += (p * math.log2(p / m) if p else 0.0) + (q * math.log2(q / m) if q else 0.0)
    return math.sqrt(max(divergence / 2, 0.0))


def _psi(expected: list[float], counts: list[int]) -> float:
    total = sum(counts)
    if not total:
        return 0.0
    psi = 0.0
    for e, c in zip(expected, counts, strict=True):
        actual = max(c / total, _EPSILON)
        e = max(e, _EPSILON)
        psi += (actual - e) * math.log(actual / e)
    return psi


_READERS = {
    GuardrailKind.ERROR_RATE: Window._error_rate,
    GuardrailKind.LATENCY_P99_RATIO: Window._latency,
    GuardrailKind.REVIEW_SHARE_DIFF: Window._review_share,
    GuardrailKind.DISAGREEMENT: Window._disagreement,
    GuardrailKind.PREDICTION_DIVERGENCE: Window._divergence,
    GuardrailKind.QUALITY_DROP: Window._quality,
    GuardrailKind.INPUT_DRIFT: Window._input_drift,
}
