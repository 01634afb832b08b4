"""From per-head probabilities to tags: label, confidence, top-k, and which attributes need review."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from contracts import AttributeTag, LabelScore
from services.model.serving import output_name
from services.model.taxonomy import ATTRIBUTES


def to_tags(outputs: dict[str, np.ndarray], *, top_k: int, threshold: Callable[[str], float],
            ) -> list[tuple[dict[str, AttributeTag], list[str]]]:
    """One (attributes, needs_review) pair per row of the batch; vectorised per head."""
    n = next(iter(outputs.values())).shape[0]
    tags: list[dict[str, AttributeTag]] = [{} for _ in range(n)]
    review: list[list[str]] = [[] for _ in range(n)]
    for attribute in ATTRIBUTES:
        probs = outputs[output_name(attribute.name)]
        k = min(top_k, attribute.size)
        top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        scores = np.take_along_axis(probs, top, axis=1).clip(0.0, 1.0).tolist()
        limit = threshold(attribute.name)
        for row in range(n):
            labels = [attribute.classes[i] for i in top[row]]
            alternatives = [LabelScore(label=lab, score=s) for lab, s in zip(labels, scores[row], strict=True)]
            tags[row][attribute.name] = AttributeTag(label=labels[0], confidence=scores[row][0], top_k=alternatives)
            if scores[row][0] < limit:
                review[row].append(attribute.name)
    return list(zip(tags, review, strict=True))
