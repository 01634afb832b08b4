"""The controller process: wire settings, clients, the controller and its API; reconcile until SIGTERM.

Start-up: read ``tagstream.rollout`` to its end (the state in force), take the current stage's rounds from the
audit history, then reconcile every ``reconcile_interval_s`` while the API serves in a thread. SIGTERM or SIGINT
finishes the pass under way and exits 0. Bad settings, a missing token or an unreachable broker at start are one
line and exit status 2.
"""

from __future__ import annotations

import logging
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

from kafka.errors import KafkaError
from pydantic import SecretStr, ValidationError

from contracts import ReferenceProfile
from modelspec.repository import PROFILE_FILE
from rollout.api import create_app
from rollout.audit import AuditLog
from rollout.controller import Controller
from rollout.errors import RolloutError
from rollout.serving import TritonRepository
from rollout.sources.prometheus import PrometheusSource
from rollout.sources.topics import TopicSource
from rollout.statetopic import RolloutFollower, StateWriter
from runtime.errors import BrokerUnavailable, SettingsError
from runtime.process import run_service
from runtime.webserver import ThreadedServer
from services.controller.settings import ControllerSettings

log = logging.getLogger("services.controller")

_BROKER_HINT = "check TAGSTREAM_KAFKA_BOOTSTRAP and that the broker runs"


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
    return run_service("controller", ControllerSettings, serve, log_level=lambda s: s.log_level,
                       on_signal="stopping after this pass")


def serve(settings: ControllerSettings, stop: threading.Event) -> int:
    """Reconcile until ``stop``. No token, or a broker that cannot be read at start, raises naming the fix."""
    token = settings.api_token()
    if token is None:
        raise SettingsError("no API token for the operator API", field="rollout_api_token",
                            hint="set TAGSTREAM_ROLLOUT_API_TOKEN or TAGSTREAM_ROLLOUT_API_TOKEN_FILE")
    log.info("starting with %s", settings.redacted())
    try:
        return _run(settings, token.get_secret_value(), stop)
    except KafkaError as e:
        raise BrokerUnavailable(f"the broker at {settings.kafka_bootstrap} failed: {e}", hint=_BROKER_HINT) from e


def _run(settings: ControllerSettings, token: str, stop: threading.Event) -> int:
    with ExitStack() as stack:
        follower = RolloutFollower(settings, client_id="rollout-controller-start")
        follower.start()
        stack.callback(follower.stop)
        if not follower.wait_caught_up(settings.state_timeout_s):
            raise BrokerUnavailable(f"could not read tagstream.rollout to its end within "
                                    f"{settings.state_timeout_s:.0f} s (broker at {settings.kafka_bootstrap})",
                                    hint=_BROKER_HINT)
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

        api = ThreadedServer(create_app(controller, token=SecretStr(token), ready=ready), settings.api_host,
                             settings.api_port, port_setting="api_port", name="api")
        api.start()
        stack.callback(api.stop)
        log.info("operator API on %s (OpenAPI at /openapi.json)", api.url)
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
