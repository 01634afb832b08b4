"""The settings base every process's settings class derives from.

Values come, highest priority first, from keyword arguments, ``TAGSTREAM_*`` environment variables, and an
optional YAML file named by ``TAGSTREAM_CONFIG``. Keys are the field names without the prefix, e.g.
``kafka_bootstrap: broker-1:9093``.

One file can serve every process of a deployment: keys at its top apply to each process that reads it;
keys under a process's section (``tagger:``, ``stack:``, ``tritonhost:`` ...; see ``SECTIONS``) apply to
that process only and win over the top. A key that the reading process does not have is an error naming
the key and the file (a misspelt key is never ignored). Environment variables are different: every process
shares the ``TAGSTREAM_`` prefix, so a variable that this process does not know belongs to another and is
ignored.

Invalid settings raise ``runtime.errors.SettingsError`` (a ``TagstreamError``) with one line that names
the setting and where to fix it.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as PydanticSettingsError

from runtime.errors import ConfigFileError, SettingsError, UnknownSettingError

CONFIG_ENV = "TAGSTREAM_CONFIG"
ENV_PREFIX = "TAGSTREAM_"
#: Sections of a config file, one per kind of process. A section of another process is skipped, not refused.
SECTIONS = frozenset({"stack", "tagger", "tritonhost", "monitor", "rollout", "review"})


class TagstreamSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    config_section: ClassVar[str | None] = None
    """This process's section of the config file; by default the class name without ``Settings``, lower
    case (``TaggerSettings`` reads ``tagger:``), when that is one of ``SECTIONS``."""

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except SettingsError:
            raise
        except ValidationError as e:
            raise _invalid(type(self), e) from e
        except PydanticSettingsError as e:  # a variable that does not parse (e.g. malformed JSON)
            raise SettingsError(f"invalid settings for {_reader(type(self))}: {e}",
                                hint=f"fix the {ENV_PREFIX}* variable it names") from e

    @classmethod
    def section(cls) -> str | None:
        if cls.config_section is not None:
            return cls.config_section
        derived = cls.__name__.removesuffix("Settings").lower()
        return derived if derived in SECTIONS else None

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get(CONFIG_ENV)
        if config:
            values = read_config(Path(config), settings_cls)
            sources.append(InitSettingsSource(settings_cls, init_kwargs=values))
        return tuple(sources)

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with every secret masked: safe to log or print."""
        return {k: ("***" if isinstance(v, SecretStr) and v.get_secret_value() else v)
                for k, v in self.__dict__.items()}


def read_config(path: Path, settings_cls: type[BaseSettings]) -> dict[str, Any]:
    """The values ``settings_cls`` takes from the YAML file at ``path``: its top level, then its own section."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigFileError(f"{CONFIG_ENV}={path} names no file", hint="unset it or fix the path") from None
    except OSError as e:
        raise ConfigFileError(f"cannot read {CONFIG_ENV}={path}: {e.strerror or e}", hint="fix the path") from e
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigFileError(f"{path} is not valid YAML{line}: {getattr(e, 'problem', None) or e}",
                              hint="fix the file") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path} holds a {type(data).__name__}, not a mapping of setting names to values",
                              hint="write one `name: value` per line")
    fields = set(settings_cls.model_fields)
    own = settings_cls.section() if issubclass(settings_cls, TagstreamSettings) else None
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in fields:
            values[key] = value
        elif key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigFileError(f"{path}: section {key!r} holds a {type(value).__name__}, not a mapping",
                                      field=str(key), hint=f"indent the {key} settings under `{key}:`")
        else:
            raise _unknown(str(key), path, settings_cls, fields)
    section = data.get(own) if own is not None else None
    for key, value in (section or {}).items():
        if key not in fields:
            raise _unknown(f"{own}.{key}", path, settings_cls, fields)
        values[key] = value
    return values


def _reader(settings_cls: type[BaseSettings]) -> str:
    section = settings_cls.section() if issubclass(settings_cls, TagstreamSettings) else None
    return f"the {section}" if section else settings_cls.__name__


def _unknown(key: str, path: Path, settings_cls: type[BaseSettings], fields: set[str]) -> UnknownSettingError:
    name = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(name, sorted(fields), n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    sections = ", ".join(f"{s}:" for s in sorted(SECTIONS))
    return UnknownSettingError(f"unknown setting {key!r} in {path}: {_reader(settings_cls)} has no such setting",
                               field=key, hint=f"{guess}another process's settings go under its section ({sections})")


def _invalid(settings_cls: type[BaseSettings], error: ValidationError) -> SettingsError:
    """One line for pydantic's errors: each setting and what is wrong with it (never the value: it may be secret)."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in item["loc"])
        message = "no such setting" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append(f"{name}: {message}")
    locs = [item["loc"] for item in error.errors() if item["loc"]]
    first = str(locs[0][0]) if locs else None
    hint = f"fix {ENV_PREFIX}{first.upper()}, or `{first}` in the file named by {CONFIG_ENV}" if first else None
    return SettingsError(f"invalid settings for {_reader(settings_cls)}: {'; '.join(problems)}", field=first,
                         hint=hint)


class KafkaSettings(TagstreamSettings):
    """How to reach Kafka. TLS and SASL settings pass through to kafka-python unchanged."""

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="bootstrap servers, comma separated")
    kafka_client_id: str = Field("tagstream", description="client id prefix seen by the brokers")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="how the clients talk to the brokers")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = Field(
        None, description="SASL mechanism, with the SASL_* protocols")
    kafka_sasl_username: str | None = Field(None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password (never logged)")
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
