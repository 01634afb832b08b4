"""A reviewer's form, checked against the item, turned into the ``LabelFeedback`` it publishes.

Doubt items give labels with source ``reviewer``, audit items source ``audit`` (the reviewer never sees
which). Every attribute to check must be answered with one of its choices, unless the image is unusable,
which answers the whole item with no labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from contracts import LabelFeedback, LabelSource, ReviewItem, ReviewKind
from services.review.choices import LabelChoices
from services.review.errors import InvalidDecision

FIELD_PREFIX = "label."


@dataclass(frozen=True)
class Decision:
    feedback: LabelFeedback
    outcome: str  # confirmed | corrected | unusable (the metrics' label)
    agreed: dict[str, bool]  # attribute -> the reviewer kept the model's label


def shown_labels(item: ReviewItem, attribute: str) -> list[str]:
    tag = item.tag.attributes[attribute]
    return [tag.label, *(score.label for score in tag.top_k)]


def decide(item: ReviewItem, form: Mapping[str, str], *, unusable: bool, reviewer: str, choices: LabelChoices,
           now: datetime) -> Decision:
    source = LabelSource.AUDIT if item.kind is ReviewKind.AUDIT else LabelSource.REVIEWER
    labels: dict[str, str] = {}
    agreed: dict[str, bool] = {}
    if not unusable:
        for attribute in item.attributes:
            value = form.get(f"{FIELD_PREFIX}{attribute}", "").strip()
            allowed = choices.for_attribute(attribute, shown_labels(item, attribute))
            if not value:
                raise InvalidDecision(f"no label given for {attribute}", field=f"{FIELD_PREFIX}{attribute}",
                                      hint="choose a label for every attribute, or mark the image unusable")
            if value not in allowed:
                raise InvalidDecision(f"{value!r} is not a label of {attribute}", field=f"{FIELD_PREFIX}{attribute}",
                                      hint="choose one of the listed labels")
            labels[attribute] = value
            agreed[attribute] = value == item.tag.attributes[attribute].label
    feedback = LabelFeedback(product_id=item.tag.product_id, event_id=item.tag.event_id,
                             merchant_id=item.tag.merchant_id, labels=labels, unusable=unusable, source=source,
                             who=reviewer, model=item.tag.model, time=now)
    outcome = "unusable" if unusable else "confirmed" if all(agreed.values()) else "corrected"
    return Decision(feedback, outcome, agreed)
