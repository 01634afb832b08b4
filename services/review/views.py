"""What the templates show, built from a ``ReviewItem``: plain data, no markup.

The item's kind (doubt or audit) is left out on purpose: reviewers must not know which items are audits.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts import ReviewItem, ReviewReason
from services.review.choices import LabelChoices
from services.review.decisions import FIELD_PREFIX, shown_labels
from services.review.queue import ReviewQueue

REASON_TEXT = {
    ReviewReason.LOW_CONFIDENCE: "low confidence",
    ReviewReason.OUT_OF_DISTRIBUTION: "the picture is unlike anything the model was trained on",
    ReviewReason.IMAGE_BLANK: "the picture is blank or nearly uniform",
    ReviewReason.IMAGE_BLURRED: "the picture is blurred",
    ReviewReason.IMAGE_TINY: "the picture is very small",
}


@dataclass(frozen=True)
class AttributeRow:
    name: str
    label: str
    confidence: float
    top_k: list[tuple[str, float]]
    to_check: bool
    why: str  # empty when the attribute is not in doubt
    field: str
    choices: list[str]


@dataclass(frozen=True)
class ItemView:
    product_id: str
    merchant_id: str
    title: str
    category_hint: str | None
    model: str
    whole_image: list[str]  # reasons that concern the whole picture, as text
    rows: list[AttributeRow]  # every attribute, those to check first

    @property
    def to_check(self) -> list[AttributeRow]:
        return [row for row in self.rows if row.to_check]


def item_view(item: ReviewItem, choices: LabelChoices) -> ItemView:
    tag = item.tag
    low = ReviewReason.LOW_CONFIDENCE in tag.review_reasons
    rows = []
    for name, attribute in tag.attributes.items():
        to_check = name in item.attributes
        why = ""
        if name in tag.needs_review and low and not any(r.whole_image for r in tag.review_reasons):
            why = REASON_TEXT[ReviewReason.LOW_CONFIDENCE]
        rows.append(AttributeRow(name=name, label=attribute.label, confidence=attribute.confidence,
                                 top_k=[(s.label, s.score) for s in attribute.top_k], to_check=to_check, why=why,
                                 field=f"{FIELD_PREFIX}{name}",
                                 choices=choices.for_attribute(name, shown_labels(item, name)) if to_check else []))
    rows.sort(key=lambda row: not row.to_check)  # stable: the tag's order within each group
    return ItemView(product_id=tag.product_id, merchant_id=tag.merchant_id, title=item.title,
                    category_hint=item.category_hint, model=f"{tag.model.name} v{tag.model.version}",
                    whole_image=[REASON_TEXT[r] for r in tag.review_reasons if r.whole_image], rows=rows)


@dataclass(frozen=True)
class Counters:
    depth: int
    leased: int
    last_hour: int


def counters(queue: ReviewQueue) -> Counters:
    _, leased = queue.book.counts()
    return Counters(depth=queue.depth(), leased=leased, last_hour=queue.stats.decisions_last_hour())
