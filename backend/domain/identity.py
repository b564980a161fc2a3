"""R1: who a person is. The extension sends whatever URL the tab shows; we fold it to one key."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote, urlsplit

from backend.domain.errors import InvalidProfileUrl

_HOST = re.compile(r"^(?:[a-z0-9-]+\.)?linkedin\.com$")
# no '%' once decoded: no LinkedIn slug holds one, and so a canonical URL folds to itself (routes fold
# twice: a slug still holding '%' would be decoded again and become another person)
_SLUG = re.compile(r"^[^\s/?#%\x00-\x1f\x7f]{1,200}$")
# An ASCII URL in canonical form already, which folding would answer unchanged: every route folds the
# URL twice (the schema, then the service), and a client that kept our answer sends it so.
_CANONICAL = re.compile(r"https://www\.linkedin\.com/in/[^\sA-Z/?#%\x00-\x1f\x7f]{1,200}")


def canonical_linkedin_url(raw: str) -> str:
    """Fold any spelling of a LinkedIn profile URL to `https://www.linkedin.com/in/<slug>` (R1).

    Scheme, `www`/country subdomain, case, query, fragment, trailing slash and whatever follows
    the slug (`/details/…`, `/overlay/…`) are dropped; the slug is percent-decoded once and put in
    Unicode NFC form (the same name typed composed or decomposed is one person); a slug still
    holding `%` is refused. Anything that is not an `/in/` profile on linkedin.com raises
    InvalidProfileUrl.
    """
    if isinstance(raw, str) and raw.isascii() and _CANONICAL.fullmatch(raw):
        return raw
    return _fold(raw)


def _fold(raw: str) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 2048:
        raise InvalidProfileUrl("a LinkedIn profile URL is required")
    text = raw.strip()
    if "://" not in text:
        text = "https://" + text.lstrip("/")
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError:  # e.g. an unbalanced "[" reads as a broken IPv6 host
        raise InvalidProfileUrl(f"{raw!r} is not a URL") from None
    if parts.scheme.lower() not in ("http", "https") or not _HOST.match(host):
        raise InvalidProfileUrl(f"{raw!r} is not a linkedin.com URL")
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2 or segments[0].lower() != "in":
        raise InvalidProfileUrl(f"{raw!r} is not a LinkedIn /in/ profile URL")
    slug = unicodedata.normalize("NFC", unquote(segments[1]).strip().lower())
    if not _SLUG.match(slug):
        raise InvalidProfileUrl(f"{raw!r} has no valid profile slug")
    return f"https://www.linkedin.com/in/{slug}"


def email_key(raw: str) -> str:
    """R1: uploaded rows without a profile URL are identified by their lower-cased email."""
    return raw.strip().lower()
