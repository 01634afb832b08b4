"""From the model's outputs to tags: label, confidence, top-k, and whether (and why) a person should look.

One rule decides review, per image:

- ``low_confidence``: an attribute whose calibrated confidence is under its threshold needs review (the
  thresholds of the model version that made the outputs: ``thresholds.py``; +inf for an attribute that always
  needs review);
- ``out_of_distribution``: the model's normalised score is above ``ood_threshold``, or is no valid score
  (NaN, infinite or negative: the model cannot vouch for the image);
- the image-quality reasons of :mod:`modelspec.quality`, passed in.

Any reason but ``low_confidence`` concerns the whole image: then every attribute needs review, since
nothing in the tag can be trusted. A tag needs review exactly when it has a reason.

Apart from doubt, ``in_audit_sample`` draws the random audit sample: a share of all published tags, decided by
a hash of the event id, so a re-delivered or replayed event is decided the same way (see its docstring).

Attributes are kept in their wire form (``contracts.AttributeTag`` as plain JSON-ready dicts): building
one pydantic object per label and score cost more CPU than the rest of a tag together (see ``wire.py``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from contracts import ReviewReason
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES
from modelspec.tensors import OOD_OUTPUT, output_name


class LabelScoreJson(TypedDict):
    """``contracts.LabelScore`` as JSON."""

    label: str
    score: float


class AttributeJson(TypedDict):
    """``contracts.AttributeTag`` as JSON."""

    label: str
    confidence: float
    top_k: list[LabelScoreJson]


@dataclass(frozen=True)
class Tagged:
    """What the model says about one image, and whether a person should check it."""

    attributes: dict[str, AttributeJson]
    needs_review: list[str]
    review_reasons: list[ReviewReason]
    ood_score: float | None  # None when the model gave no valid score


def ood_scores(outputs: dict[str, np.ndarray], n: int) -> np.ndarray:
    """The normalised out-of-distribution score of each image, (n,) float64, from (n, 1) or (n,)."""
    scores = np.asarray(outputs[OOD_OUTPUT], dtype=np.float64)
    if scores.size != n:
        raise ValueError(f"model output {OOD_OUTPUT!r} has shape {scores.shape}; expected one score per image "
                         f"({n}, 1) as modelspec.tensors says")
    return scores.reshape(n)


def to_tags(outputs: dict[str, np.ndarray], *, top_k: int, threshold: Callable[[str], float], ood_threshold: float,
            image_reasons: Sequence[Sequence[ReviewReason]] | None = None) -> list[Tagged]:
    """One :class:`Tagged` per row of the batch; vectorised per head.

    ``image_reasons`` holds the image-quality reasons of each row (none when left out).
    """
    n = outputs[OOD_OUTPUT].shape[0]
    if image_reasons is not None and len(image_reasons) != n:
        raise ValueError(f"image_reasons has {len(image_reasons)} rows for a batch of {n}")
    tags, low = _heads(outputs, n, top_k, threshold)
    ood = ood_scores(outputs, n)
    valid = np.isfinite(ood) & (ood >= 0.0)
    out_of_distribution = ~valid | (ood > ood_threshold)
    result = []
    for row in range(n):
        found = set(image_reasons[row]) if image_reasons is not None else set()
        if low[row]:
            found.add(ReviewReason.LOW_CONFIDENCE)
        if out_of_distribution[row]:
            found.add(ReviewReason.OUT_OF_DISTRIBUTION)
        reasons = [reason for reason in ReviewReason if reason in found]
        whole_image = any(reason.whole_image for reason in reasons)
        result.append(Tagged(attributes=tags[row], needs_review=list(ATTRIBUTE_NAMES) if whole_image else low[row],
                             review_reasons=reasons, ood_score=float(ood[row]) if valid[row] else None))
    return result


def _heads(outputs: dict[str, np.ndarray], n: int, top_k: int, threshold: Callable[[str], float],
           ) -> tuple[list[dict[str, AttributeJson]], list[list[str]]]:
    """Every row's attribute tags, and the attributes under their confidence threshold. A NaN probability
    counts as 0 (the model vouches for nothing there)."""
    tags: list[dict[str, AttributeJson]] = [{} for _ in range(n)]
    low: list[list[str]] = [[] for _ in range(n)]
    for attribute in ATTRIBUTES:
        probs = np.nan_to_num(outputs[output_name(attribute.name)], nan=0.0)
        k = min(top_k, attribute.size)
        top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        scores = np.take_along_axis(probs, top, axis=1).clip(0.0, 1.0).tolist()
        limit = threshold(attribute.name)
        classes, name = attribute.classes, attribute.name
        for row, (indices, row_scores) in enumerate(zip(top.tolist(), scores, strict=True)):
            alternatives: list[LabelScoreJson] = [{"label": classes[i], "score": s}
                                                  for i, s in zip(indices, row_scores, strict=True)]
            tags[row][name] = {"label": classes[indices[0]], "confidence": row_scores[0], "top_k": alternatives}
            if row_scores[0] < limit:
                low[row].append(name)
    return tags, low


#: Event ids are hashed with this prefix, so that the audit sample is independent of any other hash of the id.
_AUDIT_SALT = b"tagstream-audit:"


def audit_draw(event_id: str) -> float:
    """The event's place in [0, 1) for the audit sample: the first 53 bits of SHA-256 of the salted id, as a
    fraction of 2**53 (exact in a float, so never 1.0). The same id gives the same draw in every process, on
    every run (Python's ``hash()`` of a string is salted per process; this is not)."""
    digest = hashlib.sha256(_AUDIT_SALT + event_id.encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / 2.0**53


def in_audit_sample(event_id: str, share: float) -> bool:
    """Whether the tag answering ``event_id`` goes to review as an audit item: its draw is under ``share``.

    The decision is a function of the event id alone. A re-delivered event (a crash before the commit, a
    rebalance) or a replayed dead letter decides as it did the first time, so its audit item is published again
    under the same ``event_id`` rather than added or dropped; and raising the share keeps every tag the smaller
    share picked. Over distinct ids, SHA-256 makes the draws uniform: the sample is ``share`` of the tags, by
    chance alone, whatever the model says of them.
    """
    return share > 0.0 and audit_draw(event_id) < share
