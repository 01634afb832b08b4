"""Passwords, sign-in throttling, decisions and images of the review console, without a broker."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from contracts import ImageRef, LabelSource, ReviewKind
from services.review.auth import MAX_FAILURES, Sessions, SignInRefused
from services.review.choices import LabelChoices
from services.review.decisions import decide
from services.review.errors import ImageUnavailable, InvalidDecision, ReviewError
from services.review.images import ImageSource, image_type
from services.review.local import LOCAL_PASSWORD, LOCAL_PASSWORD_HASH
from services.review.passwords import check_hash, hash_password, verify
from tools.traffic.reviewitems import review_items

NOW = datetime(2026, 12, 1, tzinfo=UTC)
CHOICES = LabelChoices.from_taxonomy()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_a_hash_verifies_its_password_only():
    stored = hash_password("s3cret", n=2**10)
    assert verify("s3cret", stored) and not verify("S3cret", stored) and not verify("s3cret", None)
    assert verify(LOCAL_PASSWORD, LOCAL_PASSWORD_HASH)  # the local stack's documented default


@pytest.mark.parametrize("stored", ["s3cret", "scrypt$1000$8$1$a$b", "bcrypt$1$2$3$4$5"])
def test_anything_but_a_scrypt_hash_is_refused_with_the_fix(stored):
    with pytest.raises(ReviewError, match=r"hash-password|power of two"):
        check_hash(stored)


def test_sign_in_starts_a_new_session_and_wrong_passwords_are_throttled_per_name():
    sessions = Sessions({"ana": hash_password("s3cret", n=2**10)}, ttl_s=60)
    anonymous = sessions.anonymous()
    signed_in = sessions.sign_in("ana", "s3cret")
    assert signed_in.reviewer == "ana" and signed_in.token != anonymous.token and signed_in.csrf != anonymous.csrf
    for _ in range(MAX_FAILURES):
        with pytest.raises(SignInRefused) as info:
            sessions.sign_in("ana", "guess")
        assert not info.value.throttled
    with pytest.raises(SignInRefused) as info:
        sessions.sign_in("ana", "s3cret")  # even the right password, for the rest of the window
    assert info.value.throttled
    assert sessions.get(signed_in.token) is signed_in and sessions.get("made-up") is None
    assert signed_in.csrf_ok(signed_in.csrf) and not signed_in.csrf_ok(None) and not signed_in.csrf_ok("x")


def test_a_doubt_item_confirmed_or_corrected_gives_reviewer_labels_and_an_audit_item_audit_labels():
    item = review_items(1, seed=2)[0]
    form = {f"label.{a}": item.tag.attributes[a].label for a in item.attributes}
    confirmed = decide(item, form, unusable=False, reviewer="ana", choices=CHOICES, now=NOW)
    assert confirmed.outcome == "confirmed" and confirmed.feedback.source is LabelSource.REVIEWER
    assert all(confirmed.agreed.values())
    predicted = item.tag.attributes["fabric"].label
    fabric = next(label for label in CHOICES.for_attribute("fabric", []) if label != predicted)
    corrected = decide(item, {**form, "label.fabric": fabric}, unusable=False, reviewer="ana", choices=CHOICES,
                       now=NOW)
    assert corrected.outcome == "corrected" and corrected.feedback.labels["fabric"] == fabric
    assert corrected.agreed == {"texture": True, "fabric": False}
    audit = review_items(1, seed=3, kind=ReviewKind.AUDIT)[0]
    audit_form = {f"label.{a}": audit.tag.attributes[a].label for a in audit.attributes}
    assert decide(audit, audit_form, unusable=False, reviewer="ana", choices=CHOICES,
                  now=NOW).feedback.source is LabelSource.AUDIT
    unusable = decide(item, {}, unusable=True, reviewer="ana", choices=CHOICES, now=NOW)
    assert unusable.feedback.unusable and unusable.feedback.labels == {} and unusable.outcome == "unusable"


@pytest.mark.parametrize(("change", "field"), [({"label.fabric": ""}, "label.fabric"),
                                               ({"label.texture": "velvet"}, "label.texture")])
def test_a_missing_or_unknown_label_is_refused_naming_the_field(change, field):
    item = review_items(1, seed=2)[0]
    form = {**{f"label.{a}": item.tag.attributes[a].label for a in item.attributes}, **change}
    with pytest.raises(InvalidDecision) as info:
        decide(item, form, unusable=False, reviewer="ana", choices=CHOICES, now=NOW)
    assert info.value.field == field


def test_label_files_give_the_same_choices_as_the_taxonomy():
    folder = Path(__file__).resolve().parents[3] / "model" / "repository" / "catalog_tagger"
    files = LabelChoices.from_label_files(folder)
    assert files.for_attribute("fit", ["loose"]) == CHOICES.for_attribute("fit", ["loose"])
    assert files.for_attribute("fit", ["loose"])[0] == "loose"
    with pytest.raises(ReviewError, match="TAGSTREAM_LABELS_DIR"):
        LabelChoices.from_label_files(folder / "missing")


@pytest.mark.parametrize(("data", "kind"), [(b"\xff\xd8\xff\xe0", "image/jpeg"), (PNG, "image/png"),
                                            (b"GIF89a....", "image/gif"), (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
                                            (b"<svg onload=alert(1)>", None), (b"<html>", None)])
def test_only_four_image_formats_are_recognised(data, kind):
    assert image_type(data) == kind


class _Images(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = PNG if self.path == "/a.png" else b"<svg/>"
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/a.png")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def image_host() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _with_image(image: ImageRef):
    return review_items(1, seed=4)[0].model_copy(update={"image": image})


def test_url_images_on_internal_addresses_are_refused_unless_the_host_is_allowed(image_host):
    url = f"http://127.0.0.1:{image_host}/a.png"
    with pytest.raises(ImageUnavailable, match="internal address"):
        ImageSource(max_bytes=1000, timeout_s=2).load(_with_image(ImageRef(url=url)))
    for spelling in ("2130706433", "127.1", "[::ffff:127.0.0.1]"):
        with pytest.raises(ImageUnavailable):
            ImageSource(max_bytes=1000, timeout_s=2).load(
                _with_image(ImageRef(url=f"http://{spelling}:{image_host}/a.png")))
    allowed = ImageSource(max_bytes=1000, timeout_s=2, allow_hosts=frozenset({f"127.0.0.1:{image_host}"}))
    assert allowed.load(_with_image(ImageRef(url=url))) == (PNG, "image/png")
    assert allowed.load(_with_image(ImageRef(url=f"http://127.0.0.1:{image_host}/moved")))[1] == "image/png"
    with pytest.raises(ImageUnavailable, match="not a JPEG"):
        allowed.load(_with_image(ImageRef(url=f"http://127.0.0.1:{image_host}/page.svg")))
    with pytest.raises(ImageUnavailable, match="larger"):
        ImageSource(max_bytes=10, timeout_s=2, allow_hosts=frozenset({f"127.0.0.1:{image_host}"})).load(
            _with_image(ImageRef(url=url)))


def test_inline_images_are_shown_when_they_are_images():
    source = ImageSource(max_bytes=1000, timeout_s=2)
    assert source.load(_with_image(ImageRef(inline=base64.b64encode(PNG).decode())))[1] == "image/png"
    with pytest.raises(ImageUnavailable):
        source.load(_with_image(ImageRef(inline=base64.b64encode(b"<svg/>").decode())))




