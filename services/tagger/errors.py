"""Tagger errors besides bad input (``modelspec.errors.InputError``, dead-lettered): outages, to pause and retry."""

from __future__ import annotations

from contracts.errors import TagstreamError


class InferenceUnavailable(TagstreamError):
    """Triton cannot answer right now. Not the event's fault: pause, back off, retry.

    ``retry_after_s`` is how long the server asked us to wait, when it said; the infer stage waits at least
    that long and at least its own backoff (``policy.retry_wait``).
    """

    code = "inference_unavailable"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message, hint="check `tagstream status` and the Triton log")
        self.retry_after_s = retry_after_s


class VersionRetired(TagstreamError):
    """A call to a model version failed, and the rollout in force routes nothing to that version any more (rolled
    back, or replaced by the candidate): its events are routed again instead of waiting for it."""

    code = "version_retired"


class CandidateFailing(TagstreamError):
    """Calls to a rollout's candidate version keep failing while Triton serves stable: the candidate's fault, not an
    outage. Its events are tagged by stable instead, each counted as one the candidate failed."""

    code = "candidate_failing"
