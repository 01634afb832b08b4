"""The tagger's settings: one frozen object per process, from ``TAGSTREAM_*`` variables or the YAML file."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from contracts import TritonAddressing
from modelspec.preprocess import DEFAULT_MAX_PIXELS
from modelspec.quality import QualityThresholds
from modelspec.taxonomy import ATTRIBUTE_NAMES
from modelspec.tensors import MODEL_NAME
from runtime.settings import KafkaSettings


class TaggerSettings(KafkaSettings):
    """Everything a tagger process needs. Defaults suit the local stack started by ``tagstream up``."""

    instance_id: str = Field("tagger-0", description="name of this process in logs and client ids")
    group_id: str = Field("tagstream-tagger", description="consumer group shared by all tagger replicas")

    triton_url: str = Field("127.0.0.1:8001", description="Triton gRPC endpoint, host:port")
    triton_model: str = Field(MODEL_NAME, description="model name on Triton")
    triton_model_version: str = Field("", description="model version to call until a rollout state is read; empty "
                                                      "means Triton's latest")
    triton_addressing: TritonAddressing = Field(
        TritonAddressing.NAME, description="how a rollout's versions are named on Triton: 'version' (one model name, "
                                           "the version number picks it: production Triton) or 'name' (every version "
                                           "under its own name, catalog_tagger_v<N>: the local PyTriton host)")
    follow_rollout: bool = Field(True, description="route each event by the rollout state on tagstream.rollout "
                                                   "(false: triton_model_version serves every event)")
    rollout_wait_s: float = Field(30.0, ge=0, description="at start, how long to wait for tagstream.rollout to be "
                                                          "read to its end before consuming; past it, events are "
                                                          "routed to stable until the state arrives")
    triton_timeout_s: float = Field(10.0, gt=0, description="deadline of one inference call")
    triton_backoff_max_s: float = Field(10.0, gt=0, description="longest wait between retries during an outage")
    candidate_attempts: int = Field(3, ge=1, description="failed calls to a rollout's candidate version, while Triton "
                                                         "serves stable, before the batch's events go to stable "
                                                         "instead (each counted as one the candidate failed)")
    candidate_pause_s: float = Field(10.0, gt=0, description="after that, how long the candidate's events go to "
                                                             "stable without trying it, before it is tried again")

    batch_max_size: int = Field(32, ge=1, le=1024, description="most images in one Triton request")
    batch_max_wait_ms: float = Field(5.0, ge=0, description="longest a ready image waits for its batch to fill")
    decode_workers: int = Field(2, ge=1, le=64, description="threads that decode images (fetching has its own)")
    inference_workers: int = Field(2, ge=1, le=16, description="batches in flight to Triton at once")
    max_in_flight: int = Field(1024, ge=1, description="events read but not yet acknowledged; above it, pause")
    max_poll_records: int = Field(256, ge=1, description="records one poll may return")
    produce_batch_bytes: int = Field(1024 * 1024, ge=1024,
                                     description="most bytes the producer puts in one batch per partition; a review "
                                                 "item carries the event's image, so kafka-python's 16 KiB would "
                                                 "send one request (and wake its sender) per two or three records")
    produce_linger_ms: float = Field(5.0, ge=0, description="longest a produced record waits for its batch to fill")
    commit_interval_ms: int = Field(1000, ge=10, description="how often acknowledged offsets are committed")
    drain_timeout_s: float = Field(30.0, gt=0, description="on SIGTERM, how long to wait for in-flight events")
    rebalance_drain_s: float = Field(5.0, gt=0, description="on a rebalance, how long the revoked partitions' "
                                                           "in-flight events may take to finish before what is "
                                                           "acknowledged is committed; the rest is re-delivered "
                                                           "to the next owner")
    session_timeout_ms: int = Field(10_000, ge=1000, description="consumer group session timeout")
    heartbeat_interval_ms: int = Field(3_000, ge=100, description="consumer group heartbeat interval")

    max_event_bytes: int = Field(12 * 1024 * 1024, ge=1024, description="largest Kafka value accepted")
    image_max_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="largest image file, inline or fetched")
    image_max_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1, description="largest image in pixels (width x height)")
    fetch_timeout_s: float = Field(5.0, gt=0, description="timeout of one image download")
    fetch_in_flight: int = Field(256, ge=1, description="image fetches handed to the fetcher at once; the rest "
                                                        "wait their turn before their deadline starts")
    url_allow_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list,
                                       description="exact host:port (or host) allowed to resolve to internal "
                                                   "addresses; empty: only public addresses are fetched")

    review_threshold: float = Field(0.5, ge=0, le=1, description="calibrated confidence under which an attribute "
                                                                 "needs review (reason low_confidence) for a model "
                                                                 "version without review thresholds on its "
                                                                 "ModelCard (tagstream.models); a version with them "
                                                                 "is held to its own (services/tagger/thresholds.py)")
    review_thresholds: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=dict, description="per-attribute overrides, e.g. {\"fabric\": 0.3}: they win over the "
                                          "thresholds of every version's ModelCard and over review_threshold")
    audit_share: float = Field(0.01, ge=0, le=1, description="share of published tags that also go to "
                                                             "catalog.review as audit items (every attribute to "
                                                             "check, in doubt or not), drawn by a hash of the event "
                                                             "id, so a re-delivered event is drawn the same way")
    model_cards_wait_s: float = Field(10.0, ge=0, description="at start, how long to wait for tagstream.models to "
                                                              "be read to its end before tagging (so tags are held "
                                                              "to their version's thresholds from the first); after "
                                                              "it, versions without a card use review_threshold")
    ood_threshold: float = Field(1.0, gt=0, description="out-of-distribution score above which the whole tag needs "
                                                        "review (reason out_of_distribution); a multiple of the "
                                                        "threshold the model chose on validation, so 1.0 keeps it, "
                                                        "1.2 tolerates images 20% further from the training set")
    # Defaults chosen by measurement on 12,000 synthetic garments through the tagger's decode (the model's
    # dataset and the traffic generator, seeds 7/8 and 101/102, every merchant's house style): contrast
    # >= 0.014 and edge sharpness >= 0.358, so none is flagged. Blank and near-uniform pictures (flat, noise
    # up to sigma 5 levels, gradients up to +-4 levels) have contrast < 0.01; of garments blurred with radius
    # 3 at 128 px, 99.5% have edge sharpness < 0.35 (98.8% at JPEG quality 50), of radius 4 all. Unscaled
    # edge measures fail on pale-on-pale pictures: at 2 false flags in 6,000 garments, the mean |Laplacian|
    # (FeatureSummary.sharpness) finds 12% of the radius-3 blurs, the unscaled 99.9th percentile 87 to 96%.
    quality_min_side: int = Field(32, ge=1, description="shorter side in original pixels under which an image is "
                                                        "too small to tag (reason image_tiny)")
    quality_min_contrast: float = Field(0.01, ge=0, le=1,
                                        description="luma standard deviation (full scale = 1) under which an image "
                                                    "is blank or near-uniform (reason image_blank)")
    quality_min_edge_sharpness: float = Field(0.35, ge=0,
                                              description="steepness of the sharpest edges for the tonal range "
                                                          "(99.9th percentile of |Laplacian| of luma at 64x64 over "
                                                          "max - min luma) under which a non-blank image is blurred "
                                                          "(reason image_blurred)")
    top_k: int = Field(3, ge=1, le=10, description="alternatives kept per attribute")

    metrics_host: str = Field("127.0.0.1", description="address of /metrics, /healthz and /readyz")
    metrics_port: int = Field(9300, ge=0, le=65535, description="port of /metrics, /healthz and /readyz")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    restart_on_error: bool = Field(True, description="rebuild the pipeline on fresh clients after a fatal error "
                                                     "instead of exiting 1 (set false under an orchestrator)")

    @field_validator("review_thresholds")
    @classmethod
    def _known_attributes(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(ATTRIBUTE_NAMES))
        if unknown:
            raise ValueError(f"unknown attributes {unknown}; the model's attributes are {', '.join(ATTRIBUTE_NAMES)}")
        return value

    @field_validator("url_allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):  # TAGSTREAM_URL_ALLOW_HOSTS=a:1,b:2 as well as a JSON list
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    @property
    def quality(self) -> QualityThresholds:
        return QualityThresholds(min_side=self.quality_min_side, min_contrast=self.quality_min_contrast,
                                 min_edge_sharpness=self.quality_min_edge_sharpness)
