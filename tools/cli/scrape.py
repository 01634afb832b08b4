"""Read tagger ``/metrics`` endpoints into numbers a person can read (used by ``watch`` and ``bench``)."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families


@dataclass
class Sample:
    """The metrics of all taggers, summed, at one moment."""

    counters: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    by_label: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    buckets: dict[str, dict[float, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    reachable: int = 0


def scrape(urls: list[str], timeout_s: float = 1.0) -> Sample:
    sample = Sample()
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (loopback, ours)
                text = response.read().decode()
        except OSError:
            continue
        sample.reachable += 1
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name.endswith("_bucket"):
                    sample.buckets[s.name[: -len("_bucket")]][float(s.labels["le"])] += s.value
                    continue
                sample.counters[s.name] += s.value
                for key in ("code", "partition", "reason"):
                    if key in s.labels:
                        sample.by_label[f"{s.name}:{key}"][s.labels[key]] += s.value
    return sample


@dataclass(frozen=True)
class Routing:
    """The rollout state one tagger routes new events by, as its ``/metrics`` say (``tagstream_router_*``)."""

    revision: int
    stage: str
    since: float  # Unix time at which the tagger began routing by this revision


def routing(url: str, timeout_s: float = 1.0) -> Routing | None:
    """What the tagger at ``url`` (its ``/metrics``) routes by; None when it does not answer or follows no rollout."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (loopback, ours)
            text = response.read().decode()
    except OSError:
        return None
    values: dict[str, float] = {}
    stage = ""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "tagstream_router_stage" and s.value == 1:
                stage = s.labels["stage"]
            elif s.name in ("tagstream_router_revision", "tagstream_router_revision_applied_timestamp_seconds"):
                values[s.name] = s.value
    since = values.get("tagstream_router_revision_applied_timestamp_seconds", 0.0)
    if not stage or not since:
        return None
    return Routing(revision=int(values.get("tagstream_router_revision", 0)), stage=stage, since=since)


def quantile(now: dict[float, float], before: dict[float, float] | None, q: float) -> float | None:
    """The q-quantile (seconds) of a histogram over the interval between two scrapes (or since start)."""
    bounds = sorted(now)
    counts = [now[b] - (before or {}).get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            span = count - lower_count
            return lower_bound + (bound - lower_bound) * ((rank - lower_count) / span if span else 1.0)
        lower_bound, lower_count = bound, count
    return bounds[-2] if len(bounds) > 1 else None
