"""What shapes a synthetic catalogue besides its seed: prior overrides, label noise, missing labels, drift.

:class:`SyntheticConfig` is validated on construction (unknown attributes or classes, a prior left with no
class to draw) and works out, once, the prior weights and the merchant mix the catalogue is drawn from.
"""

from __future__ import annotations

import functools
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from model.drift import Drift
from model.synthetic.merchants import MERCHANT_MIX
from model.synthetic.sampling import PRIORS, zipf
from modelspec.taxonomy import ATTRIBUTE_NAMES, BY_NAME

Weight = Annotated[float, Field(ge=0.0)]


class Priors(BaseModel):
    """Overrides of the class priors; attributes not named keep :data:`EXPONENTS` and :data:`PRIORS`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exponents: dict[str, Annotated[float, Field(ge=0.0, le=10.0)]] = Field(
        default_factory=dict, description="attribute -> Zipf exponent (0 = uniform, higher = longer tail)")
    weights: dict[str, dict[str, Weight]] = Field(
        default_factory=dict, description="attribute -> class -> weight; classes not named get 0")

    @field_validator("exponents", "weights")
    @classmethod
    def _known_attributes(cls, value: dict[str, object]) -> dict[str, object]:
        unknown = sorted(set(value) - set(ATTRIBUTE_NAMES))
        if unknown:
            raise ValueError(f"unknown attribute {', '.join(unknown)}; known: {', '.join(ATTRIBUTE_NAMES)}")
        return value

    @field_validator("weights")
    @classmethod
    def _known_classes(cls, weights: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for name, by_class in weights.items():
            unknown = sorted(set(by_class) - set(BY_NAME[name].classes))
            if unknown:
                raise ValueError(f"{', '.join(unknown)} not a {name} class; known: {', '.join(BY_NAME[name].classes)}")
            if not any(w > 0 for w in by_class.values()):
                raise ValueError(f"weights of {name} are all 0; give at least one class a positive weight")
        return weights

    @model_validator(mode="after")
    def _one_override_each(self) -> Priors:
        both = sorted(set(self.exponents) & set(self.weights))
        if both:
            raise ValueError(f"{', '.join(both)} given both an exponent and weights; give one")
        return self

    def table(self) -> dict[str, np.ndarray]:
        """Each attribute's prior weights, in the taxonomy's class order (not normalised)."""
        table = dict(PRIORS)
        for name, exponent in self.exponents.items():
            table[name] = zipf(name, exponent)
        for name, by_class in self.weights.items():
            table[name] = np.array([by_class.get(c, 0.0) for c in BY_NAME[name].classes])
        return table


class SyntheticConfig(BaseModel):
    """Everything that shapes a synthetic catalogue besides its seed; the defaults are the brief's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    priors: Priors = Field(default_factory=Priors, description="class prior overrides")
    label_noise: float = Field(
        0.0, ge=0.0, le=1.0, description="probability each returned label is replaced by another class")
    missing_rate: float = Field(0.0, ge=0.0, le=1.0, description="probability each returned label is MISSING")
    drift: Drift = Field(default_factory=Drift, description="how far the catalogue moves from the default")

    @model_validator(mode="after")
    def _a_class_left(self) -> SyntheticConfig:
        for name, weights in self.prior_weights.items():
            if weights.sum() <= 0:
                raise ValueError(f"priors and drift leave {name} no class with a positive weight")
        return self

    @functools.cached_property
    def prior_weights(self) -> dict[str, np.ndarray]:
        """The priors the catalogue is drawn from: overrides applied, then the drift's prior shifts."""
        table = self.priors.table()
        for name, shift in (("main_colour", self.drift.colour_shift), ("main_pattern", self.drift.pattern_shift)):
            classes = BY_NAME[name].classes
            table[name] = table[name] * np.array([shift.get(c, 1.0) for c in classes])
        return table

    @functools.cached_property
    def merchant_table(self) -> tuple[tuple[str, ...], np.ndarray]:
        """The merchants products come from and their cumulative weights."""
        mix = self.drift.merchant_mix or MERCHANT_MIX
        return tuple(mix), np.cumsum(list(mix.values()))


#: The brief's catalogue: default priors, exact labels, no drift.
DEFAULT_CONFIG = SyntheticConfig()
