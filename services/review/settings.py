"""The review console's settings: one frozen object, from ``TAGSTREAM_*`` variables or the YAML file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from runtime.settings import KafkaSettings
from services.review.passwords import check_hash


class ReviewSettings(KafkaSettings):
    """Everything the console needs. Defaults suit the local stack; reviewers must be configured."""

    console_host: str = Field("127.0.0.1", description="address the console listens on")
    console_port: int = Field(9600, ge=0, le=65535,
                              description="port of the console's pages, /metrics, /healthz and /readyz")
    reviewers: dict[str, str] = Field(default_factory=dict,
                                      description="reviewer name -> scrypt hash of the password (make one with "
                                                  "`tagstream review hash-password`); JSON in TAGSTREAM_REVIEWERS")
    review_group_id: str = Field("tagstream-review", description="consumer group of the consoles over "
                                                                  "catalog.review")
    instance_id: str = Field("review-0", description="name of this console in logs and client ids")
    lease_timeout_s: float = Field(300.0, gt=0, description="how long a reviewer holds an item before it goes "
                                                            "back to the queue")
    max_buffered: int = Field(500, ge=1, description="items read and not yet decided; above it, reading pauses")
    commit_interval_ms: int = Field(200, ge=10, description="how often acknowledged decisions are committed")
    ack_timeout_s: float = Field(10.0, gt=0, description="how long a decision waits for the broker's "
                                                         "acknowledgement before the reviewer is told to retry")
    session_timeout_ms: int = Field(10_000, ge=1000, description="consumer group session timeout")
    heartbeat_interval_ms: int = Field(3_000, ge=100, description="consumer group heartbeat interval")
    session_ttl_s: float = Field(8 * 3600.0, gt=0, description="how long a sign-in lasts without activity")
    secure_cookies: bool = Field(False, description="send the session cookie over HTTPS only (set true behind TLS)")
    labels_dir: Path | None = Field(None, description="folder with the model's probs_<attribute>.labels.txt (a "
                                                      "Triton model folder); unset: the taxonomy in modelspec")
    image_max_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="largest image the console shows")
    image_timeout_s: float = Field(5.0, gt=0, description="timeout of one image download from a URL")
    image_allow_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="exact host:port (or host) whose images may be fetched from internal "
                                          "addresses; empty: only public addresses")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")

    @field_validator("reviewers")
    @classmethod
    def _hashes(cls, reviewers: dict[str, str]) -> dict[str, str]:
        for name, stored in reviewers.items():
            if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
                raise ValueError(f"reviewer name {name!r}: use 1 to 64 letters, digits, '.', '-' or '_'")
            check_hash(stored)
        return reviewers

    @field_validator("image_allow_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):  # a:1,b:2 as well as a JSON list
            value = value.strip()
            if value.startswith("["):
                return json.loads(value)
            return [h.strip() for h in value.split(",") if h.strip()]
        return value
