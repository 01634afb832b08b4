"""A YAML document as plain data, with the line of every key and list item, so errors can name the line.

PyYAML composes a node tree in which each node keeps its start mark; this walks that tree once, builds the data
with PyYAML's safe constructor and records ``path -> line`` (1-based), where a path is the tuple of keys and
list indices that leads to a value, as pydantic's error locations spell it. A key given twice is an error here:
plain ``yaml.safe_load`` would silently keep the last one.
"""

from __future__ import annotations

from typing import Any

import yaml

Path = tuple[str | int, ...]


class YamlError(ValueError):
    """The text is not YAML, or repeats a key; ``line`` is 1-based (None when unknown)."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def load(text: str) -> tuple[Any, dict[Path, int]]:
    """The document's data and the line of every path in it (``()`` is the document itself)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[Path, int] = {}
        return _build(loader, node, (), lines), lines
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise YamlError(f"{e.problem or e.context}", mark.line + 1 if mark else None) from e
    except yaml.YAMLError as e:
        raise YamlError(str(e), None) from e
    finally:
        loader.dispose()


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: Path, lines: dict[Path, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in result:
                raise YamlError(f"key {key!r} is given twice", key_node.start_mark.line + 1)
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _build(loader, value_node, (*path, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), lines) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def line_of(lines: dict[Path, int], loc: tuple[Any, ...]) -> int | None:
    """The line of the longest prefix of ``loc`` (a pydantic error location) that the document has."""
    path = tuple(part for part in loc if isinstance(part, int | str))
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
