"""Which review threshold an attribute of a tag is held to: the thresholds of the model version that made the tag.

Every exported version carries risk-controlled thresholds (``contracts.ReviewThresholds``: per attribute, the
lowest calibrated confidence at which accepted labels reach a target precision), published in its ``ModelCard``
on the compacted ``tagstream.models``. The tagger follows that topic (``model_cards``) and, for each answer,
holds every attribute to a limit: the attribute needs review when its confidence is under the limit. Per
attribute, first match wins:

1. ``TAGSTREAM_REVIEW_THRESHOLDS`` names the attribute: an operator's override, for every version;
2. the version's card has thresholds: the attribute's threshold; an attribute without one (its target is reached
   at no threshold) or missing from the card always needs review (limit +inf);
3. the version has no card, or a card without thresholds: ``TAGSTREAM_REVIEW_THRESHOLD``, with one warning per
   version (a card that arrives later is used from then on, and said so in the log).

Limits are worked out once per version and card, so the infer stage's lookup per batch is a dict read.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from contracts import ModelCard, ModelRef, Topics, card_key
from modelspec.taxonomy import ATTRIBUTE_NAMES
from runtime.compacted import CompactedFollower
from runtime.settings import KafkaSettings
from services.tagger.settings import TaggerSettings

log = logging.getLogger(__name__)

#: The limit of an attribute that always needs review: no confidence reaches it.
ALWAYS_REVIEW = math.inf

CardLookup = Callable[[ModelRef], ModelCard | None]


def model_cards(settings: KafkaSettings, *, client_id: str) -> CompactedFollower[ModelCard]:
    """A follower of ``tagstream.models`` (start it; ``cards_of`` turns it into a lookup by version)."""
    return CompactedFollower(settings, Topics.MODELS.name, ModelCard.model_validate_json, client_id=client_id)


def cards_of(follower: CompactedFollower[ModelCard]) -> CardLookup:
    return lambda model: follower.latest(card_key(model))


def _no_cards(_: ModelRef) -> ModelCard | None:
    return None


@dataclass(frozen=True)
class Limits:
    """One version's limit per attribute; call it with an attribute's name (what ``postprocess.to_tags`` takes)."""

    limits: Mapping[str, float]
    source: str  # where they came from, for the log

    def __call__(self, attribute: str) -> float:
        return self.limits.get(attribute, ALWAYS_REVIEW)

    def needs_review(self, attribute: str, confidence: float) -> bool:
        return confidence < self(attribute)


class VersionThresholds:
    """The limits of each model version, from its card, the settings' overrides and the fallback. Thread-safe."""

    def __init__(self, cards: CardLookup, *, fallback: float, overrides: Mapping[str, float]) -> None:
        self._cards = cards
        self._fallback = fallback
        self._overrides = dict(overrides)
        self._lock = threading.Lock()
        self._known: dict[ModelRef, tuple[ModelCard | None, Limits]] = {}
        self._warned: set[ModelRef] = set()

    @classmethod
    def of(cls, settings: TaggerSettings, cards: CardLookup | None = None) -> VersionThresholds:
        """The tagger's: ``cards`` from ``tagstream.models`` (None: no card known), the fallback and overrides
        from ``settings``."""
        return cls(cards or _no_cards, fallback=settings.review_threshold, overrides=settings.review_thresholds)

    def __call__(self, model: ModelRef) -> Limits:
        card = self._cards(model)
        with self._lock:
            known = self._known.get(model)
            if known is not None and known[0] is card:
                return known[1]
            limits = self._limits(model, card)
            self._known[model] = (card, limits)
            warn = (card is None or card.review is None) and model not in self._warned
            if warn:
                self._warned.add(model)
        self._log(model, card, limits, warn=warn)
        return limits

    def _limits(self, model: ModelRef, card: ModelCard | None) -> Limits:
        overridden = f"; overridden by TAGSTREAM_REVIEW_THRESHOLDS for {', '.join(sorted(self._overrides))}" \
            if self._overrides else ""
        if card is None or card.review is None:
            base = dict.fromkeys(ATTRIBUTE_NAMES, self._fallback)
            source = f"TAGSTREAM_REVIEW_THRESHOLD={self._fallback}"
        else:
            base = {name: ALWAYS_REVIEW if entry.threshold is None else entry.threshold
                    for name, entry in card.review.attributes.items()}
            source = f"its model card ({card.review.method}, registered " \
                     f"{card.registered_at.isoformat()})"
        return Limits({**base, **self._overrides}, source + overridden)

    def _log(self, model: ModelRef, card: ModelCard | None, limits: Limits, *, warn: bool) -> None:
        name = card_key(model)
        if card is None or card.review is None:
            if warn:  # one warning per version and process
                why = "no model card" if card is None else "a model card without review thresholds"
                log.warning("%s has %s on %s: its tags are held to %s for every attribute until one is registered "
                            "(`tagstream model register`)", name, why, Topics.MODELS.name, limits.source)
            return
        always = sorted(a for a, limit in limits.limits.items() if limit == ALWAYS_REVIEW)
        log.info("review thresholds of %s from %s; always to review: %s", name, limits.source,
                 ", ".join(always) or "none")
