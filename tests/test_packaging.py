"""What a tagger replica installs and imports: nothing of the training stack (torch, onnx, matplotlib)."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import subprocess
import sys

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

#: The offline model room's heavy dependencies; a tagger needs none of them.
TRAINING_ONLY = ("torch", "onnx", "onnxruntime", "matplotlib")


def _requirements(dist: str, extras: frozenset[str]) -> list[Requirement]:
    """The requirements of installed ``dist`` with ``extras``, markers evaluated for this interpreter."""
    wanted = []
    for text in metadata.requires(dist) or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras | {""}):
            wanted.append(requirement)
    return wanted


def _closure(dist: str, extras: frozenset[str]) -> set[str]:
    """Every distribution that installing ``dist[extras]`` pulls in, by canonical name (read from what is
    installed here, where ``[dev]`` has installed every extra)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    todo = [(dist, extras)]
    while todo:
        name, wanted = todo.pop()
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        for requirement in _requirements(name, wanted):
            names.add(canonicalize_name(requirement.name))
            todo.append((requirement.name, frozenset(requirement.extras)))
    return names


def test_the_tagger_extra_lists_nothing_of_the_training_stack() -> None:
    direct = {canonicalize_name(r.name) for r in _requirements("tagstream", frozenset({"tagger"}))}
    assert {"tritonclient", "pillow", "kafka-python", "pydantic-settings"} <= direct
    assert not direct & set(TRAINING_ONLY)


def test_installing_the_tagger_extra_pulls_in_nothing_of_the_training_stack() -> None:
    pulled = _closure("tagstream", frozenset({"tagger"}))
    assert "grpcio" in pulled, "the closure follows tritonclient[grpc]"
    assert not pulled & set(TRAINING_ONLY), sorted(pulled & set(TRAINING_ONLY))


def test_the_train_extra_does_pull_in_the_training_stack() -> None:
    """The check above can fail: the same reading of the metadata finds them where they belong."""
    assert set(TRAINING_ONLY) <= _closure("tagstream", frozenset({"train"}))


_IMPORTED = f"""
import json, sys
import services.tagger.main
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({list(TRAINING_ONLY)!r}))))
"""


def test_the_tagger_entry_point_imports_nothing_of_the_training_stack() -> None:
    result = subprocess.run([sys.executable, "-c", _IMPORTED], capture_output=True, text=True, timeout=120,
                            check=True)
    assert json.loads(result.stdout) == []


def test_a_module_of_the_training_stack_is_seen_when_it_is_imported() -> None:
    """The check above can fail: the same probe sees the model room pull in torch."""
    probe = _IMPORTED.replace("import services.tagger.main", "import model.network")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                            check=True)
    assert "torch" in json.loads(result.stdout)
