"""Sealed values (api.md "Secrets at rest"): a JSON value encrypted with the server's SECRET_KEYS
(Fernet: AES-128-CBC with an HMAC-SHA256, so a changed byte fails to open) and bound to its row.

The first key seals, every key opens, so keys rotate without downtime: put a new key first, run
`flask rotate-secrets` (re-seals everything under it), then drop the old one. What is sealed names
its purpose and row id, checked when it is opened: a ciphertext copied onto another row (one's own
connection's credentials pasted onto a victim's connection, or the reverse) refuses to open."""

from __future__ import annotations

import json
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SealedValueError(Exception):
    """A sealed value that does not open here. The message names the row, never the value."""


def new_key() -> str:
    """A fresh key in the form SECRET_KEYS takes (32 random bytes, url-safe base64)."""
    return Fernet.generate_key().decode("ascii")


class Keyring:
    def __init__(self, keys: Sequence[str]):
        if not keys:
            raise ValueError("SECRET_KEYS: at least one key is needed")
        fernets = []
        for position, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError):
                # the key itself is never repeated in the message
                raise ValueError(
                    f"SECRET_KEYS: key {position} is not a Fernet key (32 url-safe base64-encoded "
                    "bytes); make one with: python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'"
                ) from None
        self._fernet = MultiFernet(fernets)

    def seal(self, purpose: str, row_id: str, value) -> str:
        payload = json.dumps({"purpose": purpose, "row": row_id, "value": value}, separators=(",", ":"))
        return self._fernet.encrypt(payload.encode()).decode("ascii")

    def open(self, purpose: str, row_id: str, sealed: str):
        try:
            payload = json.loads(self._fernet.decrypt(sealed.encode("ascii")))
        except (InvalidToken, UnicodeEncodeError):
            raise _no_key(purpose, row_id) from None
        if payload.get("purpose") != purpose or payload.get("row") != row_id:
            raise SealedValueError(
                f"the sealed credentials of {purpose} {row_id} were sealed for another row; refused"
            )
        return payload["value"]

    def rotate(self, purpose: str, row_id: str, sealed: str) -> str:
        """The same value sealed again under the first key (whichever key sealed it)."""
        try:
            return self._fernet.rotate(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError):
            raise _no_key(purpose, row_id) from None


def _no_key(purpose: str, row_id: str) -> SealedValueError:
    return SealedValueError(
        f"the sealed credentials of {purpose} {row_id} open with none of the keys in SECRET_KEYS"
    )
