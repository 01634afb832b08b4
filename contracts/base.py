"""The one base model every contract shares, and the rule by which a contract's layout changes.

**Schema versions.** Every message carries ``schema_version``. A change that old readers can ignore (a new
optional field with a default) keeps the version. A change that moves, renames or removes a field bumps the
version of that one message, and its model keeps reading every older version it ever wrote: it declares a
migration from each version ``n`` to ``n + 1`` (``MIGRATIONS``), and validation upgrades an old record step by
step before checking it. So a record written years ago still validates, and the rest of the code sees only
the current layout. Writers always write the current version; the JSON Schema in ``contracts/schemas``
describes it. (Readers are closed, so upgrade readers before writers.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar, Final, Self

from pydantic import BaseModel, ConfigDict

#: The first layout of every message; a message whose layout changed says its own version (``VERSION``).
SCHEMA_VERSION: Final = 1

#: Rewrites a record of version ``n`` (a JSON object) into version ``n + 1``.
Migration = Callable[[dict[str, Any]], dict[str, Any]]


class ContractModel(BaseModel):
    """Strict, immutable, closed: unknown fields and wrong types are errors that name the field.

    Validate bytes from outside with ``Model.model_validate_json(raw)``; strict mode then still
    accepts what JSON can only spell as strings (timestamps, enum values).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, str_strip_whitespace=False)

    #: The version this model writes; only messages whose layout changed set it (with ``MIGRATIONS``).
    VERSION: ClassVar[int] = SCHEMA_VERSION
    #: ``{n: migration from n to n + 1}`` for every ``n`` below ``VERSION``.
    MIGRATIONS: ClassVar[dict[int, Migration]] = {}

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Self:
        """Validate a JSON record, upgraded first when it is of an older ``schema_version``."""
        if cls.MIGRATIONS:
            try:
                record = json.loads(json_data)
            except (ValueError, RecursionError):
                record = None  # validation below says what is wrong with it
            if isinstance(record, dict) and cls._is_old(record):
                json_data = json.dumps(cls._upgrade(record))
        return super().model_validate_json(json_data, **kwargs)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate a Python record, upgraded first when it is of an older ``schema_version``."""
        if cls.MIGRATIONS and isinstance(obj, dict) and cls._is_old(obj):
            obj = cls._upgrade(obj)
        return super().model_validate(obj, **kwargs)

    @classmethod
    def _is_old(cls, record: dict[str, Any]) -> bool:
        version = record.get("schema_version")
        return type(version) is int and SCHEMA_VERSION <= version < cls.VERSION

    @classmethod
    def _upgrade(cls, record: dict[str, Any]) -> dict[str, Any]:
        for step in range(record["schema_version"], cls.VERSION):
            record = cls.MIGRATIONS[step](dict(record))
        return record

    def to_bytes(self) -> bytes:
        """The Kafka value: compact JSON, ``None`` fields left out."""
        return self.model_dump_json(exclude_none=True).encode()
