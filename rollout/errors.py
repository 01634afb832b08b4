"""Errors of the rollout room: a plan that does not validate, a refused operator command, a failing dependency."""

from __future__ import annotations

from contracts.errors import TagstreamError


class RolloutError(TagstreamError):
    code = "rollout_error"


class PlanError(RolloutError):
    """A plan file that does not validate; ``problems`` lists each as ``file:line: field: what is wrong``."""

    code = "plan_invalid"

    def __init__(self, message: str, *, problems: list[str] | None = None, field: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, field=field, hint=hint)
        self.problems = problems or []

    def __str__(self) -> str:
        text = super().__str__()
        return text if not self.problems else text + "\n" + "\n".join(f"  {p}" for p in self.problems)


class Refused(RolloutError):
    """An operator command that does not apply to the rollout as it stands; nothing changed.

    ``code`` says which refusal (``no_rollout``, ``rollout_running``, ``awaiting_approval``...), so the API can
    map it and scripts can key on it.
    """

    code = "refused"


class ServingError(RolloutError):
    """Triton (or the local host) did not load or unload a model version as asked."""

    code = "serving_failed"


class StatePublishError(RolloutError):
    """The rollout state could not be written to (or read from) ``tagstream.rollout``."""

    code = "state_unavailable"


class MetricSourceError(RolloutError):
    """A metric source did not answer; the measurement that needed it is an error, counted, never raised further."""

    code = "metric_source_failed"
