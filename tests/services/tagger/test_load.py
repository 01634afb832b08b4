"""The load stage's first step: the image file an event names, inline or fetched, within the size limit."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from contracts import ErrorCode, ImageRef
from modelspec.errors import InputError
from services.tagger.load import image_bytes


def _png() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()


SAMPLES = {"png": _png()}


def _error(call: Callable[[], object]) -> InputError:
    with pytest.raises(InputError) as caught:
        call()
    return caught.value


class _Fetcher:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.urls: list[str] = []

    def fetch(self, url: str) -> bytes:
        self.urls.append(url)
        return self.body


def test_image_bytes_decodes_inline_when_within_limit() -> None:
    ref = ImageRef(inline=base64.b64encode(SAMPLES["png"]).decode())
    assert image_bytes(ref, _Fetcher(b""), max_bytes=len(SAMPLES["png"])) == SAMPLES["png"]  # type: ignore[arg-type]


def test_image_bytes_refuses_inline_when_base64_is_longer_than_limit() -> None:
    ref = ImageRef(inline=base64.b64encode(bytes(3000)).decode())
    error = _error(lambda: image_bytes(ref, _Fetcher(b""), max_bytes=2000))  # type: ignore[arg-type]
    assert error.error_code == ErrorCode.IMAGE_TOO_LARGE
    assert error.field == "data.image.inline"


def test_image_bytes_fetches_url_when_ref_has_one() -> None:
    fetcher = _Fetcher(b"image")
    ref = ImageRef(url="https://images.example.com/a.png")
    assert image_bytes(ref, fetcher, max_bytes=100) == b"image"  # type: ignore[arg-type]
    assert fetcher.urls == ["https://images.example.com/a.png"]


def test_image_bytes_refuses_fetched_body_when_larger_than_limit() -> None:
    ref = ImageRef(url="https://images.example.com/a.png")
    error = _error(lambda: image_bytes(ref, _Fetcher(bytes(101)), max_bytes=100))  # type: ignore[arg-type]
    assert error.error_code == ErrorCode.IMAGE_TOO_LARGE
    assert error.field == "data.image.url"
