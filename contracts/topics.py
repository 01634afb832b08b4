"""Topic names: the one place they are spelled."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    compacted: bool = False
    doc: str = ""


class Topics:
    """Every topic tagstream reads or writes."""

    EVENTS = Topic("catalog.events", doc="CatalogEvent from producers; key = product_id")
    DEAD_LETTERS = Topic("catalog.events.dlq", doc="DeadLetter: events the tagger could not process")
    TAGS = Topic("catalog.tags", doc="TagPrediction published to consumers; key = product_id; a null "
                                          "value (tombstone) when the product was deleted")
    TAGS_SHADOW = Topic("catalog.tags.shadow", doc="TagPrediction of a candidate in shadow; not published")
    REVIEW = Topic("catalog.review", doc="ReviewItem: a doubtful tag, or an audit sample, for a person")
    LABELS = Topic("catalog.labels", doc="LabelFeedback: delayed ground truth")
    ROLLOUT = Topic("tagstream.rollout", compacted=True, doc="RolloutState every tagger follows")
    DLQ_REPLAYS = Topic("tagstream.dlq.replays", compacted=True, doc="DeadLetterReplay: dead letters re-published "
                                                                    "by `tagstream dlq replay`; key = partition:offset")
    REVIEW_PROGRESS = Topic("tagstream.review.progress", compacted=True,
                            doc="ReviewProgress: review items decided above a console group's committed offset; "
                                "key = group:partition")
    MODELS = Topic("tagstream.models", compacted=True, doc="ModelCard of every registered model version; "
                                                          "key = name:version")

    @classmethod
    def all(cls) -> list[Topic]:
        return [v for v in vars(cls).values() if isinstance(v, Topic)]
