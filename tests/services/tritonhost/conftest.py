"""Model repositories for the Triton host's tests.

``exported_repository`` is always a fresh export of the tiny test model. ``served_repository`` is the one
the stack's Triton host serves: ``TritonHostSettings``'s, that is ``TAGSTREAM_MODEL_REPOSITORY`` when set,
else the committed repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.tritonhost.settings import TritonHostSettings
from tests.model.factories import export_tiny_repository


@pytest.fixture(scope="session")
def exported_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_tiny_repository(tmp_path_factory.mktemp("repository"))


@pytest.fixture(scope="session")
def served_repository() -> Path:
    return TritonHostSettings().model_repository
