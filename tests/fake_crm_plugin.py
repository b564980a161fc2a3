"""A third-party CRM adapter as a plugin package would ship it, registered in tests through a fake
entry point of the `leadledger.crm_adapters` group."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from typing import ClassVar

from adapters.crm.base import CheckResult, ConfigReader, CrmAdapter, DeliveryError, Lead, PushResult
from adapters.crm.registry import GROUP, load_adapters


class FakeAdapter(CrmAdapter):
    kind = "fake"
    service = "Fake CRM"
    secret_fields = ("token",)

    @classmethod
    def _normalize(cls, read: ConfigReader) -> dict:
        return {"token": read.text("token", required=True)}

    def push(self, lead: Lead, *, delivery_id: str) -> PushResult:
        return PushResult(external_id=f"fake-{lead.person_id}")


class NotAnAdapter:
    kind = "notanadapter"


class ScriptedAdapter(CrmAdapter):
    """A plugin kind whose answers each test scripts: a push takes the next entry of `script` (an
    error to raise; an empty script means success) and is recorded in `pushed` as (delivery id, token);
    `check_connection` answers `check` (or raises it)."""

    kind = "scripted"
    service = "Scripted CRM"
    secret_fields = ("token",)
    script: ClassVar[list[DeliveryError]] = []
    pushed: ClassVar[list[tuple[str, str]]] = []
    check: ClassVar[CheckResult | DeliveryError] = CheckResult(True, "read one contact")

    @classmethod
    def _normalize(cls, read: ConfigReader) -> dict:
        return {"token": read.text("token", required=True)}

    def push(self, lead: Lead, *, delivery_id: str) -> PushResult:
        self.pushed.append((delivery_id, self.config["token"]))
        if self.script:
            raise self.script.pop(0)
        return PushResult(external_id=f"s-{lead.person_id}")

    def check_connection(self) -> CheckResult:
        if isinstance(self.check, DeliveryError):
            raise self.check
        return self.check


def installed(monkeypatch, adapter: type[CrmAdapter] = ScriptedAdapter) -> Iterator[type[CrmAdapter]]:
    """For a fixture: `adapter` registered as an installed kind (a fake entry point) with a fresh
    script, and the registry's cache cleared again afterwards."""
    shipped = [e for e in importlib.metadata.entry_points(group=GROUP) if e.name != adapter.kind]
    plugin = EntryPoint(name=adapter.kind, value=f"{__name__}:{adapter.__name__}", group=GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda **kw: [*shipped, plugin])
    for name, fresh in (("script", []), ("pushed", []), ("check", CheckResult(True, "read one contact"))):
        monkeypatch.setattr(adapter, name, fresh)
    load_adapters.cache_clear()
    try:
        yield adapter
    finally:
        load_adapters.cache_clear()
