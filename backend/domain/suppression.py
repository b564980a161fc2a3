"""R27: the keyed hashes that keep an erased person from coming back.

What is kept is HMAC-SHA256, under the server's SUPPRESSION_KEY, of the canonical LinkedIn URL and of
each lower-cased email, never the values: without the key a record names nobody (a plain hash of an
email is found by hashing a list of emails). The key is never rotated: the values are gone, so records
made under an old key could not be made again under a new one."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from backend.domain.identity import email_key


def new_suppression_key() -> str:
    """A fresh SUPPRESSION_KEY: 32 random bytes, hex."""
    return secrets.token_hex(32)


class Suppressor:
    def __init__(self, key: str):
        if not key:
            raise ValueError("SUPPRESSION_KEY: a key is needed")
        self._key = key.encode()

    def url_hash(self, canonical_url: str) -> str:
        return self._hash("url", canonical_url)

    def email_hash(self, email: str) -> str:
        return self._hash("email", email_key(email))

    def _hash(self, kind: str, value: str) -> str:
        return hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
