"""Which model serves an event, on which arm, and whose answer is published: the rollout's seam in the tagger.

The router reads one :class:`contracts.RolloutState` (spec and status, from the compacted
``tagstream.rollout`` topic) or none, and answers a :class:`Route` per event. The infer stage calls
every model a route names, grouped by model and version; the publish stage puts the published answer
on ``catalog.tags`` (and ``catalog.review`` when doubtful) and every shadow answer on
``catalog.tags.shadow``. No other stage knows about rollouts.

Today every event is served by the stable version on the stable arm, whatever the stage: the rollout
work fills in :meth:`Router.route` (shadow copies, pilot cohorts, canary shares by a stable hash of
``product_id``) without touching the other stages.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from contracts import CatalogEvent, RolloutArm, RolloutState


@dataclass(frozen=True)
class ModelCall:
    """One model version on Triton, and the arm its answer counts for."""

    model: str
    version: str  # empty: the version Triton serves under this name by default (its latest, or the pinned one)
    arm: RolloutArm

    @property
    def target(self) -> tuple[str, str]:
        """What the infer stage groups a batch by: one Triton request per (model, version)."""
        return self.model, self.version


@dataclass(frozen=True)
class Route:
    """Where one event goes: the call whose answer is published, and calls whose answers are only shadowed."""

    revision: int
    publish: ModelCall
    shadow: tuple[ModelCall, ...] = ()

    @property
    def calls(self) -> tuple[ModelCall, ...]:
        return self.publish, *self.shadow


class Router:
    """Routes events by the rollout state in force; :meth:`update` swaps the state from any thread."""

    def __init__(self, model: str, version: str = "", state: RolloutState | None = None) -> None:
        self._model = model
        self._version = version
        self._lock = threading.Lock()
        self._route = self._stable(state)

    def update(self, state: RolloutState | None) -> None:
        """Follow a new rollout state (None: no rollout known). Events routed afterwards see it."""
        route = self._stable(state)
        with self._lock:
            self._route = route

    def route(self, event: CatalogEvent) -> Route:
        """The route of one event. Today the stable version serves every event, published on the stable arm."""
        with self._lock:
            return self._route

    def _stable(self, state: RolloutState | None) -> Route:
        if state is None:
            return Route(revision=0, publish=ModelCall(self._model, self._version, RolloutArm.STABLE))
        return Route(revision=state.status.revision,
                     publish=ModelCall(state.spec.model, state.spec.stable_version, RolloutArm.STABLE))
