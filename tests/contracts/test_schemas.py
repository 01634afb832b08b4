"""The committed JSON Schemas are the ones the models generate: a contract change without a schema
export (``contracts.schemas.export()``) fails here."""

from __future__ import annotations

import json
from pathlib import Path

from contracts.schemas import MESSAGES, SCHEMA_DIR, drift, expected, export


def test_committed_schemas_match_the_models() -> None:
    fix = "python -c 'from contracts.schemas import export; export()'"
    assert drift() == [], f"the committed schemas drifted from the models: run {fix}"
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(expected())


def test_every_schema_is_titled_with_its_model_name() -> None:
    for model in MESSAGES:
        schema = json.loads((SCHEMA_DIR / f"{model.__name__}.json").read_text())
        assert schema["title"] == model.__name__
        assert schema["type"] == "object" and schema["additionalProperties"] is False


def test_drift_names_a_missing_or_edited_schema(tmp_path: Path) -> None:
    export(tmp_path)
    assert drift(tmp_path) == []
    (tmp_path / "DeadLetter.json").write_text("{}\n")
    (tmp_path / "RolloutState.json").unlink()
    assert sorted(drift(tmp_path)) == ["DeadLetter.json", "RolloutState.json"]
