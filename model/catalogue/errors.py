"""What is wrong with a label file, and where: ``CatalogueError`` names the file, the line and the column.

``ErrorSink`` is the one place that decides whether a bad row stops the load (strict, the default) or is
collected so that a whole file's problems can be fixed in one pass.
"""

from __future__ import annotations

from pathlib import Path

from model.errors import ModelError


class CatalogueError(ModelError):
    """A label file (or an image it names) cannot be used as training data.

    ``path`` is the label file, ``line`` its 1-based line (None when the whole file is at fault) and
    ``column`` the column at fault: a header name for CSV and JSONL, a 1-based position for FashionAI's
    headerless files, None when the row as a whole is at fault.
    """

    code = "catalogue_invalid"

    def __init__(self, message: str, *, path: Path, line: int | None = None, column: str | int | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, field=None if column is None else str(column), hint=hint)
        self.path = path
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = str(self.path) if self.line is None else f"{self.path}:{self.line}"
        if self.column is not None:
            where += f": column {self.column!r}" if isinstance(self.column, str) else f": column {self.column}"
        return f"{where}: {super().__str__()}"


class ErrorSink:
    """Raises each error when ``strict``; otherwise keeps them, in file order, for the caller to report."""

    def __init__(self, path: Path, *, strict: bool) -> None:
        self.path = path
        self.strict = strict
        self.errors: list[CatalogueError] = []

    def report(self, message: str, *, line: int | None, column: str | int | None = None,
               hint: str | None = None) -> None:
        error = CatalogueError(message, path=self.path, line=line, column=column, hint=hint)
        if self.strict:
            raise error
        self.errors.append(error)

    def fatal(self, message: str, *, line: int | None = None, column: str | int | None = None,
              hint: str | None = None) -> CatalogueError:
        """An error that leaves nothing to load (no header, no image column): raised even when not strict."""
        return CatalogueError(message, path=self.path, line=line, column=column, hint=hint)
