"""JSON Schemas generated from the contract models: one file per message under ``contracts/schemas``.

``ReferenceProfile`` is a file, not a message (the model export writes it beside each model version),
but the monitor reads it across a process boundary all the same, so its schema is kept here too.
"""

from __future__ import annotations

import json
from pathlib import Path

from contracts.base import ContractModel
from contracts.deadletter import DeadLetter
from contracts.events import CatalogEvent
from contracts.labels import LabelFeedback
from contracts.models import ModelCard
from contracts.profile import ReferenceProfile
from contracts.replays import DeadLetterReplay
from contracts.review import ReviewItem
from contracts.reviewprogress import ReviewProgress
from contracts.rollout import RolloutState
from contracts.tags import TagPrediction

SCHEMA_DIR = Path(__file__).parent / "schemas"
MESSAGES: tuple[type[ContractModel], ...] = (CatalogEvent, TagPrediction, ReviewItem, LabelFeedback, DeadLetter,
                                             RolloutState, ModelCard, ReferenceProfile, DeadLetterReplay,
                                             ReviewProgress)


def render(model: type[ContractModel]) -> str:
    """The schema text of one message, titled with the model's name, stable across runs."""
    schema = model.model_json_schema(mode="validation")
    schema["title"] = model.__name__
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def expected() -> dict[str, str]:
    return {f"{m.__name__}.json": render(m) for m in MESSAGES}


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in expected().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


def drift(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files that are missing or differ from the models."""
    return [name for name, text in expected().items()
            if not (directory / name).exists() or (directory / name).read_text() != text]
