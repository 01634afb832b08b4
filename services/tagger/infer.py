"""The infer stage: micro-batches to Triton, one request per model version that the batch's routes name.

``inference_workers`` threads each take a batch from the micro-batcher, drop what a rebalance took
away, group the rest by (model, version) from their routes, and call Triton once per group. A
failed call is retried as the error policy says (``policy.retry_wait``: the wait the error asks for,
or an exponential backoff) while ``triton_down`` pauses consumption; an outage never dead-letters.
Each answer is turned into tags (``postprocess.to_tags``, held to the review thresholds of the version
that answered: ``thresholds.py``) and the event goes on to the publish stage with every answer its route
asked for.

**Addressing.** A route names the model as tags name it (``catalog_tagger``) and a version; Triton is called at
``contracts.triton_target(model, version, settings.triton_addressing)``: the version number of one name on
production Triton, ``catalog_tagger_v<N>`` on the local host (an empty version: the name's default version).

**A version the rollout left.** Events keep the route they were given when read, so a batch finishes under the
state it started with; the controller keeps an old version loaded for a grace period after a rollback or a
completed rollout for that. If a call to a version fails and the state in force no longer routes to that version
at all (the grace ran out during an outage, say), waiting would never end: those events are routed again under
the state in force, and logged.

**A candidate that keeps failing.** A call for a rollout's candidate that fails ``candidate_attempts`` times in a
row while Triton serves stable is the candidate's fault, not an outage: waiting would hold every event of the
tagger behind it. The batch's events routed to the candidate are tagged by stable instead (a shadow copy is
dropped), as are those of the next ``candidate_pause_s`` without trying it again, and their tags carry the candidate's version in the ``tagstream-rollout-failed-version`` header, which
the rollout's error-rate guardrail counts as failures of the candidate. When stable does not answer either, it
is an outage, and everything waits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np

from contracts import ModelRef, RolloutArm, triton_target
from modelspec.preprocess import stack
from services.tagger import metrics, policy
from services.tagger.batcher import MicroBatcher
from services.tagger.errors import CandidateFailing, InferenceUnavailable, VersionRetired
from services.tagger.inference import TritonTagger
from services.tagger.policy import Action, Stage
from services.tagger.postprocess import to_tags
from services.tagger.router import ModelCall, Router
from services.tagger.settings import TaggerSettings
from services.tagger.thresholds import VersionThresholds
from services.tagger.work import Answer, Inferred, Loaded

log = logging.getLogger(__name__)

#: The first wait after a failed call; it doubles up to ``triton_backoff_max_s``.
FIRST_BACKOFF_S = 0.2


class InferStage:
    def __init__(self, triton: TritonTagger, batcher: MicroBatcher[Loaded], settings: TaggerSettings, *,
                 owns: Callable[[Loaded], bool], on_inferred: Callable[[Inferred], None],
                 on_fatal: Callable[[BaseException], None],
                 wait: Callable[[float], bool] | None = None, router: Router | None = None,
                 thresholds: VersionThresholds | None = None) -> None:
        self.triton = triton
        self.thresholds = thresholds or VersionThresholds.of(settings)
        self.batcher = batcher
        self.settings = settings
        self.triton_down = threading.Event()
        self._owns = owns
        self._on_inferred = on_inferred
        self._on_fatal = on_fatal
        self._stop = threading.Event()
        self._wait = wait or self._stop.wait
        self._router = router
        self._failing: dict[tuple[str, str], float] = {}  # candidate target -> until when its events go to stable
        self._models: dict[tuple[str, str], ModelRef] = {}
        self._last_outage_log = 0.0
        self._workers = [threading.Thread(target=self._run, name=f"infer-{i}", daemon=True)
                         for i in range(settings.inference_workers)]

    def start(self) -> None:
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        """Finish the batches in hand (or give up on them during an outage: they stay uncommitted)."""
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=self.settings.triton_timeout_s + 1)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self.batcher.next_batch(idle_timeout_s=0.1)
                fresh = [item for item in batch if self._owns(item)]  # the rest belongs to another tagger now
                if fresh and not self.infer(fresh):
                    return
        except Exception as e:  # a bug here must stop the pipeline, not leave its events in flight forever
            log.exception("the infer stage failed")
            self._on_fatal(e)

    def infer(self, batch: list[Loaded]) -> bool:
        """Answer every call of every item's route; False when stopped (or stopping on an error) first."""
        groups: dict[tuple[str, str], list[int]] = {}
        for i, item in enumerate(batch):
            for target in dict.fromkeys(call.target for call in item.valid.route.calls):
                groups.setdefault(target, []).append(i)
        answers: list[dict[ModelCall, Answer]] = [{} for _ in batch]
        for (model, version), rows in groups.items():
            if time.monotonic() < self._failing.get((model, version), 0.0):  # a candidate failing moments ago
                return self.infer(self._fallback(batch, model, version))
            images = stack([batch[i].image for i in rows])
            arms = {call.arm for i in rows for call in batch[i].valid.route.calls if call.target == (model, version)}
            try:
                called = self._call(model, version, images, arms)
            except VersionRetired:
                return self.infer(self._reroute(batch, model, version))
            except CandidateFailing:
                self._failing[(model, version)] = time.monotonic() + self.settings.candidate_pause_s
                return self.infer(self._fallback(batch, model, version))
            if called is None:
                return False
            outputs, ref, elapsed_ms = called
            tags = to_tags(outputs, top_k=self.settings.top_k, threshold=self.thresholds(ref),
                           ood_threshold=self.settings.ood_threshold,
                           image_reasons=[batch[i].quality for i in rows])
            for i, tagged in zip(rows, tags, strict=True):
                for call in batch[i].valid.route.calls:
                    if call.target == (model, version):
                        answers[i][call] = Answer(call=call, model=ref, tagged=tagged, inference_ms=elapsed_ms)
        for item, found in zip(batch, answers, strict=True):
            self._on_inferred(Inferred(loaded=item, answers=tuple(found[call] for call in item.valid.route.calls)))
        return True

    def address(self, model: str, version: str) -> tuple[str, str]:
        """Where Triton serves ``version`` of ``model`` for this tagger (an empty version: the name's default)."""
        return (model, "") if not version else triton_target(model, version, self.settings.triton_addressing)

    def _call(self, model: str, version: str, images: np.ndarray, arms: Iterable[RolloutArm] = (),
              ) -> tuple[dict[str, np.ndarray], ModelRef, float] | None:
        """Triton's outputs for ``images``, the model that answered and the time; None when stopped first. Raises
        ``VersionRetired`` when the call failed and the state in force routes nothing to this version any more."""
        backoff = FIRST_BACKOFF_S
        name, number = self.address(model, version)
        failures = 0
        while not self._stop.is_set():
            start = time.perf_counter()
            try:
                outputs = self.triton.infer(images, model=name, version=number)
                ref = self._model(model, version)
            except Exception as e:  # the policy decides; by default every failure is retried
                for arm in arms:
                    metrics.TRITON_ERRORS_BY_ARM.labels(arm.value).inc()
                if policy.decide(Stage.INFER, e) is not Action.RETRY:
                    self._on_fatal(e)
                    return None
                if self._router is not None and not self._router.serves(model, version):
                    log.warning("version %s of %s failed (%s) and rollout revision %d routes nothing to it any "
                                "more: its events are routed again", version, model, e, self._router.revision)
                    raise VersionRetired(f"version {version} of {model} failed and is retired: {e}") from e
                failures += 1
                if self._candidate_failing(model, version, arms, failures):
                    log.warning("candidate version %s of %s failed %d calls in a row (%s) while stable answers: its "
                                "events of this batch go to stable, counted as failed by the candidate",
                                version, model, failures, e)
                    raise CandidateFailing(f"candidate version {version} of {model} keeps failing: {e}") from e
                self._outage(e)
                self._wait(policy.retry_wait(e, backoff))
                backoff = min(backoff * 2, self.settings.triton_backoff_max_s)
                continue
            elapsed = time.perf_counter() - start
            if self.triton_down.is_set():
                log.info("Triton answers again at %s; resuming", self.triton.url)
                self.triton_down.clear()
            metrics.TRITON_UP.set(1)
            metrics.INFERENCE_SECONDS.observe(elapsed)
            for arm in arms:
                metrics.INFERENCE_BY_ARM.labels(arm.value).observe(elapsed)
            metrics.BATCH_SIZE.observe(images.shape[0])
            return outputs, ref, elapsed * 1000
        return None

    def _candidate_failing(self, model: str, version: str, arms: Iterable[RolloutArm], failures: int) -> bool:
        """A call for a rollout's candidate (no stable arm) failed ``candidate_attempts`` times and stable answers:
        the candidate's fault, not an outage (then stable fails too, and everything waits)."""
        arms = set(arms)
        if self._router is None or not arms or RolloutArm.STABLE in arms:
            return False
        if failures < self.settings.candidate_attempts:
            return False
        stable = self._router.stable(model)
        return stable.version != version and self.triton.ready(*self.address(model, stable.version))

    def _fallback(self, batch: list[Loaded], model: str, version: str) -> list[Loaded]:
        """``batch`` with the failing candidate ``version`` of ``model`` taken out of every route: its shadow calls
        dropped, the events it was to publish tagged by stable (``Route.failed_version`` says so on the tag)."""
        if self._router is None:
            return batch
        stable = self._router.stable(model)
        out = []
        for item in batch:
            route = item.valid.route
            if any(call.target == (model, version) for call in route.calls):
                route = route.without((model, version), stable)
                if route.failed_version:
                    metrics.CANDIDATE_FALLBACKS.inc()
                item = replace(item, valid=replace(item.valid, route=route))
            out.append(item)
        return out

    def _reroute(self, batch: list[Loaded], model: str, version: str) -> list[Loaded]:
        """``batch`` with every item whose route names ``version`` of ``model`` routed again under the state in
        force (which no longer routes to that version, so this ends)."""
        router = self._router
        if router is None:  # only called when a router said the version is retired
            return batch
        return [replace(item, valid=replace(item.valid, route=router.route(item.valid.event)))
                if any(call.target == (model, version) for call in item.valid.route.calls) else item
                for item in batch]

    def _model(self, model: str, version: str) -> ModelRef:
        """The model and version that answered; an unpinned version is asked of Triton once."""
        ref = self._models.get((model, version))
        if ref is None:
            ref = ModelRef(name=model, version=self.triton.served_version(model, version))
            self._models[(model, version)] = ref
        return ref

    def _outage(self, error: Exception) -> None:
        metrics.TRITON_ERRORS.inc()
        metrics.TRITON_UP.set(0)
        self.triton_down.set()
        now = time.monotonic()
        if now - self._last_outage_log > 10:
            self._last_outage_log = now
            kind = "unavailable" if isinstance(error, InferenceUnavailable) else f"error ({type(error).__name__})"
            log.warning("Triton %s: %s; consumption paused, retrying with backoff", kind, error)
