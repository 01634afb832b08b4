"""The monitor and a real Prometheus server in the local stack, and the model cards the stack registers.

``tools.stack`` calls into here for three things, so that its own modules only name them:

- ``register_models``: once the broker is up, the served repository's versions are published on
  ``tagstream.models`` (the monitor reads each version's reference profile from there);
- ``monitor_process``: ``python -m services.monitor`` on ``monitor_port``, its Evidently workspace in the
  stack's state directory;
- ``prometheus_process`` (``tagstream up --with-prometheus``): Debian's ``/usr/bin/prometheus`` on
  ``prometheus_port``, scraping the taggers, the monitor and Triton every few seconds with the project's
  alert rules loaded, its data in a folder emptied at every start.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

from runtime.settings import KafkaSettings
from tools.monitoring.prometheus import RULES_DIR, write_config
from tools.stack.errors import MissingBinaryError
from tools.stack.probes import http_probe
from tools.stack.settings import LOOPBACK, StackSettings
from tools.stack.supervisor import ManagedProcess, PortClaim

log = logging.getLogger(__name__)

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_HINT = "install Debian's prometheus package with `make system-deps`"


def register_models(settings: KafkaSettings, repository: Path) -> None:
    """Publish the card of every version in ``repository`` (the one the stack's Triton host serves); a version whose
    card cannot be made is left out with a warning (the taggers hold its tags to TAGSTREAM_REVIEW_THRESHOLD)."""
    from model.registry import RegistryError, model_card, publish, versions

    cards = []
    for version in versions(repository):
        try:
            cards.append(model_card(repository, version))
        except RegistryError as e:
            log.warning("version %d not registered: %s", version, e)
    if cards:
        publish(settings, cards)
    log.info("registered model versions %s", ", ".join(c.model.version for c in cards) or "none")


def monitor_url(settings: StackSettings) -> str:
    return f"http://{LOOPBACK}:{settings.monitor_port}"


def prometheus_url(settings: StackSettings) -> str:
    return f"http://{LOOPBACK}:{settings.prometheus_port}"


def monitor_process(settings: StackSettings) -> tuple[ManagedProcess, str]:
    url = monitor_url(settings)
    path = os.pathsep.join(p for p in (str(_PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path, "PYTHONUNBUFFERED": "1", "DO_NOT_TRACK": "1",
           "TAGSTREAM_KAFKA_BOOTSTRAP": settings.bootstrap, "TAGSTREAM_MONITOR_PORT": str(settings.monitor_port),
           "TAGSTREAM_MONITOR_WORKSPACE": str(settings.state_dir / "evidently"), **settings.monitor_env}
    process = ManagedProcess("monitor", [sys.executable, "-m", "services.monitor"], state_dir=settings.state_dir,
                             probe=http_probe(f"{url}/readyz"), env=env,
                             ports=[PortClaim(settings.monitor_port, "TAGSTREAM_MONITOR_PORT")])
    return process, url


def _prometheus_bin() -> str:
    return shutil.which("prometheus") or "prometheus"


def prometheus_process(settings: StackSettings) -> tuple[ManagedProcess, str]:
    folder = settings.state_dir / "prometheus"
    config, data = folder / "prometheus.yml", folder / "data"
    url = prometheus_url(settings)

    def prepare() -> None:
        if shutil.which(argv[0]) is None:
            raise MissingBinaryError("prometheus: the prometheus server is not installed", hint=PROMETHEUS_HINT)
        shutil.rmtree(data, ignore_errors=True)  # a fresh, temporary store at every start
        data.mkdir(parents=True, exist_ok=True)
        write_config(config, settings)

    argv = [_prometheus_bin(), f"--config.file={config}", f"--storage.tsdb.path={data}",
            f"--web.listen-address={LOOPBACK}:{settings.prometheus_port}", "--storage.tsdb.retention.time=1d",
            "--log.level=warn"]
    process = ManagedProcess("prometheus", argv, state_dir=settings.state_dir, probe=http_probe(f"{url}/-/ready"),
                             ports=[PortClaim(settings.prometheus_port, "TAGSTREAM_PROMETHEUS_PORT")],
                             preflight=prepare)
    return process, f"{url} (rules: {RULES_DIR.name}/)"
