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
from contracts.rollout import (
    ARM_HEADER,
    FAILED_VERSION_HEADER,
    RolloutReason,
    RolloutSpec,
    RolloutStage,
    RolloutState,
    RolloutStatus,
    TritonAddressing,
    triton_target,
)
from contracts.rolloutplan import (
    AnalysisPolicy,
    Bake,
    Gate,
    Guardrail,
    GuardrailKind,
    Limit,
    MetricSourceKind,
    PilotCohort,
    RolloutPlan,
    StageKind,
    StagePlan,
)
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
    "ARM_HEADER",
    "FAILED_VERSION_HEADER",
    "PIXEL_FEATURES",
    "QUANTILE_LEVELS",
    "REPLAY_HEADER",
    "SCHEMA_VERSION",
    "AnalysisPolicy",
    "AttributeProfile",
    "AttributeTag",
    "AttributeThreshold",
    "Bake",
    "CatalogEvent",
    "ContractError",
    "ContractModel",
    "DeadLetter",
    "DeadLetterReplay",
    "ErrorCode",
    "ErrorInfo",
    "EventType",
    "FeatureSummary",
    "Gate",
    "Guardrail",
    "GuardrailKind",
    "Histogram",
    "ImageRef",
    "LabelFeedback",
    "LabelScore",
    "LabelSource",
    "Limit",
    "MetricSourceKind",
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
    "RolloutPlan",
    "RolloutReason",
    "RolloutRef",
    "RolloutSpec",
    "RolloutStage",
    "RolloutState",
    "RolloutStatus",
    "SourcePosition",
    "StageKind",
    "StagePlan",
    "TagPrediction",
    "TagstreamError",
    "Timings",
    "Topic",
    "Topics",
    "TritonAddressing",
    "card_key",
    "progress_key",
    "replay_key",
    "triton_target",
]
