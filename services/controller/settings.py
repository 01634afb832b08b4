"""The rollout controller's settings: one frozen object, from ``TAGSTREAM_*`` variables or the YAML file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from model.tritonconfig import DEFAULT_REPOSITORY
from modelspec.tensors import MODEL_NAME
from runtime.settings import KafkaSettings


class ControllerSettings(KafkaSettings):
    """Everything the controller process needs. Defaults suit the local stack started by ``tagstream up``."""

    model: str = Field(MODEL_NAME, description="the model whose rollouts this controller runs (one per controller)")
    stable_version: str = Field("1", pattern=r"^[1-9][0-9]*$",
                                description="the version that serves everything before the first rollout (after "
                                            "that, the tagstream.rollout topic says)")
    api_host: str = Field("127.0.0.1", description="address of the operator API, /metrics, /healthz and /readyz")
    api_port: int = Field(9500, ge=0, le=65535, description="port of the operator API")
    rollout_api_token: SecretStr | None = Field(None, description="bearer token the API requires for changes")
    rollout_api_token_file: Path | None = Field(None, description="file holding the token when rollout_api_token "
                                                                  "is unset (the local stack writes one)")
    audit_path: Path = Field(Path(".tagstream/rollout/audit.sqlite"),
                             description="the append-only audit history (SQLite); keep it on a persistent volume")
    reconcile_interval_s: float = Field(0.25, gt=0, le=60, description="time between reconcile passes")
    state_timeout_s: float = Field(60.0, gt=0, description="how long to wait at start for the tagstream.rollout "
                                                           "topic to be read to its end")
    prometheus_url: str | None = Field(None, description="Prometheus for guardrails with source prometheus, e.g. "
                                                         "http://prometheus:9090")
    prometheus_timeout_s: float = Field(5.0, gt=0, description="deadline of one PromQL query")
    triton_repository_url: str = Field("http://127.0.0.1:8003",
                                       description="Triton's HTTP endpoint for the model-repository API (production "
                                                   "Triton's HTTP port; the local host's control port)")
    triton_repository_header: str = Field("admin-key", description="header of Triton's restricted API")
    triton_repository_key: SecretStr | None = Field(None, description="value of that header")
    triton_repository_key_file: Path | None = Field(None, description="file holding the key when "
                                                                      "triton_repository_key is unset")
    unload_grace_s: float = Field(10.0, ge=0, description="how long a version the rollout left (a rolled-back "
                                                          "candidate, the old stable version after full) stays "
                                                          "loaded on Triton, for the events taggers routed to it "
                                                          "just before")
    model_repository: Path | None = Field(DEFAULT_REPOSITORY,
                                          description="where reference profiles are read for the built-in input drift "
                                                      "guardrail (<repository>/<model>/<version>/reference_profile."
                                                      "json); unset: input drift is pending unless read from "
                                                      "Prometheus")
    window_max_records: int = Field(200_000, ge=1000, description="records of the rollout kept for its windows")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")

    def api_token(self) -> SecretStr | None:
        return _secret(self.rollout_api_token, self.rollout_api_token_file)

    def triton_key(self) -> SecretStr | None:
        return _secret(self.triton_repository_key, self.triton_repository_key_file)


def _secret(value: SecretStr | None, path: Path | None) -> SecretStr | None:
    if value is not None and value.get_secret_value():
        return value
    if path is not None and path.is_file():
        text = path.read_text().strip()
        return SecretStr(text) if text else None
    return None
