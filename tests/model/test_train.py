"""Training: a calibrated model out, checkpoints each epoch, exact resume, reproducible seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model.dataset import MISSING, LabelledImages
from model.longtail import STRATEGIES, LongTailConfig
from model.network import NetworkConfig
from model.synthetic import dataset
from model.train import BEST, LAST, TrainConfig, augment, split_for_training, train
from model.trained import TrainedModel

TINY = NetworkConfig(width=4, depth=2, hidden=8)


@pytest.fixture(scope="module")
def data() -> LabelledImages:
    data = dataset(96, seed=11)
    labels = data.labels.copy()
    labels[::4, 2] = MISSING  # some heads unlabelled for some images, as in a real catalogue
    return LabelledImages(data.images, labels)


def _config(**changes: object) -> TrainConfig:
    return TrainConfig(**{"epochs": 2, "batch_size": 16, "network": TINY, "val_fraction": 0.25, "threads": 1,
                          **changes})


class Stop(Exception):
    pass


def test_training_gives_a_calibrated_model_with_ood_stats_and_priors(data: LabelledImages, tmp_path: Path) -> None:
    result = train(data, _config(checkpoint_dir=tmp_path), progress=False)
    model = result.model
    assert set(model.temperatures) == {a for a in model.train_priors} and len(model.temperatures) == 13
    assert all(0.05 <= t <= 20 for t in model.temperatures.values())
    assert model.ood is not None and model.ood.threshold > 0
    assert all(abs(sum(p) - 1.0) < 1e-9 for p in model.train_priors.values())
    assert len(result.history) == 2 and result.best_epoch in (1, 2)
    assert len(result.validation) == 24 and len(result.train) == 72
    assert model.metadata["strategy"] == "logit_adjust" and model.metadata["n_train"] == 72
    assert set(model.metadata["posthoc_shifts"]) == set(model.temperatures)  # the default recipe tunes them
    assert (tmp_path / LAST).is_file()
    assert TrainedModel.load(tmp_path / BEST).metadata["epoch"] == result.best_epoch
    model.save(tmp_path / "model.pt")
    loaded = TrainedModel.load(tmp_path / "model.pt")
    assert loaded.temperatures == model.temperatures and loaded.metadata == model.metadata


def test_the_split_is_the_one_split_for_training_gives(data: LabelledImages) -> None:
    result = train(data, _config(epochs=1), progress=False)
    _, validation = split_for_training(data, _config(epochs=1))
    np.testing.assert_array_equal(result.validation.labels, validation.labels)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_trains(data: LabelledImages, strategy: str) -> None:
    config = _config(epochs=1, longtail=LongTailConfig(strategy=strategy))  # type: ignore[arg-type]
    result = train(data, config, progress=False)
    assert np.isfinite(result.history[0].train_loss)


def test_resumed_run_reaches_the_same_weights_as_an_uninterrupted_one(data: LabelledImages, tmp_path: Path) -> None:
    whole = train(data, _config(epochs=3, checkpoint_dir=tmp_path / "whole"), progress=False)

    def stop_after_first(record: object) -> None:
        raise Stop

    interrupted = _config(epochs=3, checkpoint_dir=tmp_path / "parts")
    with pytest.raises(Stop):
        train(data, interrupted, progress=False, on_epoch_end=stop_after_first)
    resumed = train(data, interrupted.model_copy(update={"resume": True}), progress=False)

    assert [r.val_macro_f1 for r in resumed.history] == [r.val_macro_f1 for r in whole.history]
    for (name, a), b in zip(whole.model.network.state_dict().items(), resumed.model.network.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name
    assert resumed.model.temperatures == whole.model.temperatures


def test_same_seed_same_model_and_other_seed_another(data: LabelledImages) -> None:
    def weights(seed: int) -> torch.Tensor:
        model = train(data, _config(epochs=1, seed=seed), progress=False).model
        return torch.cat([p.flatten() for p in model.network.parameters()])

    first = weights(1)
    assert torch.equal(first, weights(1))
    assert not torch.equal(first, weights(2))


def test_resume_refuses_a_checkpoint_of_another_config(data: LabelledImages, tmp_path: Path) -> None:
    train(data, _config(epochs=1, checkpoint_dir=tmp_path), progress=False)
    with pytest.raises(ValueError, match="lr"):
        train(data, _config(epochs=1, checkpoint_dir=tmp_path, resume=True, lr=0.1), progress=False)


def test_early_stopping_ends_the_run_after_patience_epochs_without_gain(data: LabelledImages) -> None:
    result = train(data, _config(epochs=6, lr=1e-9, patience=1), progress=False)  # nothing is learnt
    assert len(result.history) < 6
    assert result.best_epoch == max(range(1, len(result.history) + 1),
                                    key=lambda e: (result.history[e - 1].val_macro_f1, -e))


def test_labels_out_of_range_are_refused_naming_the_attribute(data: LabelledImages) -> None:
    labels = data.labels.copy()
    labels[0, 0] = 99
    with pytest.raises(ValueError, match="category"):
        train(LabelledImages(data.images, labels), _config(), progress=False)


def test_augment_shifts_and_flips_but_keeps_shape_and_pixels() -> None:
    images = torch.arange(2 * 8 * 8 * 3, dtype=torch.int64).remainder(251).to(torch.uint8).reshape(2, 8, 8, 3)
    out = augment(images, torch.Generator().manual_seed(0), shift=2)
    assert out.shape == images.shape and out.dtype == torch.uint8
    assert set(out.unique().tolist()) <= set(images.unique().tolist())
    assert not torch.equal(out, images)
    unshifted = augment(images, torch.Generator().manual_seed(0), shift=0)
    for image, seen in zip(images, unshifted, strict=True):
        assert torch.equal(seen, image) or torch.equal(seen, image.flip(1))


def test_head_weights_must_name_known_heads() -> None:
    with pytest.raises(ValueError, match="colour_of_the_sky"):
        TrainConfig(head_weights={"colour_of_the_sky": 1.0})
