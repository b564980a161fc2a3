"""A third-party CRM adapter as a plugin package would ship it, registered in tests through a fake
entry point of the `leadledger.crm_adapters` group."""

from __future__ import annotations

from adapters.crm.base import ConfigReader, CrmAdapter, Lead, PushResult


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
