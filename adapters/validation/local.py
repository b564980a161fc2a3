"""An offline validator: syntax, disposable domains and role addresses, with no network.

It cannot tell whether a mailbox exists, so "valid" here means "well-formed and not obviously
throw-away or shared"; the HTTP adapter is the one that asks a real service. The local part must
be an ASCII dot-atom: quoted local parts and SMTPUTF8 mailboxes are legal but practically absent
from business mail and refused by many relays, so we call them invalid rather than guess.
"""

from __future__ import annotations

import re

from adapters.validation.base import EmailValidator, Verdict, normalise_email

MAX_LOCAL_OCTETS = 64  # RFC 5321 4.5.3.1.1
MAX_DOMAIN_OCTETS = 255  # RFC 5321 4.5.3.1.2
MAX_LABEL_OCTETS = 63  # RFC 1035 2.3.4
MAX_ADDRESS_OCTETS = 254  # RFC 5321 path limit (256) minus the angle brackets

# Well-known throw-away mailbox providers; a small list on purpose, a service knows thousands.
DISPOSABLE_DOMAINS = frozenset(
    {
        "10minutemail.com",
        "10minutemail.net",
        "burnermail.io",
        "discard.email",
        "dispostable.com",
        "emailondeck.com",
        "fakeinbox.com",
        "getairmail.com",
        "getnada.com",
        "grr.la",
        "guerrillamail.com",
        "guerrillamail.net",
        "guerrillamail.org",
        "mailcatch.com",
        "maildrop.cc",
        "mailinator.com",
        "mailnesia.com",
        "mintemail.com",
        "moakt.com",
        "mohmal.com",
        "mytemp.email",
        "sharklasers.com",
        "spamgourmet.com",
        "temp-mail.org",
        "tempail.com",
        "tempinbox.com",
        "tempmail.com",
        "tempmail.net",
        "tempmailo.com",
        "throwawaymail.com",
        "trashmail.com",
        "trashmail.de",
        "yopmail.com",
        "yopmail.fr",
        "yopmail.net",
    }
)

# Shared or unattended mailboxes: they exist, but nobody in particular reads them.
ROLE_LOCAL_PARTS = frozenset(
    {
        "abuse",
        "accounts",
        "admin",
        "administrator",
        "billing",
        "careers",
        "contact",
        "do-not-reply",
        "donotreply",
        "enquiries",
        "help",
        "hello",
        "hostmaster",
        "hr",
        "info",
        "inquiries",
        "jobs",
        "legal",
        "marketing",
        "media",
        "newsletter",
        "no-reply",
        "noreply",
        "office",
        "postmaster",
        "press",
        "privacy",
        "sales",
        "security",
        "support",
        "team",
        "webmaster",
    }
)

_LOCAL_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_TLD = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]+")


class LocalEmailValidator(EmailValidator):
    """Answers "invalid" with the first syntax problem found, else "risky" or "valid"."""

    def validate(self, email: str) -> Verdict:
        text = email.strip()
        local, at, domain = text.rpartition("@")
        problem = _syntax_problem(local, domain) if at else ("empty" if not text else "missing_at")
        if problem:
            return Verdict(normalise_email(text), "invalid", (problem,))
        ascii_domain = _ascii_domain(domain)
        reasons = []
        if any(ascii_domain == d or ascii_domain.endswith("." + d) for d in DISPOSABLE_DOMAINS):
            reasons.append("disposable")
        if local.lower().split("+", 1)[0] in ROLE_LOCAL_PARTS:
            reasons.append("role_address")
        return Verdict(f"{local}@{ascii_domain}", "risky" if reasons else "valid", tuple(reasons))


def _ascii_domain(domain: str) -> str:
    """Lower-case, each non-ASCII label punycoded (raises UnicodeError when it cannot be)."""
    labels = domain.lower().split(".")
    return ".".join(label if label.isascii() else label.encode("idna").decode("ascii") for label in labels)


def _syntax_problem(local: str, domain: str) -> str | None:
    """The first reason the address is malformed, as a short code, or None when it is well-formed."""
    if not local:
        return "empty_local_part"
    if not domain:
        return "empty_domain"
    if len(local.encode("utf-8")) > MAX_LOCAL_OCTETS:
        return "local_part_too_long"
    if ".." in local or ".." in domain:
        return "consecutive_dots"
    if local.startswith(".") or local.endswith("."):
        return "local_part_starts_or_ends_with_dot"
    if not all(_LOCAL_ATOMS.fullmatch(atom) for atom in local.split(".")):
        return "invalid_character_in_local_part"
    if domain.startswith("["):
        return "domain_literal_not_accepted"
    if domain.startswith(".") or domain.endswith("."):
        return "domain_starts_or_ends_with_dot"
    try:
        ascii_domain = _ascii_domain(domain)
    except UnicodeError:
        return "invalid_idn_domain"
    if len(ascii_domain) > MAX_DOMAIN_OCTETS:
        return "domain_too_long"
    labels = ascii_domain.split(".")
    if len(labels) < 2:
        return "domain_has_no_tld"
    if any(len(label) > MAX_LABEL_OCTETS for label in labels):
        return "domain_label_too_long"
    if not all(_LABEL.fullmatch(label) for label in labels):
        return "invalid_domain_label"
    if not _TLD.fullmatch(labels[-1]):
        return "invalid_tld"
    if len(local.encode("utf-8")) + 1 + len(ascii_domain) > MAX_ADDRESS_OCTETS:
        return "address_too_long"
    return None
