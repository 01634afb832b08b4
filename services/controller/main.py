"""The controller process: wire settings, clients, the controller and its API; reconcile until SIGTERM.

Start-up: read ``tagstream.rollout`` to its end (the state in force), take the current stage's rounds from the
audit history, then reconcile every ``reconcile_interval_s`` while the API serves in a thread. SIGTERM or SIGINT
finishes the pass under way and exits 0. Bad settings, a missing token or an unreachable broker at start are one
line and exit status 2.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from types import FrameType

import uvicorn
from kafka.errors import KafkaError
from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsError

from contracts import ReferenceProfile, TagstreamError
from modelspec.repository import PROFILE_FILE
from rollout.api import create_app
from rollout.audit import AuditLog
from rollout.controller import Controller
from rollout.errors import RolloutError
from rollout.serving import TritonRepository
from rollout.sources.prometheus import PrometheusSource
from rollout.sources.topics import TopicSource
from rollout.statetopic import RolloutFollower, StateWriter
from runtime.logs import configure
from services.controller.settings import ControllerSettings

log = logging.getLogger("services.controller")


class ReferenceProfileLoader:
    """The reference profile of a version from the model repository, read once per version (None when absent)."""

    def __init__(self, repository: Path | None, model: str) -> None:
        self._repository, self._model = repository, model
        self._cache: dict[str, ReferenceProfile | None] = {}

    def __call__(self, version: str) -> ReferenceProfile | None:
        if version not in self._cache:
            path = self._repository / self._model / version / PROFILE_FILE if self._repository else None
            try:
                self._cache[version] = (ReferenceProfile.model_validate_json(path.read_text())
                                        if path is not None and path.is_file() else None)
            except (OSError, ValidationError) as e:
                log.warning("no usable reference profile at %s: %s", path, e)
                self._cache[version] = None
        return self._cache[version]


def main() -> int:
    try:
        settings = ControllerSettings()
    except (ValidationError, SettingsError) as e:
        print(f"controller: invalid settings: {e}", file=sys.stderr)
        return 2
    configure(settings.log_level, name="controller")
    token = settings.api_token()
    if token is None:
        log.error("no API token: set TAGSTREAM_ROLLOUT_API_TOKEN or TAGSTREAM_ROLLOUT_API_TOKEN_FILE")
        return 2
    log.info("starting with %s", settings.redacted())
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: stopping after this pass", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        return _run(settings, token.get_secret_value(), stop)
    except (TagstreamError, KafkaError) as e:
        log.error("cannot run the controller: %s", e)
        return 2


def _run(settings: ControllerSettings, token: str, stop: threading.Event) -> int:
    with ExitStack() as stack:
        follower = RolloutFollower(settings, client_id="rollout-controller-start")
        follower.start()
        stack.callback(follower.stop)
        if not follower.wait_caught_up(settings.state_timeout_s):
            log.error("could not read tagstream.rollout to its end within %.0f s (broker at %s)",
                      settings.state_timeout_s, settings.kafka_bootstrap)
            return 2
        writer = StateWriter(settings)
        stack.callback(writer.close)
        audit = AuditLog(settings.audit_path)
        stack.callback(audit.close)
        source = TopicSource(settings, settings.model, reference=ReferenceProfileLoader(settings.model_repository,
                                                                                         settings.model),
                             max_records=settings.window_max_records)
        source.start()
        stack.callback(source.stop)
        prometheus = (PrometheusSource(settings.prometheus_url, timeout_s=settings.prometheus_timeout_s)
                      if settings.prometheus_url else None)
        serving = TritonRepository(settings.triton_repository_url, settings.model,
                                   header=settings.triton_repository_header, key=settings.triton_key())
        controller = Controller(model=settings.model, stable_version=settings.stable_version, publisher=writer,
                                audit=audit, source=source, serving=serving, prometheus=prometheus,
                                unload_grace_s=settings.unload_grace_s)
        controller.recover(follower.latest(settings.model))
        follower.stop()
        healthy = threading.Event()

        def ready() -> tuple[bool, dict[str, object]]:
            ok = healthy.is_set() and source.healthy
            return ok, {"reconciling": healthy.is_set(), "tag_topics": source.healthy}

        app = create_app(controller, token=SecretStr(token), ready=ready)
        server = uvicorn.Server(uvicorn.Config(app, host=settings.api_host, port=settings.api_port, log_level="warning",
                                               access_log=False, lifespan="off"))
        thread = threading.Thread(target=server.run, name="api", daemon=True)
        thread.start()
        stack.callback(thread.join, 10)
        stack.callback(setattr, server, "should_exit", True)
        log.info("operator API on http://%s:%d (OpenAPI at /openapi.json)", settings.api_host, settings.api_port)
        while not stop.is_set():
            try:
                controller.reconcile()
                healthy.set()
            except RolloutError as e:  # the state could not be written: nothing changed, the next pass retries
                healthy.clear()
                log.warning("reconcile failed: %s", e)
            stop.wait(settings.reconcile_interval_s)
        return 0


if __name__ == "__main__":
    sys.exit(main())
