"""Long-tail strategies and the multi-task loss they shape.

The loss is ``sum_j weight_j * loss_j`` over the heads, where ``loss_j`` is the mean cross-entropy of
head ``j`` over the examples labelled for it: ``MISSING`` labels are masked out, and a head with no
labelled example in a batch contributes exactly 0. One strategy, chosen by name, shapes ``loss_j``:

- ``none``: plain cross-entropy.
- ``class_balanced``: cross-entropy weighted per class by the inverse effective number of samples,
  ``(1 - beta) / (1 - beta ** n_c)`` (Cui et al., 2019); the weighted mean keeps the loss scale.
- ``focal``: ``(1 - p_y) ** gamma`` times the cross-entropy (Lin et al., 2017).
- ``logit_adjust``: cross-entropy on ``logits + tau * log prior`` (Menon et al., 2021). Only training
  sees the offset; plain logits at inference then favour no class for being frequent.
- ``balanced_sampling``: plain cross-entropy, but examples are drawn with replacement, each with the
  weight ``max_j (1 / share of its class in head j) ** sampling_power`` over its labelled heads: the
  multi-label form of class-balanced sampling (power 1) or square-root sampling (power 0.5), as in
  repeat-factor sampling (Gupta et al., 2019). Sampling changes the priors the model predicts with.

Any strategy can be followed by a post-hoc adjustment tuned on validation (``posthoc``): each head's
logits become ``logits - shift * log prior`` (Menon et al.'s post-hoc logit adjustment), with one ``shift``
per head from a grid (negative shifts add the prior back). The shifts are chosen together: they maximise
the summed validation recall of the tail classes (as :mod:`model.scores` defines them) while the
validation accuracy given up, averaged over the heads and measured against each head's most accurate
shift, stays within ``accuracy_budget`` (a small multiple-choice knapsack, solved exactly by dynamic
programming): the trade the bench measures, made on validation. A shift is only a candidate if the
head's validation ECE after temperature scaling stays within ``ece_cap`` (or no worse than at its most
accurate shift): shifting toward rare classes trades calibration away too, which a temperature cannot
fully win back. So the budget goes where it buys the most tail recall: a head whose image says little
about its class keeps its priors, a head that can tell its rare classes apart moves toward them. The
shift is folded into the bias of the head's last layer, so the served network needs nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from model.calibration import expected_calibration_error, fit_temperature, softmax
from model.dataset import MISSING
from model.errors import ModelError, UnknownNameError
from model.network import MultiTaskTagger
from model.scores import tail_classes
from modelspec.taxonomy import ATTRIBUTES, Attribute

Strategy = Literal["none", "class_balanced", "focal", "logit_adjust", "balanced_sampling"]
STRATEGIES: tuple[Strategy, ...] = ("none", "class_balanced", "focal", "logit_adjust", "balanced_sampling")


class LongTailConfig(BaseModel):
    """Which long-tail strategy to train with and its parameter (the other strategies' are ignored), and
    whether to follow it with the post-hoc adjustment. ``LongTailConfig()`` is plain cross-entropy;
    ``DEFAULT_RECIPE`` is what training uses unless told otherwise."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: Strategy = Field("none", description="how the loss or the sampling treats rare classes")
    beta: float = Field(0.999, ge=0.0, lt=1.0, description="class_balanced: effective-number decay")
    gamma: float = Field(2.0, ge=0.0, le=10.0, description="focal: focusing exponent")
    tau: float = Field(1.0, ge=0.0, le=5.0, description="logit_adjust: scale of the log-prior offset")
    sampling_power: float = Field(1.0, gt=0.0, le=1.0,
                                  description="balanced_sampling: 1 balances classes, 0.5 is square-root sampling")
    posthoc: bool = Field(False, description="after training, shift each head's logits by a multiple of its log "
                                             "prior chosen on validation (see the module docstring)")
    accuracy_budget: float = Field(0.01, ge=0.0, le=0.2,
                                   description="posthoc: validation accuracy the heads may give up, on average")
    ece_cap: float = Field(0.05, gt=0.0, le=1.0,
                           description="posthoc: highest validation ECE (after temperature scaling) a shift may "
                                       "leave a head with, unless its most accurate shift already has more")


#: The default long-tail recipe, measured by ``tagstream model bench``: the logit-adjusted loss with a
#: half-strength offset (tau 0.5), then the post-hoc shifts tuned on validation within a mean accuracy
#: budget of 1.5 points (against each head's most accurate shift) and a validation ECE cap of 0.05.
DEFAULT_RECIPE = LongTailConfig(strategy="logit_adjust", tau=0.5, posthoc=True, accuracy_budget=0.015,
                                ece_cap=0.05)


def priors(counts: np.ndarray) -> np.ndarray:
    """Class shares from counts; a class never seen counts as half an example, so its log is finite."""
    counts = np.maximum(np.asarray(counts, dtype=np.float64), 0.5)
    return counts / counts.sum()


def class_balanced_weights(counts: np.ndarray, beta: float) -> np.ndarray:
    """Inverse effective number of samples per class, normalised to sum to the number of classes."""
    n = np.maximum(np.asarray(counts, dtype=np.float64), 1.0)
    weights = (1.0 - beta) / (1.0 - beta**n) if beta > 0 else np.ones_like(n)
    return weights * len(n) / weights.sum()


def logit_offsets(counts: np.ndarray, tau: float) -> np.ndarray:
    """``tau * log prior``: added to the logits while training with ``logit_adjust``."""
    return tau * np.log(priors(counts))


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-example focal loss ``-(1 - p_y) ** gamma * log p_y``."""
    log_p = F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
    return -((1.0 - log_p.exp()).clamp_min(0.0) ** gamma) * log_p


def sampling_weights(labels: np.ndarray, counts: Mapping[str, np.ndarray], power: float,
                     attributes: tuple[Attribute, ...] = ATTRIBUTES) -> np.ndarray:
    """One sampling weight per example: its rarest labelled class's ``(1 / share) ** power``.

    An example with no label at all gets the weight of the most common class of any head (1 / its share)
    so it is still drawn, as rarely as the most common examples.
    """
    inverse = np.zeros((labels.shape[0], len(attributes)))
    for j, attribute in enumerate(attributes):
        column = labels[:, j]
        labelled = column != MISSING
        inverse[labelled, j] = 1.0 / priors(counts[attribute.name])[column[labelled]]
    weights = inverse.max(axis=1)
    floor = min(1.0 / priors(counts[a.name]).max() for a in attributes)
    return np.where(weights > 0, weights, floor) ** power


class MultiTaskLoss:
    """The weighted sum of per-head losses, shaped by one long-tail strategy.

    ``counts`` are the training set's labelled examples per class, per head (``LabelledImages.class_counts``).
    """

    def __init__(self, config: LongTailConfig, counts: Mapping[str, np.ndarray],
                 head_weights: Mapping[str, float] | None = None,
                 attributes: tuple[Attribute, ...] = ATTRIBUTES) -> None:
        missing = [a.name for a in attributes if a.name not in counts]
        if missing:
            raise UnknownNameError(f"class counts lack heads {missing}",
                                   hint="pass LabelledImages.class_counts() of the training set")
        self.config = config
        self.names = [a.name for a in attributes]
        self.head_weights = {name: float((head_weights or {}).get(name, 1.0)) for name in self.names}
        self.class_weights: dict[str, torch.Tensor] = {}
        self.offsets: dict[str, torch.Tensor] = {}
        for name in self.names:
            if config.strategy == "class_balanced":
                self.class_weights[name] = torch.tensor(class_balanced_weights(counts[name], config.beta),
                                                        dtype=torch.float32)
            elif config.strategy == "logit_adjust":
                self.offsets[name] = torch.tensor(logit_offsets(counts[name], config.tau), dtype=torch.float32)

    def head_loss(self, name: str, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss of one head over the given (already unmasked) examples."""
        strategy = self.config.strategy
        if strategy == "class_balanced":
            return F.cross_entropy(logits, target, weight=self.class_weights[name].to(logits.device))
        if strategy == "focal":
            return focal_loss(logits, target, self.config.gamma).mean()
        if strategy == "logit_adjust":
            return F.cross_entropy(logits + self.offsets[name].to(logits.device), target)
        return F.cross_entropy(logits, target)

    def per_head(self, logits: Mapping[str, torch.Tensor], labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each head's loss; a head with no labelled example in the batch gets a zero (not NaN)."""
        losses = {}
        for j, name in enumerate(self.names):
            target = labels[:, j]
            mask = target != MISSING
            if not bool(mask.any()):
                losses[name] = logits[name].sum() * 0.0  # keeps the graph, so backward() works
                continue
            losses[name] = self.head_loss(name, logits[name][mask], target[mask])
        return losses

    def __call__(self, logits: Mapping[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        losses = self.per_head(logits, labels)
        return torch.stack([self.head_weights[name] * loss for name, loss in losses.items()]).sum()


#: Post-hoc shifts tried per head: from adding the log prior back (-1.5) to subtracting it (+1.5).
POSTHOC_SHIFTS: tuple[float, ...] = tuple(np.round(np.arange(-1.5, 1.5001, 0.1), 2).tolist())


def _curve(logits: np.ndarray, true: np.ndarray, log_prior: np.ndarray, tail: np.ndarray,
           shifts: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validation accuracy, objective and calibration error (after temperature scaling) at each shift.

    The objective is the mean recall of the tail classes that have validation examples, plus a thousandth
    of the balanced accuracy to break ties (or the balanced accuracy alone when no tail class has any).
    """
    support = np.bincount(true, minlength=len(log_prior))
    present = support > 0
    tail_present = present & tail
    accuracy, objective, ece = [], [], []
    for shift in shifts:
        shifted = logits - shift * log_prior
        pred = shifted.argmax(axis=1)
        recall = np.bincount(true[pred == true], minlength=len(log_prior)) / np.maximum(support, 1)
        accuracy.append(float(np.sum(recall * support)) / len(true))
        balanced = float(np.mean(recall[present]))
        objective.append(float(np.mean(recall[tail_present])) + 1e-3 * balanced if tail_present.any() else balanced)
        temperature = fit_temperature(shifted, true, iterations=40)
        ece.append(expected_calibration_error(softmax(shifted, temperature), true))
    return np.array(accuracy), np.array(objective), np.array(ece)


def tune_posthoc(logits: Mapping[str, np.ndarray], labels: np.ndarray, counts: Mapping[str, np.ndarray],
                 accuracy_budget: float, ece_cap: float = 1.0, shifts: tuple[float, ...] = POSTHOC_SHIFTS,
                 attributes: tuple[Attribute, ...] = ATTRIBUTES) -> dict[str, float]:
    """One shift per head from validation logits (see the module docstring); 0.0 for a head with no labels."""
    unit = 1e-3  # accuracy is spent in steps of 0.1 point
    by_size = sorted(range(len(shifts)), key=lambda i: (abs(shifts[i]), shifts[i]))  # ties go to the smallest
    chosen = dict.fromkeys((a.name for a in attributes), 0.0)
    curves = {}
    for j, attribute in enumerate(attributes):
        labelled = labels[:, j] != MISSING
        if labelled.any():
            curves[attribute.name] = _curve(logits[attribute.name][labelled], labels[labelled, j],
                                            np.log(priors(counts[attribute.name])),
                                            tail_classes(counts[attribute.name]), shifts)
    capacity = int(np.floor(accuracy_budget * len(curves) / unit + 1e-9))
    # spent units -> (summed objective, shift index per head so far)
    states: dict[int, tuple[float, tuple[int, ...]]] = {0: (0.0, ())}
    for accuracy, objective, ece in curves.values():
        cost = np.ceil((accuracy.max() - accuracy) / unit - 1e-9).astype(int)
        calibrated = ece <= max(ece_cap, float(ece[int(np.argmax(accuracy))]))
        following: dict[int, tuple[float, tuple[int, ...]]] = {}
        for spent, (value, picks) in states.items():
            for i in (i for i in by_size if calibrated[i]):
                total = spent + int(cost[i])
                if total <= capacity and (total not in following or following[total][0] < value + objective[i]):
                    following[total] = (value + objective[i], (*picks, i))
        states = following
    _, (_, picks) = max(states.items(), key=lambda item: (item[1][0], -item[0]))  # best, then cheapest
    for name, i in zip(curves, picks, strict=True):
        chosen[name] = float(shifts[i])
    return chosen


def apply_posthoc(network: MultiTaskTagger, counts: Mapping[str, np.ndarray], shifts: Mapping[str, float]) -> None:
    """Fold ``logits - shift * log prior`` into the bias of each head's last linear layer, in place."""
    for name, shift in shifts.items():
        head = network.heads[name]
        last = head[-1] if isinstance(head, nn.Sequential) else head
        if not isinstance(last, nn.Linear):
            raise ModelError(f"head {name!r} does not end in a Linear layer; cannot fold the post-hoc shift into it",
                             field=name)
        offset = torch.tensor(shift * np.log(priors(counts[name])), dtype=last.bias.dtype, device=last.bias.device)
        with torch.no_grad():
            last.bias.sub_(offset)
