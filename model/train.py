"""Training the multi-task tagger: from labelled images to a calibrated ``TrainedModel``.

``train`` splits off a validation set, trains with AdamW (linear warm-up, cosine decay) and the chosen
long-tail strategy, scores validation macro-F1 after every epoch and stops early after ``patience``
epochs without improvement, keeping the best weights. Then, on the best weights, it applies the post-hoc
logit adjustment when the long-tail config asks for it, fits one temperature per head on the validation
logits, and fits the out-of-distribution Gaussian on the training embeddings with its threshold on the
validation ones.

Reproducible: every random draw of an epoch (shuffling or sampling, augmentation, dropout) comes from
generators seeded with ``(seed, epoch)``, so a run resumed from its last checkpoint (model, optimiser,
schedule, best weights, epoch) continues exactly as the uninterrupted run would have on the same
device and thread count.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from model.calibration import expected_calibration_error, fit_temperatures, softmax
from model.dataset import MISSING, LabelledImages
from model.errors import CheckpointError, DeviceUnavailableError, TrainingDataError
from model.longtail import (
    DEFAULT_RECIPE,
    LongTailConfig,
    MultiTaskLoss,
    apply_posthoc,
    sampling_weights,
    tune_posthoc,
)
from model.network import MultiTaskTagger, NetworkConfig
from model.ood import DEFAULT_QUANTILE, DEFAULT_SHRINKAGE, fit_ood
from model.scores import macro_f1
from model.trained import TrainedModel
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES

log = logging.getLogger(__name__)

STATE_FORMAT = 1
LAST = "last.pt"
BEST = "best.pt"
#: Config fields a resumed run may change: they do not change what is computed.
_RESUMABLE_CHANGES = frozenset({"resume", "checkpoint_dir", "threads", "device", "patience"})


class TrainConfig(BaseModel):
    """Everything that decides a training run; stored in the model's metadata."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(0, description="seeds the split, initialisation, shuffling, augmentation and dropout")
    epochs: int = Field(8, ge=1, le=1000, description="maximum epochs (early stopping may end sooner)")
    batch_size: int = Field(128, ge=2, le=8192, description="training examples per step")
    lr: float = Field(3e-3, gt=0.0, le=1.0, description="peak AdamW learning rate")
    weight_decay: float = Field(5e-4, ge=0.0, le=1.0, description="AdamW decoupled weight decay")
    warmup_fraction: float = Field(0.03, ge=0.0, lt=1.0, description="share of all steps spent warming up")
    longtail: LongTailConfig = Field(DEFAULT_RECIPE, description="long-tail strategy (default: the bench's recipe)")
    head_weights: dict[str, float] = Field(default_factory=dict, description="loss weight per head (default 1)")
    network: NetworkConfig = Field(default_factory=lambda: NetworkConfig(width=16),
                                   description="backbone and heads (default: the small backbone, width 16)")
    augment: bool = Field(True, description="random horizontal flips and shifts of up to 4 pixels")
    val_fraction: float = Field(0.1, gt=0.0, lt=0.9, description="share held out for early stopping etc.")
    patience: int = Field(3, ge=1, description="epochs without a better validation macro-F1 before stopping")
    threads: int = Field(2, ge=1, le=256, description="torch CPU threads")
    device: Literal["cpu", "cuda"] = Field("cpu", description="where to train")
    batch_size_eval: int = Field(512, ge=1, description="examples per forward pass when scoring")
    ood_quantile: float = Field(DEFAULT_QUANTILE, gt=0.0, le=1.0,
                                description="quantile of validation OOD distances used as the threshold")
    ood_shrinkage: float = Field(DEFAULT_SHRINKAGE, ge=0.0, le=1.0, description="covariance shrinkage")
    checkpoint_dir: Path | None = Field(None, description="where last.pt and best.pt go each epoch")
    resume: bool = Field(False, description="continue from checkpoint_dir/last.pt when it exists")

    @field_validator("head_weights")
    @classmethod
    def _known_heads(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(ATTRIBUTE_NAMES))
        if unknown:
            raise ValueError(f"head_weights names unknown heads {unknown}; known: {', '.join(ATTRIBUTE_NAMES)}")
        negative = sorted(name for name, w in weights.items() if w < 0)
        if negative:
            raise ValueError(f"head_weights must not be negative; {negative} are")
        return weights


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based
    train_loss: float
    val_macro_f1: float
    lr: float
    seconds: float


@dataclass
class TrainResult:
    """The calibrated model, the exact split it was trained and validated on, and its history."""

    model: TrainedModel
    train: LabelledImages
    validation: LabelledImages
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0


