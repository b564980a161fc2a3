"""Installed CRM adapters, found through the `leadledger.crm_adapters` entry-point group.

The shipped kinds are registered the same way as third-party ones (pyproject.toml), so a plugin
package adds a kind just by being installed. A plugin that fails to import, or that is not a
CrmAdapter registered under its own kind, is logged and left out rather than taking every CRM
export down with it. The scan is cached; tests clear it with `load_adapters.cache_clear()`.
"""

from __future__ import annotations

import functools
import logging
from importlib import metadata

from adapters.crm.base import ConfigError, CrmAdapter

GROUP = "leadledger.crm_adapters"
log = logging.getLogger(__name__)


@functools.cache
def load_adapters() -> dict[str, type[CrmAdapter]]:
    adapters: dict[str, type[CrmAdapter]] = {}
    for entry_point in metadata.entry_points(group=GROUP):
        try:
            adapter = entry_point.load()
        except Exception:
            log.exception("CRM adapter %r (%s) could not be loaded", entry_point.name, entry_point.value)
            continue
        if not (isinstance(adapter, type) and issubclass(adapter, CrmAdapter)):
            log.error("CRM adapter %r (%s) is not a CrmAdapter subclass", entry_point.name, entry_point.value)
        elif getattr(adapter, "kind", None) != entry_point.name:
            log.error(
                "CRM adapter %r (%s) declares kind %r",
                entry_point.name,
                entry_point.value,
                getattr(adapter, "kind", None),
            )
        else:
            adapters[entry_point.name] = adapter
    return adapters


def get_adapter(kind: str) -> type[CrmAdapter]:
    adapters = load_adapters()
    try:
        return adapters[kind]
    except KeyError:
        installed = ", ".join(sorted(adapters)) or "none"
        raise ConfigError({"kind": f"unknown CRM kind {kind!r}; installed: {installed}"}) from None
