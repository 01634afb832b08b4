"""Settings of the local stack (``tagstream up``): ports, the broker store, how many taggers."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from model.tritonconfig import DEFAULT_REPOSITORY
from runtime.settings import KafkaSettings, TagstreamSettings

LOOPBACK = "127.0.0.1"


class StackSettings(TagstreamSettings):
    """Everything ``tagstream up`` starts listens on 127.0.0.1; change a port with ``TAGSTREAM_<FIELD>``."""

    state_dir: Path = Field(Path(".tagstream"), description="pid files, logs/ and stack.json live here")
    broker_port: int = Field(9092, ge=1, le=65535, description="Kafka port of the Tansu broker")
    broker_storage: Literal["memory", "s3"] = Field(
        "memory", description="memory: fast, lost on a broker restart; s3: durable, kept in a local moto S3")
    s3_port: int = Field(9095, ge=1, le=65535, description="port of moto's S3 server (s3 storage only)")
    triton_grpc_port: int = Field(8001, ge=1, le=65535, description="Triton gRPC port (the taggers call it)")
    triton_http_port: int = Field(8000, ge=1, le=65535, description="Triton HTTP port (health, metadata)")
    triton_metrics_port: int = Field(8002, ge=1, le=65535, description="Triton Prometheus metrics port")
    triton_control_port: int = Field(8003, ge=1, le=65535,
                                     description="the Triton host's model-repository API (load, unload versions)")
    model_repository: Path = Field(DEFAULT_REPOSITORY, description="the model repository the Triton host serves and "
                                                                   "whose versions the stack registers (default: the "
                                                                   "committed one)")
    controller_port: int = Field(9500, ge=1, le=65535, description="the rollout controller's API and /metrics")
    partitions: int = Field(4, ge=1, le=256, description="partitions of every non-compacted topic")
    taggers: int = Field(1, ge=0, le=64, description="tagger processes; more than partitions idle")
    tagger_metrics_port: int = Field(9300, ge=1, le=65535,
                                     description="tagger i serves /metrics, /healthz and /readyz on this + i")
    review_port: int = Field(9600, ge=1, le=65535, description="port of the review console (sign in as the local "
                                                             "reviewer: see the README)")
    tagger_env: dict[str, str] = Field(default_factory=dict,
                                       description="extra environment of the tagger processes (e.g. "
                                                   "TAGSTREAM_BATCH_MAX_SIZE); may hold secrets: never printed")
    ready_timeout_s: float = Field(60.0, gt=0, description="how long one component may take to become ready")
    restart_backoff_s: float = Field(1.0, gt=0, description="the keeper's wait before restarting a crashed "
                                                            "component; doubles with each crash in a row")
    restart_backoff_max_s: float = Field(60.0, gt=0, description="the longest wait between restarts")
    restart_stable_s: float = Field(30.0, gt=0, description="a component up this long is stable again: its next "
                                                            "crash waits restart_backoff_s")
    keeper_period_s: float = Field(1.0, gt=0, description="how often the keeper checks every component")
    controller: bool = Field(True, description="start the rollout controller (operator API on controller_port)")
    review: bool = Field(True, description="start the review console (on review_port)")
    monitor: bool = Field(True, description="start the monitor (drift and quality, /metrics on monitor_port)")
    monitor_port: int = Field(9400, ge=1, le=65535, description="the monitor's /metrics, /healthz and /readyz")
    monitor_env: dict[str, str] = Field(default_factory=dict,
                                        description="extra environment of the monitor (e.g. "
                                                    "TAGSTREAM_MONITOR_WINDOW_SECONDS)")
    with_prometheus: bool = Field(False, description="also run a Prometheus server scraping the stack, with the "
                                                     "alert rules (Debian's prometheus)")
    prometheus_port: int = Field(9090, ge=1, le=65535, description="port of that Prometheus server")

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.broker_port}"

    @property
    def triton_url(self) -> str:
        """Triton's gRPC endpoint as the tagger and tritonclient want it: host:port."""
        return f"{LOOPBACK}:{self.triton_grpc_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.s3_port}"

    @property
    def secrets_dir(self) -> Path:
        """Keys the stack makes for itself (the Triton host's repository API, the rollout API): 0600 files."""
        return self.state_dir / "secrets"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def record_path(self) -> Path:
        return self.state_dir / "stack.json"

    def kafka_settings(self) -> KafkaSettings:
        """Client settings that reach this stack's broker (plaintext, whatever the environment says)."""
        return KafkaSettings(kafka_bootstrap=self.bootstrap, kafka_security_protocol="PLAINTEXT",
                             kafka_sasl_mechanism=None, kafka_ssl_cafile=None, kafka_ssl_certfile=None,
                             kafka_ssl_keyfile=None)
