"""A job chunk's questions to the outside, asked before its write transaction.

The contact provider and the email validator may be remote services; asked inside a chunk's
transaction, a slow one would hold SQLite's write lock (every reveal waits) or PostgreSQL's balance
row locks for as long as it takes. So each job kind names what a chunk will ask
(`kind.prefetch`), the runner asks it with no transaction open, and the chunk's transaction sees
the ports through these answers. A question nobody foresaw (the database changed in between) is
still asked, live."""

from __future__ import annotations

from adapters.contacts.base import Contact, ContactProvider
from adapters.validation.base import EmailValidator, Verdict, normalise_email


class KnownContacts(ContactProvider):
    """`source`'s answers for these URLs and emails, fetched beforehand (None: nothing found)."""

    def __init__(self, source: ContactProvider, urls: list[str] = (), emails: list[str] = ()):
        self.source = source
        found = source.lookup_many(list(urls)) if urls else {}
        self.by_url: dict[str, Contact | None] = {u: found.get(u) for u in urls}
        self.by_email = {e.strip().lower(): source.lookup_by_email(e) for e in emails}

    def lookup_many(self, linkedin_urls: list[str]) -> dict[str, Contact]:
        known = {u: self.by_url[u] for u in linkedin_urls if u in self.by_url}
        unknown = [u for u in linkedin_urls if u not in self.by_url]
        found = {u: c for u, c in known.items() if c is not None}
        if unknown:
            found.update(self.source.lookup_many(unknown))
        return found

    def lookup_by_email(self, email: str) -> Contact | None:
        key = email.strip().lower()
        return self.by_email[key] if key in self.by_email else self.source.lookup_by_email(email)


class KnownVerdicts(EmailValidator):
    """`source`'s verdicts on these emails, fetched beforehand."""

    def __init__(self, source: EmailValidator, emails: list[str]):
        self.source = source
        emails = list(dict.fromkeys(emails))
        verdicts = source.validate_many(emails) if emails else []
        self.known = dict(zip(map(normalise_email, emails), verdicts, strict=True))

    def validate(self, email: str) -> Verdict:
        return self.known.get(normalise_email(email)) or self.source.validate(email)

    def validate_many(self, emails: list[str]) -> list[Verdict]:
        unknown = [e for e in emails if normalise_email(e) not in self.known]
        asked = dict(zip(unknown, self.source.validate_many(unknown), strict=True)) if unknown else {}
        return [self.known.get(normalise_email(e)) or asked[e] for e in emails]
