"""The contact-data port: where reveals and enrichment look people up."""

from __future__ import annotations

import abc
from typing import NamedTuple


class Contact(NamedTuple):
    """One person's contact data. A named tuple: bulk lookups build tens of thousands."""

    linkedin_url: str | None
    full_name: str | None = None
    title: str | None = None
    company: str | None = None
    email: str | None = None
    phone: str | None = None


class ContactProvider(abc.ABC):
    """A source of contact data. A lookup that finds nothing answers None: that costs nothing (R4)."""

    @abc.abstractmethod
    def lookup_many(self, linkedin_urls: list[str]) -> dict[str, Contact]:
        """Contacts found for these canonical profile URLs, keyed by URL; unknown ones are absent."""

    def lookup(self, linkedin_url: str) -> Contact | None:
        return self.lookup_many([linkedin_url]).get(linkedin_url)

    def lookup_by_email(self, email: str) -> Contact | None:
        """For uploaded rows without a profile URL; a provider that cannot search by email finds nothing."""
        return None

    def within(self, uow) -> ContactProvider:
        """This provider as a unit of work consults it (`uow.contacts`): itself, unless it reads the
        unit of work's own database, where its lookups may run on the unit of work's connection."""
        return self
