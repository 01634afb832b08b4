"""The tagger's settings: one frozen object per process, from ``TAGSTREAM_*`` variables or the YAML file."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from services.common.settings import KafkaSettings
from services.model.serving import MODEL_NAME


class TaggerSettings(KafkaSettings):
    """Everything a tagger process needs. Defaults suit the local stack started by ``tagstream up``."""

    instance_id: str = Field("tagger-0", description="name of this process in logs and client ids")
    group_id: str = Field("tagstream-tagger", description="consumer group shared by all tagger replicas")

    triton_url: str = Field("127.0.0.1:8001", description="Triton gRPC endpoint, host:port")
    triton_model: str = Field(MODEL_NAME, description="model name on Triton")
    triton_model_version: str = Field("", description="model version to call; empty means Triton's latest")
    triton_timeout_s: float = Field(10.0, gt=0, description="deadline of one inference call")
    triton_backoff_max_s: float = Field(10.0, gt=0, description="longest wait between retries during an outage")

    batch_max_size: int = Field(32, ge=1, le=1024, description="most images in one Triton request")
    batch_max_wait_ms: float = Field(5.0, ge=0, description="longest a ready image waits for its batch to fill")
    decode_workers: int = Field(2, ge=1, le=64, description="threads that fetch and decode images")
    inference_workers: int = Field(2, ge=1, le=16, description="batches in flight to Triton at once")
    max_in_flight: int = Field(1024, ge=1, description="events read but not yet acknowledged; above it, pause")
    max_poll_records: int = Field(256, ge=1, description="records one poll may return")
    commit_interval_ms: int = Field(1000, ge=10, description="how often acknowledged offsets are committed")
    drain_timeout_s: float = Field(30.0, gt=0, description="on SIGTERM, how long to wait for in-flight events")
    session_timeout_ms: int = Field(10_000, ge=1000, description="consumer group session timeout")
    heartbeat_interval_ms: int = Field(3_000, ge=100, description="consumer group heartbeat interval")

    max_event_bytes: int = Field(12 * 1024 * 1024, ge=1024, description="largest Kafka value accepted")
    image_max_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="largest image file, inline or fetched")
    image_max_pixels: int = Field(40_000_000, ge=1, description="largest image in pixels (width x height)")
    fetch_timeout_s: float = Field(5.0, gt=0, description="timeout of one image download")
    url_allow_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list,
                                       description="exact host:port (or host) allowed to resolve to internal "
                                                   "addresses; empty: only public addresses are fetched")

    review_threshold: float = Field(0.5, ge=0, le=1, description="confidence under which an attribute needs review")
    review_thresholds: dict[str, float] = Field(default_factory=dict,
                                                description="per-attribute overrides of review_threshold")
    top_k: int = Field(3, ge=1, le=10, description="alternatives kept per attribute")

    metrics_host: str = Field("127.0.0.1", description="address of /metrics, /healthz and /readyz")
    metrics_port: int = Field(9300, ge=0, le=65535, description="port of /metrics, /healthz and /readyz")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    restart_on_error: bool = Field(True, description="rebuild the pipeline on fresh clients after a fatal error "
                                                     "instead of exiting 1 (set false under an orchestrator)")

    @field_validator("url_allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):  # TAGSTREAM_URL_ALLOW_HOSTS=a:1,b:2 as well as a JSON list
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    def threshold(self, attribute: str) -> float:
        return self.review_thresholds.get(attribute, self.review_threshold)