@dataclass(frozen=True)
class NetworkOutputs:
    logits: dict[str, np.ndarray]  # per head, (N, K)
    embeddings: np.ndarray  # (N, F)


def split_for_training(data: LabelledImages, config: TrainConfig) -> tuple[LabelledImages, LabelledImages]:
    """The (train, validation) split ``train`` uses for this data and config."""
    if len(data) < 4:
        raise TrainingDataError(f"need at least 4 labelled images to train and validate, got {len(data)}")
    return data.split(config.val_fraction, seed=config.seed)


def check_labels(data: LabelledImages) -> None:
    """Raise ``ValueError`` naming the attribute when a label is not a class index or MISSING."""
    for j, attribute in enumerate(ATTRIBUTES):
        column = data.labels[:, j]
        bad = (column != MISSING) & ((column < 0) | (column >= attribute.size))
        if bad.any():
            raise TrainingDataError(f"labels of {attribute.name} must be in [0, {attribute.size}) or MISSING "
                                    f"({MISSING}); found {sorted(set(column[bad].tolist()))[:5]}",
                                    field=attribute.name)


@torch.no_grad()
def network_outputs(network: MultiTaskTagger, images: np.ndarray, *, batch_size: int = 512,
                    device: str = "cpu") -> NetworkOutputs:
    """Logits per head and embeddings of ``images`` (uint8 NHWC) in eval mode."""
    network.eval()
    logits: dict[str, list[np.ndarray]] = {a.name: [] for a in network.attributes}
    embeddings = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size])).to(device)
        features = network.embed(batch)
        for name, value in network.head_logits(features).items():
            logits[name].append(value.float().cpu().numpy())
        embeddings.append(features.float().cpu().numpy())
    width = network.embedding_size
    return NetworkOutputs(
        logits={name: np.concatenate(parts) if parts else np.zeros((0, a.size), np.float32)
                for (name, parts), a in zip(logits.items(), network.attributes, strict=True)},
        embeddings=np.concatenate(embeddings) if embeddings else np.zeros((0, width), np.float32))


def augment(images: torch.Tensor, generator: torch.Generator, shift: int = 4) -> torch.Tensor:
    """Random horizontal flips and shifts of up to ``shift`` pixels (edges repeated), on uint8 NHWC."""
    n, h, w, _ = images.shape
    dy = torch.randint(-shift, shift + 1, (n, 1), generator=generator)
    dx = torch.randint(-shift, shift + 1, (n, 1), generator=generator)
    flip = torch.rand(n, 1, generator=generator) < 0.5
    rows = (torch.arange(h)[None, :] + dy).clamp(0, h - 1)
    cols = (torch.arange(w)[None, :] + dx).clamp(0, w - 1)
    cols = torch.where(flip, w - 1 - cols, cols)
    rows, cols = rows.to(images.device), cols.to(images.device)
    batch = torch.arange(n, device=images.device)[:, None, None]
    return images[batch, rows[:, :, None], cols[:, None, :]]


