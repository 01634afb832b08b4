"""Every message on every tagstream topic, the topic names, and their JSON Schemas.

This package imports nothing else from the project: the other rooms depend on it,
never the other way round.
"""

from contracts.base import SCHEMA_VERSION, ContractModel
from contracts.deadletter import DeadLetter, ErrorCode, ErrorInfo, SourcePosition
from contracts.errors import ContractError, TagstreamError
from contracts.events import CatalogEvent, EventType, ImageRef, ProductData
from contracts.labels import LabelFeedback, LabelSource
from contracts.models import AttributeThreshold, ModelCard, ReviewThresholds, card_key
from contracts.profile import (
    PIXEL_FEATURES,
    QUANTILE_LEVELS,
    AttributeProfile,
    Histogram,
    NumericStats,
    OodProfile,
    Quantile,
    ReferenceProfile,
)
from contracts.replays import REPLAY_HEADER, DeadLetterReplay, replay_key
from contracts.review import ReviewItem, ReviewKind
from contracts.reviewprogress import ReviewProgress, progress_key
from contracts.rollout import PilotCohort, RolloutReason, RolloutSpec, RolloutStage, RolloutState, RolloutStatus
from contracts.tags import (
    AttributeTag,
    FeatureSummary,
    LabelScore,
    ModelRef,
    ReviewReason,
    RolloutArm,
    RolloutRef,
    TagPrediction,
    Timings,
)
from contracts.topics import Topic, Topics

__all__ = [
    "PIXEL_FEATURES",
    "QUANTILE_LEVELS",
    "REPLAY_HEADER",
    "SCHEMA_VERSION",
    "AttributeProfile",
    "AttributeTag",
    "AttributeThreshold",
    "CatalogEvent",
    "ContractError",
    "ContractModel",
    "DeadLetter",
    "DeadLetterReplay",
    "ErrorCode",
    "ErrorInfo",
    "EventType",
    "FeatureSummary",
    "Histogram",
    "ImageRef",
    "LabelFeedback",
    "LabelScore",
    "LabelSource",
    "ModelCard",
    "ModelRef",
    "NumericStats",
    "OodProfile",
    "PilotCohort",
    "ProductData",
    "Quantile",
    "ReferenceProfile",
    "ReviewItem",
    "ReviewKind",
    "ReviewProgress",
    "ReviewReason",
    "ReviewThresholds",
    "RolloutArm",
    "RolloutReason",
    "RolloutRef",
    "RolloutSpec",
    "RolloutStage",
    "RolloutState",
    "RolloutStatus",
    "SourcePosition",
    "TagPrediction",
    "TagstreamError",
    "Timings",
    "Topic",
    "Topics",
    "card_key",
    "progress_key",
    "replay_key",
]
