"""The load stage's first step: the image file an event names, inline or behind a URL, within the size limit."""

from __future__ import annotations

import base64
import binascii

from contracts import ErrorCode, ImageRef
from modelspec.errors import InputError
from services.tagger.fetch import SafeFetcher


def image_bytes(ref: ImageRef, fetcher: SafeFetcher, max_bytes: int) -> bytes:
    """The image file named by ``ref``: inline base64 decoded, or a URL fetched under the fetcher's policy."""
    if ref.inline is not None:
        field = "data.image.inline"
        if len(ref.inline) > 4 * -(-max_bytes // 3):  # size the text before decoding any of it
            raise InputError(ErrorCode.IMAGE_TOO_LARGE,
                             f"inline image is {len(ref.inline)} base64 characters, more than {max_bytes} "
                             "bytes (TAGSTREAM_IMAGE_MAX_BYTES)", field=field)
        try:
            raw = base64.b64decode(ref.inline, validate=True)
        except (binascii.Error, ValueError) as e:
            raise InputError(ErrorCode.IMAGE_UNDECODABLE, f"inline image is not base64: {e}",
                             field=field) from e
    elif ref.url is not None:
        field = "data.image.url"
        raw = fetcher.fetch(ref.url)
    else:  # the contract forbids it; kept for type checkers and hand-built refs
        raise InputError(ErrorCode.IMAGE_MISSING, "image has neither url nor inline", field="data.image")
    if len(raw) > max_bytes:
        raise InputError(ErrorCode.IMAGE_TOO_LARGE, f"image is {len(raw)} bytes, more than {max_bytes}",
                         field=field)
    return raw
