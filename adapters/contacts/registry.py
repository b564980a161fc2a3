"""Contact-data providers are plugins: entry point group `leadledger.contact_providers`."""

from __future__ import annotations

from importlib.metadata import entry_points

from adapters.contacts.base import ContactProvider

GROUP = "leadledger.contact_providers"


def load_provider(name: str, database_url: str) -> ContactProvider:
    """Build the configured provider (CONTACT_PROVIDER, default `directory`)."""
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    if name not in found:
        raise RuntimeError(f"no contact provider {name!r} installed; installed: {sorted(found)}")
    return found[name].load()(database_url=database_url)
