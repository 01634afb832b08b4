"""The one base model every contract shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

#: Version of the message layouts in this package. Bump it on a breaking change and
#: keep accepting the previous one for as long as producers may still send it.
SCHEMA_VERSION = 1


class ContractModel(BaseModel):
    """Strict, immutable, closed: unknown fields and wrong types are errors that name the field.

    Validate bytes from outside with ``Model.model_validate_json(raw)``; strict mode then still
    accepts what JSON can only spell as strings (timestamps, enum values).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, str_strip_whitespace=False)

    def to_bytes(self) -> bytes:
        """The Kafka value: compact JSON, ``None`` fields left out."""
        return self.model_dump_json(exclude_none=True).encode()
