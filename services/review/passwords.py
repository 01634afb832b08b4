"""Reviewer passwords, stored as scrypt hashes (``hashlib.scrypt``, RFC 7914): never the password itself.

A stored hash reads ``scrypt$<n>$<r>$<p>$<salt b64>$<key b64>``. ``tagstream review hash-password`` makes one
for the settings (``TAGSTREAM_REVIEWERS``). Checking an unknown name costs as much as a known one, so the
time of an answer does not tell which names exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from services.review.errors import ReviewError

#: Cost parameters: n = 2**14, r = 8, p = 1 uses 16 MiB and about 50 ms on one core here.
N, R, P = 2**14, 8, 1
_KEY_BYTES = 32
_MAXMEM = 64 * 1024 * 1024


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    if not password:
        raise ReviewError("an empty password cannot be hashed", field="password", hint="choose a password")
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=_KEY_BYTES)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(key)}"


def check_hash(stored: str) -> None:
    """Raise ``ReviewError`` naming the problem when ``stored`` is not a hash this module can check."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt" or not all(x.isdigit() for x in parts[1:4]):
        raise ReviewError("a reviewer's password is not a scrypt hash", field="reviewers",
                          hint="make one with `tagstream review hash-password`")
    n = int(parts[1])
    if n < 2 or n & (n - 1):
        raise ReviewError(f"scrypt n must be a power of two, got {n}", field="reviewers")


def verify(password: str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored``; with no stored hash, the same work is done and False returned."""
    if stored is None:
        stored = _DUMMY
    check_hash(stored)
    _, n, r, p, salt, key = stored.split("$")
    expected = base64.b64decode(key)
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                         maxmem=_MAXMEM, dklen=len(expected))
    return hmac.compare_digest(got, expected) and stored is not _DUMMY


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


#: Checked against when a name is unknown (a hash of a random password nobody knows).
_DUMMY = hash_password(secrets.token_urlsafe(16))
