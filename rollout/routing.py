"""Which version tags an event, on which arm: the decision the tagger's router makes per event, as a pure function.

- No rollout, or rolled back: stable tags everything (arm ``stable``).
- **shadow**: stable tags and publishes; the candidate tags the same event too, to ``catalog.tags.shadow`` only
  (arm ``shadow``).
- **pilot**: the candidate serves the cohort (its merchants, its categories, and the products whose hash falls
  under its hash share) on arm ``candidate``; stable serves the rest.
- **canary**: the candidate serves the products whose hash falls under the share.
- **full**: the candidate serves everything (arm ``candidate``) until the rollout completes and it is the stable
  version.

The hash is a stable hash of product_id (BLAKE2b, not Python's salted ``hash``), mapped to [0, 1): a product keeps
its version within a stage, on every tagger and after restarts, and a larger share keeps every product of a
smaller one (the candidate's products only ever grow from pilot to canary to full). In pilot and canary, an event
the candidate serves whose *second* hash (salted, so independent of the first) falls under ``compare_share`` is
tagged by stable as well, to ``catalog.tags.shadow`` (arm ``stable``): the pairs the disagreement guardrail needs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from contracts import RolloutArm, RolloutStage, RolloutState

_SCALE = float(2**64)
_COMPARE_SALT = b"tagstream-compare"


def bucket(product_id: str, *, salt: bytes = b"") -> float:
    """A stable number in [0, 1) for ``product_id``: the same on every process and every run."""
    digest = hashlib.blake2b(product_id.encode(), digest_size=8, key=salt).digest()
    return int.from_bytes(digest, "big") / _SCALE


@dataclass(frozen=True)
class Target:
    """One inference to run for an event: which version, on which arm, published or to the shadow topic."""

    version: str
    arm: RolloutArm
    published: bool  # to catalog.tags (and review); False: to catalog.tags.shadow only


@dataclass(frozen=True)
class Route:
    """Everything one event needs: the tag that is published, and any tag written to the shadow topic."""

    revision: int
    publish: Target
    shadow: Target | None = None


def route(state: RolloutState | None, *, product_id: str, merchant_id: str = "", category: str | None = None,
          stable_version: str = "") -> Route:
    """The route of one event under ``state`` (None: no state known yet, so ``stable_version`` serves)."""
    if state is None:
        return Route(0, Target(stable_version, RolloutArm.STABLE, True))
    status, spec = state.status, state.spec
    stable = Target(spec.stable_version, RolloutArm.STABLE, True)
    candidate = spec.candidate_version
    if candidate is None or status.stage in (RolloutStage.STABLE, RolloutStage.ROLLED_BACK):
        return Route(status.revision, stable)
    if status.stage is RolloutStage.SHADOW:
        return Route(status.revision, stable, Target(candidate, RolloutArm.SHADOW, False))
    if status.stage is RolloutStage.FULL:
        return Route(status.revision, Target(candidate, RolloutArm.CANDIDATE, True))
    if not _serves_candidate(state, product_id, merchant_id, category):
        return Route(status.revision, stable)
    compared = bucket(product_id, salt=_COMPARE_SALT) < status.compare_share
    reference = Target(spec.stable_version, RolloutArm.STABLE, False) if compared else None
    return Route(status.revision, Target(candidate, RolloutArm.CANDIDATE, True), reference)


def _serves_candidate(state: RolloutState, product_id: str, merchant_id: str, category: str | None) -> bool:
    status = state.status
    if status.stage is RolloutStage.PILOT:
        cohort = status.pilot_cohort
        return (merchant_id in cohort.merchants or (category is not None and category in cohort.categories)
                or bucket(product_id) < cohort.hash_share)
    return bucket(product_id) < status.traffic_share
