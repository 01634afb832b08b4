"""Model cards from an exported repository, and on the real broker's compacted topic."""

from __future__ import annotations

import json
import shutil

import pytest
from kafka import KafkaConsumer, TopicPartition

from contracts import ModelCard, ReviewThresholds, Topics
from model.drill import copy_candidate
from model.registry import THRESHOLDS_FILE, RegistryError, model_card, register_repository, versions
from model.tritonconfig import DEFAULT_REPOSITORY

THRESHOLDS = {"confidence": 0.9, "calibration_size": 1600,
              "attributes": {"main_colour": {"threshold": 0.7, "target_precision": 0.95, "expected_precision": 0.97,
                                             "review_share": 0.1}}}


@pytest.fixture
def repository(tmp_path):
    """Version 1 of the committed repository, without its review thresholds."""
    shutil.copytree(DEFAULT_REPOSITORY / "catalog_tagger" / "1", tmp_path / "catalog_tagger" / "1")
    (tmp_path / "catalog_tagger" / "1" / THRESHOLDS_FILE).unlink(missing_ok=True)
    return tmp_path


def test_the_committed_repository_has_a_card_with_its_profile_and_review_thresholds():
    card = model_card(DEFAULT_REPOSITORY, 1)
    assert (card.model.name, card.model.version) == ("catalog_tagger", "1")
    assert card.profile.reference_size == 1600
    assert card.review is not None and set(card.review.attributes) <= set(card.profile.attributes)
    assert card.key == b"catalog_tagger:1"


def test_review_thresholds_beside_the_profile_travel_in_the_card(repository):
    (repository / "catalog_tagger" / "1" / THRESHOLDS_FILE).write_text(json.dumps(THRESHOLDS))
    card = model_card(repository, 1)
    assert card.review == ReviewThresholds.model_validate(THRESHOLDS)


def test_a_missing_version_names_the_versions_there_are(repository):
    with pytest.raises(RegistryError, match=r"versions in .*: 1") as info:
        model_card(repository, 3)
    assert info.value.field == "version" and "export" in (info.value.hint or "")


def test_a_broken_thresholds_file_names_the_field(repository):
    bad = {**THRESHOLDS, "confidence": 2.0}
    (repository / "catalog_tagger" / "1" / THRESHOLDS_FILE).write_text(json.dumps(bad))
    with pytest.raises(RegistryError, match="confidence") as info:
        model_card(repository, 1)
    assert info.value.field == "confidence"


def test_a_profile_of_another_version_is_refused(repository):
    shutil.copytree(repository / "catalog_tagger" / "1", repository / "catalog_tagger" / "2")
    assert versions(repository) == [1, 2]
    with pytest.raises(RegistryError, match="describes catalog_tagger:1, not catalog_tagger:2"):
        model_card(repository, 2)


@pytest.mark.integration
def test_the_stack_registers_the_committed_model_when_its_broker_starts(stack_factory, repository):
    stack = stack_factory(["broker"])
    (repository / "catalog_tagger" / "1" / THRESHOLDS_FILE).write_text(json.dumps(THRESHOLDS))
    register_repository(stack.kafka_settings(), repository)  # the same key again: the newest card wins
    reader = KafkaConsumer(**stack.kafka_settings().kafka_client_kwargs(), group_id=None, enable_auto_commit=False,
                           consumer_timeout_ms=3000)
    reader.assign([TopicPartition(Topics.MODELS.name, 0)])
    reader.seek_to_beginning()
    cards = [ModelCard.model_validate_json(r.value) for r in reader]
    reader.close()
    assert [(c.model.version, c.review == ReviewThresholds.model_validate(THRESHOLDS)) for c in cards] == [
        ("1", False), ("1", True)]  # the committed card first (its own thresholds), then ours
    assert {r.key for r in cards} == {b"catalog_tagger:1"}


@pytest.mark.integration
def test_a_stack_serving_a_repository_registers_its_good_versions_and_skips_a_broken_one(stack_factory, repository,
                                                                                         caplog):
    shutil.copytree(repository / "catalog_tagger" / "1", repository / "catalog_tagger" / "3")  # profile says 1
    copy_candidate(repository, version=2, source=1)
    with caplog.at_level("WARNING", logger="tools.monitoring.stack"):
        stack = stack_factory(["broker"], model_repository=repository)
    reader = KafkaConsumer(**stack.kafka_settings().kafka_client_kwargs(), group_id=None, enable_auto_commit=False,
                           consumer_timeout_ms=3000)
    reader.assign([TopicPartition(Topics.MODELS.name, 0)])
    reader.seek_to_beginning()
    cards = [ModelCard.model_validate_json(r.value) for r in reader]
    reader.close()
    assert sorted(c.model.version for c in cards) == ["1", "2"]
    assert any("version 3 not registered" in r.getMessage() for r in caplog.records)
