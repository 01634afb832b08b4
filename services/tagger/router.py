"""Which model serves an event, on which arm, and whose answer is published: the rollout's seam in the tagger.

The router holds the rollout state in force (the latest :class:`contracts.RolloutState` of its model on the
compacted ``tagstream.rollout`` topic, handed to :meth:`Router.update` by the process's ``RolloutFollower``), and
answers a :class:`Route` per event with ``rollout.routing.route``, a pure function of that state and the event:

- no rollout (or rolled back): the stable version serves everything, on the stable arm;
- **shadow**: stable publishes; the candidate tags the same event to ``catalog.tags.shadow`` only (arm shadow);
- **pilot**: the cohort (its merchants, its categories, products whose hash is under its hash share) is served by
  the candidate (arm candidate); **canary**: products whose hash of ``product_id`` is under the share are;
  in both, the compare share of the candidate's events is tagged by stable too, to the shadow topic, for the
  disagreement guardrail;
- **full**: the candidate serves everything until the rollout completes and the candidate is the stable version.

The hash is BLAKE2b of ``product_id``: the same on every tagger, so a product keeps its version within a stage, and
a larger share keeps the products of a smaller one. The route is decided once per event, when the poll stage
accepts it, and travels with the event (``work.Valid``): a batch in flight finishes under the state it started
with, whatever the state is by the time it reaches Triton. The infer stage calls every model a route names,
grouped by (model, version), addressed on Triton by the tagger's ``triton_addressing``; the publish stage puts the
published answer on ``catalog.tags`` (and ``catalog.review`` when doubtful) and every other answer on
``catalog.tags.shadow``. No other stage knows about rollouts.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from contracts import CatalogEvent, RolloutArm, RolloutStage, RolloutState
from rollout.routing import Target, route
from services.tagger import metrics

log = logging.getLogger(__name__)

#: Stages in which the candidate version is still called (and must stay loaded on Triton).
_CANDIDATE_STAGES = frozenset({RolloutStage.SHADOW, RolloutStage.PILOT, RolloutStage.CANARY, RolloutStage.FULL})


@dataclass(frozen=True)
class ModelCall:
    """One model version on Triton, and the arm its answer counts for."""

    model: str  # the model's own name (``catalog_tagger``): what tags name; the infer stage addresses it on Triton
    version: str  # empty: the version Triton serves under this name by default (its latest, or the pinned one)
    arm: RolloutArm

    @property
    def target(self) -> tuple[str, str]:
        """What the infer stage groups a batch by: one Triton request per (model, version)."""
        return self.model, self.version


@dataclass(frozen=True)
class Route:
    """Where one event goes: the call whose answer is published, and calls whose answers go to the shadow topic."""

    revision: int
    publish: ModelCall
    shadow: tuple[ModelCall, ...] = ()
    #: the candidate version this event was routed to and that kept failing, so stable tagged it instead
    failed_version: str = ""

    @property
    def calls(self) -> tuple[ModelCall, ...]:
        return self.publish, *self.shadow

    def without(self, target: tuple[str, str], stable: ModelCall) -> Route:
        """This route with a failing candidate ``target`` taken out: a shadow call of it dropped; a published call
        of it replaced by ``stable`` (with no shadow copy, which would be stable's again), remembering the version."""
        if self.publish.target != target:
            return Route(self.revision, self.publish, tuple(c for c in self.shadow if c.target != target),
                         self.failed_version)
        return Route(self.revision, stable, (), failed_version=target[1])


class Router:
    """Routes events by the rollout state in force; :meth:`update` swaps the state from any thread.

    ``model`` and ``version`` serve every event until a rollout state of ``model`` arrives (version empty: Triton's
    default version of the name). States of other models are ignored.
    """

    def __init__(self, model: str, version: str = "", state: RolloutState | None = None) -> None:
        self._model = model
        self._version = version
        self._lock = threading.Lock()
        self._state: RolloutState | None = None
        self.update(state)

    @property
    def state(self) -> RolloutState | None:
        with self._lock:
            return self._state

    @property
    def revision(self) -> int:
        state = self.state
        return state.status.revision if state is not None else 0

    def update(self, state: RolloutState | None) -> None:
        """Follow a new rollout state (None: none known). Events routed afterwards see it; events already routed
        keep their route."""
        if state is not None and state.spec.model != self._model:
            return
        with self._lock:
            before, self._state = self._state, state
        if state is None:
            return
        status = state.status
        changed = before is None or before.status.revision != status.revision
        metrics.show_route(status.revision, status.stage.value, applied_at=time.time() if changed else None)
        if changed:
            step = f" {status.step}" if status.step and status.stage in _CANDIDATE_STAGES else ""
            log.info("routing by rollout revision %d: %s%s%s (stable %s, candidate %s)", status.revision,
                     status.stage.value, step,
                     f", share {status.traffic_share:.0%}" if status.stage is RolloutStage.CANARY else "",
                     state.spec.stable_version, state.spec.candidate_version or "-")

    def route(self, event: CatalogEvent) -> Route:
        """The route of one event under the state in force now."""
        state = self.state
        data = event.data
        decided = route(state, product_id=data.product_id, merchant_id=data.merchant_id, category=data.category_hint,
                        stable_version=self._version)
        model = self._model if state is None else state.spec.model
        publish = self._call(model, decided.publish)
        if decided.shadow is None:
            return Route(decided.revision, publish)
        return Route(decided.revision, publish, (self._call(model, decided.shadow),))

    def stable(self, model: str) -> ModelCall:
        """The call that tags ``model``'s events by its stable version under the state in force."""
        state = self.state
        version = state.spec.stable_version if state is not None and state.spec.model == model else self._version
        return ModelCall(model, version, RolloutArm.STABLE)

    def serves(self, model: str, version: str) -> bool:
        """Whether the state in force still routes any event to ``version`` of ``model`` (False once a rollout moved
        past it: a candidate rolled back, or the old stable version after the candidate became stable)."""
        state = self.state
        if state is None:
            return (model, version) == (self._model, self._version)
        spec = state.spec
        if model != spec.model:
            return False
        return version == spec.stable_version or (
            version == spec.candidate_version and state.status.stage in _CANDIDATE_STAGES)

    @staticmethod
    def _call(model: str, target: Target) -> ModelCall:
        return ModelCall(model, target.version, target.arm)
