"""Model repositories for the Triton host's tests.

``exported_repository`` is always a fresh export of the tiny test model. ``served_repository`` is the
one the stack's Triton host serves in this session, first found of:

1. ``TAGSTREAM_MODEL_REPOSITORY`` as set when pytest started;
2. the committed repository (``TritonHostSettings``'s default) when its ``catalog_tagger/1/model.onnx``
   exists;
3. ``exported_repository``, announced to the host through ``TAGSTREAM_MODEL_REPOSITORY`` in this
   process's environment, which every stack process inherits.

It is autouse so the variable is set before any stack fixture starts Triton in these tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.tritonhost.settings import TritonHostSettings
from tests.services.model.factories import export_tiny_repository

REPOSITORY_ENV = "TAGSTREAM_MODEL_REPOSITORY"


@pytest.fixture(scope="session")
def exported_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_tiny_repository(tmp_path_factory.mktemp("repository"))


@pytest.fixture(scope="session", autouse=True)
def served_repository(request: pytest.FixtureRequest) -> Iterator[Path]:
    if os.environ.get(REPOSITORY_ENV):
        yield Path(os.environ[REPOSITORY_ENV])
        return
    settings = TritonHostSettings()
    if settings.model_path.is_file():
        yield settings.model_repository
        return
    exported: Path = request.getfixturevalue("exported_repository")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(REPOSITORY_ENV, str(exported))
        yield exported
