"""Errors of the review console."""

from __future__ import annotations

from contracts.errors import TagstreamError


class ReviewError(TagstreamError):
    code = "review_failed"


class LeaseLost(ReviewError):
    """The reviewer no longer holds the item: the lease expired and the item went to someone else, or the
    console gave up the item's partition. Nothing was published; the next item is shown instead."""

    code = "lease_lost"


class InvalidDecision(ReviewError):
    """The submitted form does not decide the item: an attribute is missing or its label is not a choice."""

    code = "invalid_decision"


class DecisionNotSaved(ReviewError):
    """The broker did not acknowledge the label in time: the item stays with the reviewer, who can submit again."""

    code = "decision_not_saved"


class ImageUnavailable(ReviewError):
    """The item's image cannot be shown (forbidden address, host down, not an image, too large)."""

    code = "image_unavailable"
