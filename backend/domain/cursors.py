"""Opaque page cursors (api.md "Pagination"): a cursor carries where the last page ended and is
bound to the listing, account and filters it was made for, so one that is altered, made up, or
taken from another listing or account is refused (422) instead of paging something else.

Self-contained so the shared pagination helper can take it over: `seal` and `unseal` are all of it.
The tag is a digest, not a keyed MAC (no server secret exists yet); a cursor can only ever page the
caller's own rows, since every query is scoped to the caller's account whatever the cursor says."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from backend.domain.errors import InvalidInput


def _tag(listing: str, scope: str, body: str) -> str:
    return hashlib.sha256(f"{listing}\0{scope}\0{body}".encode()).hexdigest()[:24]


def seal(listing: str, scope: str, position: list) -> str:
    """The cursor after `position` (a JSON-able list) in `listing`, for this `scope` (account and
    filters)."""
    body = base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode()
    return f"{body.rstrip('=')}.{_tag(listing, scope, body.rstrip('='))}"


def unseal(listing: str, scope: str, cursor: str) -> list:
    """The position a cursor made by `seal` for the same listing and scope carries; else 422."""
    body, _, tag = cursor.partition(".")
    if not hmac.compare_digest(tag.encode(), _tag(listing, scope, body).encode()):
        raise _refused()
    try:
        position = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise _refused() from exc
    if not isinstance(position, list):
        raise _refused()
    return position


def _refused() -> InvalidInput:
    message = (
        "not a cursor of this listing: pass back the next_cursor of the page before, with the same filters"
    )
    return InvalidInput("invalid cursor", fields={"cursor": [message]})
