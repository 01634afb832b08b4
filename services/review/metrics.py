"""The review console's Prometheus metrics, each declared once with a fixed label set.

Agreement with the model per attribute is ``agreed / decided`` of ``tagstream_review_attribute_decisions_total``
(PromQL: ``sum by (attribute) (rate(...{agreed="true"}[1h])) / sum by (attribute) (rate(...[1h]))``); decisions
per hour are ``increase(tagstream_review_decisions_total[1h])``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from contracts import LabelSource
from modelspec.taxonomy import ATTRIBUTE_NAMES

OUTCOMES = ("confirmed", "corrected", "unusable")

QUEUE_DEPTH = Gauge("tagstream_review_queue_depth",
                    "Items waiting for a reviewer: read and not leased, plus not yet read (high watermark - position)")
LEASED = Gauge("tagstream_review_leased", "Items a reviewer holds right now")
DECISIONS = Counter("tagstream_review_decisions_total", "Decisions acknowledged on catalog.labels",
                    ["source", "outcome"])
ATTRIBUTE_DECISIONS = Counter("tagstream_review_attribute_decisions_total",
                              "Attributes decided by a reviewer, by whether the reviewer kept the model's label",
                              ["attribute", "agreed"])
LEASES_EXPIRED = Counter("tagstream_review_leases_expired_total",
                         "Leases that timed out and whose item went to another reviewer")
ITEMS_INVALID = Counter("tagstream_review_items_invalid_total",
                        "Records on catalog.review that are not a valid ReviewItem (skipped, logged)")
COMMITS = Counter("tagstream_review_commits_total", "Offset commits of the review topic", ["result"])
DECISION_SECONDS = Histogram("tagstream_review_decision_seconds",
                             "Submit to acknowledged label, inside the console",
                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

for _source in (LabelSource.REVIEWER, LabelSource.AUDIT):  # the fixed label sets, every series present at start
    for _outcome in OUTCOMES:
        DECISIONS.labels(_source.value, _outcome)
for _attribute in ATTRIBUTE_NAMES:
    for _agreed in ("true", "false"):
        ATTRIBUTE_DECISIONS.labels(_attribute, _agreed)
for _result in ("ok", "failed"):
    COMMITS.labels(_result)
