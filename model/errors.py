"""Errors of the offline model room: each a ``TagstreamError`` that says what to do about it.

Where a function used to raise a built-in error, its replacement derives from that built-in too
(``TrainingDataError`` is a ``ValueError``), so code that caught the built-in still does. The catalogue
loaders' ``CatalogueError`` (``model.catalogue.errors``) derives from ``ModelError`` as well.
"""

from __future__ import annotations

from contracts.errors import TagstreamError


class ModelError(TagstreamError):
    """Base of the model room's errors."""

    code = "model_error"


class ModelArgumentError(ModelError, ValueError):
    """A function of the model room was called with arrays or values it cannot use (shapes, ranges)."""

    code = "invalid_argument"


class UnknownNameError(ModelError, KeyError):
    """An attribute, class or head name that the taxonomy or the model does not have."""

    code = "unknown_name"


class TrainingDataError(ModelError, ValueError):
    """The data cannot train or validate the model: too few images, labels out of range, no validation set."""

    code = "training_data"


class NoTrainedModelError(ModelError, FileNotFoundError):
    """There is no trained model (or checkpoint) where one was expected."""

    code = "no_trained_model"


class CheckpointError(ModelError, ValueError):
    """A model or checkpoint file of another format, or one that the run cannot resume from."""

    code = "checkpoint_mismatch"


class DeviceUnavailableError(ModelError, RuntimeError):
    """The device the configuration asks for (CUDA) is not there."""

    code = "device_unavailable"


class ExportError(ModelError):
    """The exported model does not match the trained one, or the repository cannot take it."""

    code = "export_failed"


class DriftKnobError(ModelError, ValueError):
    """A ``KNOB=VALUE`` text that does not make a ``Drift``; ``knob`` names the one at fault."""

    code = "drift_knob"

    def __init__(self, knob: str, message: str) -> None:
        super().__init__(f"drift knob {knob!r}: {message}", field=knob)
        self.knob = knob
