"""The settings base every process's settings class derives from.

Values come, highest priority first, from keyword arguments, ``TAGSTREAM_*`` environment
variables, and an optional YAML file named by ``TAGSTREAM_CONFIG`` (keys are the field names
without the prefix, e.g. ``kafka_bootstrap: broker-1:9093``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

CONFIG_ENV = "TAGSTREAM_CONFIG"


class TagstreamSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TAGSTREAM_", frozen=True, extra="ignore")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get(CONFIG_ENV)
        if config:
            path = Path(config)
            if not path.is_file():
                raise FileNotFoundError(f"{CONFIG_ENV}={config} names no file; unset it or fix the path")
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=path))
        return tuple(sources)

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with every secret masked: safe to log or print."""
        return {k: ("***" if isinstance(v, SecretStr) and v.get_secret_value() else v)
                for k, v in self.__dict__.items()}


class KafkaSettings(TagstreamSettings):
    """How to reach Kafka. TLS and SASL settings pass through to kafka-python unchanged."""

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="bootstrap servers, comma separated")
    kafka_client_id: str = Field("tagstream", description="client id prefix seen by the brokers")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle that signed the brokers' certificates")
    kafka_ssl_certfile: Path | None = Field(None, description="client certificate for mutual TLS")
    kafka_ssl_keyfile: Path | None = Field(None, description="client private key for mutual TLS")
    kafka_ssl_password: SecretStr | None = Field(None, description="password of the client private key")
    kafka_idempotence: bool = Field(True, description="idempotent producer (a retried send is written once)")

    def kafka_client_kwargs(self) -> dict[str, Any]:
        """Connection keyword arguments for any kafka-python client."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": [s.strip() for s in self.kafka_bootstrap.split(",") if s.strip()],
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            kwargs["sasl_mechanism"] = self.kafka_sasl_mechanism
            kwargs["sasl_plain_username"] = self.kafka_sasl_username
            if self.kafka_sasl_password is not None:
                kwargs["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        for name in ("cafile", "certfile", "keyfile"):
            value = getattr(self, f"kafka_ssl_{name}")
            if value is not None:
                kwargs[f"ssl_{name}"] = str(value)
        if self.kafka_ssl_password is not None:
            kwargs["ssl_password"] = self.kafka_ssl_password.get_secret_value()
        return kwargs
