import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import ErrorCode
from modelspec.errors import InputError
from services.tagger.validate import parse_event

LIMIT = 1024 * 1024
PNG_1PX = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e5273d1d0000000049454e44ae426082")).decode()


def event(**data_overrides: object) -> dict:
    data = {"product_id": "p-1", "merchant_id": "m-1", "title": "Blue shirt", "image": {"inline": PNG_1PX}}
    data.update(data_overrides)
    return {"specversion": "1.0", "id": "e-1", "source": "/merchants/m-1", "type": "catalog.product.created",
            "time": datetime(2026, 1, 1, tzinfo=UTC).isoformat(), "data": data}


def code_of(value: bytes, headers=None) -> tuple[ErrorCode, str | None]:
    with pytest.raises(InputError) as info:
        parse_event(value, headers, max_event_bytes=LIMIT)
    return info.value.error_code, info.value.field


def test_valid_structured_event_parses():
    parsed = parse_event(json.dumps(event()).encode(), [], max_event_bytes=LIMIT)
    assert parsed.data.product_id == "p-1"


def test_binary_mode_event_is_accepted():
    doc = event()
    headers = [(f"ce_{k}", str(v).encode()) for k, v in doc.items() if k != "data"]
    parsed = parse_event(json.dumps(doc["data"]).encode(), headers, max_event_bytes=LIMIT)
    assert parsed.id == "e-1"


def test_binary_mode_with_non_object_value_is_named_as_binary_mode():
    assert code_of(b"[1, 2]", [("ce_specversion", b"1.0")])[0] == ErrorCode.BINARY_MODE_INVALID


@pytest.mark.parametrize(("value", "expected"), [
    (b"", ErrorCode.NOT_JSON),
    (b"\xff\xfe not json", ErrorCode.NOT_JSON),
    (b"{", ErrorCode.NOT_JSON),
    (b"[" * 5000 + b"]" * 5000, ErrorCode.NESTED_TOO_DEEP),
    (json.dumps({"a": [[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}).encode(), ErrorCode.NESTED_TOO_DEEP),
    (b"x" * (LIMIT + 1), ErrorCode.EVENT_TOO_LARGE),
    (b"[1, 2, 3]", ErrorCode.CONTRACT_VIOLATION),
])
def test_malformed_values_get_their_code(value, expected):
    assert code_of(value)[0] == expected


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda d: d["data"].update(product_id=42), "data.product_id"),
    (lambda d: d["data"].update(title="x" * 10_000), "data.title"),
    (lambda d: d["data"].update(colour="red"), "data.colour"),
    (lambda d: d.update(type="catalog.product.archived"), "type"),
    (lambda d: d.update(time="2026-01-01T00:00:00"), "time"),
    (lambda d: d["data"].update(image={"url": "ftp://example.com/a.png"}), "data.image.url"),
    (lambda d: d["data"].update(image={"inline": "!!!not base64!!!"}), "data.image.inline"),
])
def test_contract_violations_name_the_field(mutate, field):
    doc = event()
    mutate(doc)
    code, named = code_of(json.dumps(doc).encode())
    assert code == ErrorCode.CONTRACT_VIOLATION
    assert named == field


def test_missing_image_has_its_own_code():
    doc = event()
    del doc["data"]["image"]
    assert code_of(json.dumps(doc).encode()) == (ErrorCode.IMAGE_MISSING, "data.image")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_is_rejected_only_with_input_errors(value):
    with pytest.raises(InputError):
        parse_event(json.dumps(value).encode(), [], max_event_bytes=LIMIT)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_escape_as_other_exceptions(raw):
    try:
        parse_event(raw, [], max_event_bytes=LIMIT)
    except InputError as e:
        assert e.error_code in set(ErrorCode)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["product_id", "merchant_id", "title", "locale", "category_hint"]),
       st.one_of(st.integers(), st.lists(st.integers(), max_size=2), st.booleans(), st.text(min_size=600)))
def test_wrong_typed_or_oversize_data_fields_are_contract_violations_naming_the_field(name, bad):
    doc = event(**{name: bad})
    code, field = code_of(json.dumps(doc).encode())
    assert code == ErrorCode.CONTRACT_VIOLATION
    assert field == f"data.{name}"


def test_deletion_needs_no_image():
    doc = event(image=None)
    del doc["data"]["image"]
    doc["type"] = "catalog.product.deleted"
    parsed = parse_event(json.dumps(doc).encode(), [], max_event_bytes=LIMIT)
    assert parsed.deletes and parsed.data.image is None


def test_binary_mode_deletion_needs_no_image():
    doc = event()
    del doc["data"]["image"]
    doc["type"] = "catalog.product.deleted"
    headers = [(f"ce_{k}", str(v).encode()) for k, v in doc.items() if k != "data"]
    parsed = parse_event(json.dumps(doc["data"]).encode(), headers, max_event_bytes=LIMIT)
    assert parsed.deletes


def test_binary_mode_creation_without_image_has_the_missing_image_code():
    doc = event()
    del doc["data"]["image"]
    headers = [(f"ce_{k}", str(v).encode()) for k, v in doc.items() if k != "data"]
    assert code_of(json.dumps(doc["data"]).encode(), headers) == (ErrorCode.IMAGE_MISSING, "data.image")
