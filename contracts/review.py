"""ReviewItem: one tag a person should look at, published on ``catalog.review``.

A tag goes to review for doubt (an attribute under its confidence threshold, or an image that is out of
distribution or too poor to tag) or as part of the random audit sample that measures quality without the
review bias: a share of all published tags, in doubt or not, each with every attribute to check (a doubtful
tag in the sample is sent once, as the audit item). The item carries what a reviewer needs to decide: the tag, the
attributes to check, and the product's image and title as the event gave them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from contracts.base import SCHEMA_VERSION, ContractModel
from contracts.events import ImageRef
from contracts.tags import TagPrediction


class ReviewKind(StrEnum):
    DOUBT = "doubt"  # the model is unsure: the attributes in ``tag.needs_review``
    AUDIT = "audit"  # a random sample of published tags, every attribute to check; never shown as such


class ReviewItem(ContractModel):
    """Kafka key = ``product_id``. Decisions on it become ``LabelFeedback`` (source reviewer or audit)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: ReviewKind
    tag: TagPrediction
    attributes: Annotated[list[str], Field(min_length=1, description="the attributes to check")]
    title: Annotated[str, Field(max_length=512)] = ""
    category_hint: Annotated[str, Field(max_length=64)] | None = None
    image: ImageRef

    @model_validator(mode="after")
    def _attributes_of_the_tag(self) -> ReviewItem:
        unknown = sorted(set(self.attributes) - set(self.tag.attributes))
        if unknown:
            raise ValueError(f"attributes {unknown} are not in the tag")
        if self.kind is ReviewKind.DOUBT and not self.tag.needs_review:
            raise ValueError("a doubt item needs a tag with needs_review; send confident tags as audit items")
        return self

    @property
    def key(self) -> bytes:
        return self.tag.product_id.encode()
