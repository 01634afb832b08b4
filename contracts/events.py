"""CatalogEvent: a CloudEvents 1.0 event carrying a product that needs tags.

Structured mode (the whole event as JSON in the Kafka value) is the native form.
Binary mode (attributes in ``ce_`` headers, ``data`` in the value) is accepted by
:func:`from_binary_mode`, which rebuilds the structured form before validation.
"""

from __future__ import annotations

import base64
import binascii
import json
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from contracts.base import SCHEMA_VERSION, ContractModel

#: Upper bound of an inline image in base64 characters (the tagger's own byte limit is usually lower).
MAX_INLINE_IMAGE_CHARS = 8 * 1024 * 1024
MAX_URL_CHARS = 2048

Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-/]*$")]


class EventType(StrEnum):
    CREATED = "catalog.product.created"
    UPDATED = "catalog.product.updated"
    #: The product left the catalogue: the tagger publishes a tombstone (its key, a null value) on
    #: ``catalog.tags``, so compacted and upserting consumers drop it. Needs no image.
    DELETED = "catalog.product.deleted"


def _check_base64(value: str) -> str:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError(f"not valid base64: {e}") from e
    return value


class ImageRef(ContractModel):
    """Exactly one of ``url`` (http or https) or ``inline`` (base64 of the image file)."""

    url: Annotated[str, Field(max_length=MAX_URL_CHARS, pattern=r"^(?i:https?)://[^\s]+$")] | None = None
    inline: Annotated[str, Field(min_length=4, max_length=MAX_INLINE_IMAGE_CHARS),
                      AfterValidator(_check_base64)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageRef:
        if (self.url is None) == (self.inline is None):
            raise ValueError("give exactly one of image.url or image.inline")
        return self


class ProductData(ContractModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    product_id: Identifier
    merchant_id: Identifier
    category_hint: Annotated[str, Field(max_length=64)] | None = None
    title: Annotated[str, Field(max_length=512)] = ""
    image: ImageRef | None = Field(None, description="required unless the event deletes the product")
    locale: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Z]{2})?$")] = "en-GB"


class CatalogEvent(ContractModel):
    """A CloudEvents 1.0 event in structured mode. Kafka key = ``data.product_id``."""

    specversion: Literal["1.0"] = "1.0"
    id: Annotated[str, Field(min_length=1, max_length=128)]
    source: Annotated[str, Field(min_length=1, max_length=256)]
    type: EventType
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    subject: Annotated[str, Field(max_length=128)] | None = None
    data: ProductData

    @model_validator(mode="after")
    def _image_unless_deleted(self) -> CatalogEvent:
        if self.data.image is None and self.type is not EventType.DELETED:
            # raised whole, so that the error names the field (data.image) and not the event
            error = PydanticCustomError("image_required", "a {event_type} event needs data.image (a url or "
                                        "inline); only {deleted} events may leave it out",
                                        {"event_type": self.type.value, "deleted": EventType.DELETED.value})
            raise ValidationError.from_exception_data(
                type(self).__name__, [InitErrorDetails(type=error, loc=("data", "image"), input=None)])
        return self

    @property
    def deletes(self) -> bool:
        return self.type is EventType.DELETED

    @property
    def key(self) -> bytes:
        return self.data.product_id.encode()


def is_binary_mode(headers: list[tuple[str, bytes]] | None) -> bool:
    return any(k == "ce_specversion" for k, _ in headers or [])


def from_binary_mode(headers: list[tuple[str, bytes]], data: object) -> bytes:
    """Rebuild the structured JSON of a binary-mode event; validation happens on the result."""
    envelope: dict[str, object] = {
        key.removeprefix("ce_"): value.decode("utf-8", errors="replace")
        for key, value in headers
        if key.startswith("ce_")  # an unknown attribute stays in: validation then names it
    }
    envelope["data"] = data
    return json.dumps(envelope).encode()

