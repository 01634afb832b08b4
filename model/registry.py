"""The model registry: what every process needs to know about an exported version, published as a ``ModelCard``.

A tagger, the monitor and the rollout controller never read the model repository (production Triton reads it
from object storage); they follow the compacted ``tagstream.models`` topic instead. ``model_card`` builds the
card of one exported version from its folder::

    REPOSITORY/catalog_tagger/N/reference_profile.json   contracts.ReferenceProfile (written by export)
    REPOSITORY/catalog_tagger/N/review_thresholds.json   contracts.ReviewThresholds (optional)

and ``publish`` writes it keyed ``<name>:<version>``, so the topic keeps the newest card of every version.
``register_repository`` does both for every version of a repository; the local stack calls it once its
broker is up, so the monitor finds the committed model's profile without anyone running a command.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from kafka.errors import KafkaError
from pydantic import ValidationError

from contracts import ModelCard, ModelRef, ReferenceProfile, ReviewThresholds, TagstreamError, Topics
from modelspec.repository import PROFILE_FILE, THRESHOLDS_FILE
from modelspec.tensors import MODEL_NAME
from runtime.kafka import BrokerUnavailable, producer
from runtime.settings import KafkaSettings

log = logging.getLogger(__name__)

#: Seconds to wait for the broker to acknowledge the cards.
PUBLISH_TIMEOUT_S = 30.0

_Card = TypeVar("_Card", ReferenceProfile, ReviewThresholds)


class RegistryError(TagstreamError):
    code = "registry_error"


def versions(repository: Path, *, name: str = MODEL_NAME) -> list[int]:
    """The exported versions of ``name`` in ``repository`` (folders named by a number that hold a profile)."""
    model_dir = repository / name
    if not model_dir.is_dir():
        return []
    found = [int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()
             and (p / PROFILE_FILE).is_file()]
    return sorted(found)


def _read(path: Path, model: type[_Card]) -> _Card:
    try:
        return model.model_validate_json(path.read_bytes())
    except OSError as e:
        raise RegistryError(f"cannot read {path}: {e.strerror or e}", field=path.name) from e
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "(root)"
        raise RegistryError(f"{path} is not a valid {model.__name__}: {where}: {first['msg']}", field=where,
                            hint="export the version again with `tagstream model export --version N --overwrite`",
                            ) from e


def model_card(repository: Path, version: int, *, name: str = MODEL_NAME,
               registered_at: datetime | None = None) -> ModelCard:
    """The card of version ``version`` of ``name`` in ``repository``: its profile and, if exported, its thresholds."""
    folder = repository / name / str(version)
    profile_path = folder / PROFILE_FILE
    if not profile_path.is_file():
        known = ", ".join(map(str, versions(repository, name=name))) or "none"
        raise RegistryError(f"{profile_path} does not exist (versions in {repository}: {known})", field="version",
                            hint="export it first with `tagstream model export --version N`")
    profile = _read(profile_path, ReferenceProfile)
    expected = ModelRef(name=name, version=str(version))
    if profile.model != expected:
        raise RegistryError(f"{profile_path} describes {profile.model.name}:{profile.model.version}, not "
                            f"{name}:{version}", field="model", hint="the folder was copied from another version; "
                                                                    "export it again")
    review = None
    thresholds_path = folder / THRESHOLDS_FILE
    if thresholds_path.is_file():
        review = _read(thresholds_path, ReviewThresholds)
    return ModelCard(model=expected, profile=profile, review=review, registered_at=registered_at or datetime.now(UTC))


def publish(settings: KafkaSettings, cards: Iterable[ModelCard]) -> int:
    """Write ``cards`` to ``tagstream.models`` (key ``<name>:<version>``) and wait for the broker; returns how many."""
    try:
        client = producer(settings, client_id="registry", bootstrap_timeout_ms=5_000, max_block_ms=10_000)
    except KafkaError as e:
        raise BrokerUnavailable(f"no Kafka broker answers at {settings.kafka_bootstrap}",
                                hint="start one with `tagstream up` or set TAGSTREAM_KAFKA_BOOTSTRAP") from e
    sent = []
    try:
        for card in cards:
            sent.append(client.send(Topics.MODELS.name, key=card.key, value=card.to_bytes()))
        client.flush(timeout=PUBLISH_TIMEOUT_S)
        for future in sent:
            future.get(timeout=PUBLISH_TIMEOUT_S)
    except KafkaError as e:
        raise RegistryError(f"the broker did not take the model cards: {e}",
                            hint="check that the broker runs and that tagstream.models exists") from e
    finally:
        client.close(timeout=5)
    return len(sent)


def register_repository(settings: KafkaSettings, repository: Path, *, name: str = MODEL_NAME,
                        only: Iterable[int] | None = None) -> list[ModelCard]:
    """Publish the card of every exported version in ``repository`` (or of ``only`` those); returns the cards."""
    wanted = list(only) if only is not None else versions(repository, name=name)
    cards = [model_card(repository, v, name=name) for v in wanted]
    if cards:
        publish(settings, cards)
        log.info("registered %s", ", ".join(f"{c.model.name}:{c.model.version}" for c in cards))
    return cards