def _fingerprint(data: LabelledImages) -> str:
    digest = hashlib.sha256(data.labels.tobytes())
    digest.update(np.ascontiguousarray(data.images[:: max(1, len(data) // 64)]).tobytes())
    return f"{len(data)}:{digest.hexdigest()[:16]}"


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def _schedule(config: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    total = config.epochs * steps_per_epoch
    warmup = max(1, round(total * config.warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    return factor


def _progress(console: Console | None) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("loss {task.fields[loss]:.3f}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=console, transient=False)


class _Run:
    """The mutable state of one training run: what a checkpoint saves and a resume restores."""

    def __init__(self, config: TrainConfig, train: LabelledImages, steps_per_epoch: int) -> None:
        torch.manual_seed(config.seed)
        # Module.to takes memory_format (documented, and what channels_last training needs); torch's overloads omit it
        self.network = MultiTaskTagger(config.network).to(config.device).to(  # type: ignore[call-overload]
            memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(self.network.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _schedule(config, steps_per_epoch))
        self.epoch = 0
        self.best_score = -math.inf
        self.best_epoch = 0
        self.best_state = {k: v.detach().clone() for k, v in self.network.state_dict().items()}
        self.bad_epochs = 0
        self.history: list[EpochRecord] = []
        self.fingerprint = _fingerprint(train)

    def state(self, config: TrainConfig) -> dict[str, Any]:
        return {"format": STATE_FORMAT, "config": config.model_dump(mode="json"), "fingerprint": self.fingerprint,
                "epoch": self.epoch, "network": self.network.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "best_score": self.best_score,
                "best_epoch": self.best_epoch, "best_state": self.best_state, "bad_epochs": self.bad_epochs,
                "history": [asdict(r) for r in self.history]}

    def restore(self, path: Path, config: TrainConfig) -> None:
        blob = torch.load(path, map_location=config.device, weights_only=True)
        if blob.get("format") != STATE_FORMAT:
            raise CheckpointError(f"{path} has training-state format {blob.get('format')}, expected {STATE_FORMAT}")
        saved, wanted = blob["config"], config.model_dump(mode="json")
        changed = sorted(k for k in wanted if k not in _RESUMABLE_CHANGES and saved.get(k) != wanted[k])
        if changed:
            raise CheckpointError(f"cannot resume from {path}: the config differs in {', '.join(changed)}; "
                                  "use the same settings, or another checkpoint_dir to start afresh")
        if blob["fingerprint"] != self.fingerprint:
            raise CheckpointError(f"cannot resume from {path}: it was trained on other data "
                                  f"({blob['fingerprint']}, now {self.fingerprint}); use the same data or another "
                                  "checkpoint_dir")
        self.network.load_state_dict(blob["network"])
        self.optimizer.load_state_dict(blob["optimizer"])
        self.scheduler.load_state_dict(blob["scheduler"])
        self.epoch, self.best_score, self.best_epoch = blob["epoch"], blob["best_score"], blob["best_epoch"]
        self.best_state, self.bad_epochs = blob["best_state"], blob["bad_epochs"]
        self.history = [EpochRecord(**r) for r in blob["history"]]


def _fit_epoch(run: _Run, loss_fn: MultiTaskLoss, images: torch.Tensor, labels: torch.Tensor,
               sample_weights: torch.Tensor | None, config: TrainConfig,
               progress: Progress | None) -> float:
    generator = torch.Generator().manual_seed(_epoch_seed(config.seed, run.epoch))
    torch.manual_seed(_epoch_seed(config.seed + 1, run.epoch))  # dropout
    n = len(images)
    order = (torch.multinomial(sample_weights, n, replacement=True, generator=generator)
             if sample_weights is not None else torch.randperm(n, generator=generator))
    steps = max(1, n // config.batch_size)  # drop the ragged last batch (BatchNorm needs > 1 example)
    description = f"epoch {run.epoch + 1}/{config.epochs}"
    task = None
    if progress is not None:  # one bar, restarted each epoch; the epoch's summary line stays above it
        task = progress.task_ids[0] if progress.task_ids else progress.add_task(description, loss=float("nan"))
        progress.reset(task, total=steps, description=description, loss=float("nan"))
    run.network.train()
    total = 0.0
    for step in range(steps):
        index = order[step * config.batch_size:(step + 1) * config.batch_size].to(images.device)
        batch = images[index]
        if config.augment:
            batch = augment(batch, generator)
        loss = loss_fn(run.network.logits(batch), labels[index])
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        run.scheduler.step()
        total += float(loss.detach())
        if progress is not None and task is not None:
            progress.update(task, advance=1, loss=total / (step + 1))
    return total / steps


def _save(run: _Run, config: TrainConfig, train: LabelledImages) -> None:
    if config.checkpoint_dir is None:
        return
    config.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    last = config.checkpoint_dir / LAST
    torch.save(run.state(config), last.with_suffix(".tmp"))
    last.with_suffix(".tmp").replace(last)
    if run.best_epoch == run.epoch:
        best = MultiTaskTagger(config.network)
        best.load_state_dict(run.best_state)
        TrainedModel(network=best, train_priors=_priors(train),
                     metadata={"epoch": run.epoch, "val_macro_f1": run.best_score, "calibrated": False,
                               "config": config.model_dump(mode="json")}).save(config.checkpoint_dir / BEST)


def _priors(train: LabelledImages) -> dict[str, list[float]]:
    counts = train.class_counts()
    return {name: (c / max(1, c.sum())).tolist() for name, c in counts.items()}


def train(data: LabelledImages, config: TrainConfig, *, progress: bool = True, console: Console | None = None,
          on_epoch_end: Callable[[EpochRecord], None] | None = None) -> TrainResult:
    """Train, early-stop on validation macro-F1, calibrate and fit the OOD score; see the module docstring.

    ``on_epoch_end`` is called after each epoch's checkpoint is written (an exception there stops the run
    with the checkpoint intact).
    """
    check_labels(data)
    if config.device == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailableError("device='cuda' but torch sees no CUDA device; use device='cpu'")
    torch.set_num_threads(config.threads)
    started = time.monotonic()
    train_set, val_set = split_for_training(data, config)
    counts = train_set.class_counts()
    steps_per_epoch = max(1, len(train_set) // config.batch_size)
    run = _Run(config, train_set, steps_per_epoch)
    last = config.checkpoint_dir / LAST if config.checkpoint_dir else None
    if config.resume and last is not None and last.is_file():
        run.restore(last, config)
        log.info("resumed from %s after epoch %d", last, run.epoch)
    elif config.resume:
        log.warning("resume asked but there is no %s; starting afresh", last or "checkpoint_dir")
    loss_fn = MultiTaskLoss(config.longtail, counts, config.head_weights)
    images = torch.from_numpy(train_set.images).to(config.device)
    labels = torch.from_numpy(train_set.labels).to(config.device)
    weights = None
    if config.longtail.strategy == "balanced_sampling":
        weights = torch.from_numpy(sampling_weights(train_set.labels, counts, config.longtail.sampling_power))

    bar = _progress(console) if progress else None
    with bar or contextlib.nullcontext():
        while run.epoch < config.epochs and run.bad_epochs < config.patience:
            tick = time.monotonic()
            loss = _fit_epoch(run, loss_fn, images, labels, weights, config, bar)
            outputs = network_outputs(run.network, val_set.images, batch_size=config.batch_size_eval,
                                      device=config.device)
            score = macro_f1({k: v.argmax(axis=1) for k, v in outputs.logits.items()}, val_set.labels)
            run.epoch += 1
            improved = score > run.best_score
            if improved:
                run.best_score, run.best_epoch, run.bad_epochs = score, run.epoch, 0
                run.best_state = {k: v.detach().clone() for k, v in run.network.state_dict().items()}
            else:
                run.bad_epochs += 1
            lr = float(run.scheduler.get_last_lr()[0])
            record = EpochRecord(run.epoch, loss, score, lr, time.monotonic() - tick)
            run.history.append(record)
            _save(run, config, train_set)
            message = (f"epoch {run.epoch}: loss {loss:.4f}, val macro-F1 {score:.4f}"
                       f"{' (best)' if improved else ''}, {record.seconds:.0f} s")
            (bar.console.print(message) if bar else log.info(message))
            if on_epoch_end is not None:
                on_epoch_end(record)
    model = _finish(run, config, train_set, val_set)
    model.metadata["seconds"] = round(time.monotonic() - started, 1)
    return TrainResult(model, train_set, val_set, run.history, run.best_epoch)


def _finish(run: _Run, config: TrainConfig, train_set: LabelledImages, val_set: LabelledImages) -> TrainedModel:
    """Best weights, temperatures fitted on validation, the OOD Gaussian, priors and metadata."""
    network = MultiTaskTagger(config.network)
    network.load_state_dict(run.best_state)
    network.to(config.device).eval()
    val = network_outputs(network, val_set.images, batch_size=config.batch_size_eval, device=config.device)
    shifts: dict[str, float] = {}
    if config.longtail.posthoc:
        counts = train_set.class_counts()
        shifts = tune_posthoc(val.logits, val_set.labels, counts, config.longtail.accuracy_budget,
                              config.longtail.ece_cap)
        apply_posthoc(network, counts, shifts)
        val = network_outputs(network, val_set.images, batch_size=config.batch_size_eval, device=config.device)
    fit = network_outputs(network, train_set.images, batch_size=config.batch_size_eval, device=config.device)
    temperatures = fit_temperatures(val.logits, val_set.labels)
    ood = fit_ood(fit.embeddings, val.embeddings, quantile=config.ood_quantile, shrinkage=config.ood_shrinkage)
    network.to("cpu")
    metadata: dict[str, Any] = {
        "config": config.model_dump(mode="json"), "strategy": config.longtail.strategy,
        "n_train": len(train_set), "n_validation": len(val_set), "data": run.fingerprint,
        "best_epoch": run.best_epoch, "epochs_run": run.epoch, "val_macro_f1": run.best_score,
        "val_ece_before": _ece(val.logits, val_set.labels, None),
        "val_ece_after": _ece(val.logits, val_set.labels, temperatures),
        "posthoc_shifts": shifts, "ood_quantile": config.ood_quantile, "torch": str(torch.__version__),
    }
    return TrainedModel(network=network, temperatures=temperatures, ood=ood, train_priors=_priors(train_set),
                        metadata=metadata)


def _ece(logits: Mapping[str, np.ndarray], labels: np.ndarray, temperatures: Mapping[str, float] | None) -> float:
    """ECE averaged over the heads that have labels."""
    values = [expected_calibration_error(softmax(logits[a.name], (temperatures or {}).get(a.name, 1.0)),
                                         labels[:, j]) for j, a in enumerate(ATTRIBUTES)]
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else float("nan")

