"""The adapter registry: kinds come from the `leadledger.crm_adapters` entry-point group."""

from __future__ import annotations

import importlib.metadata
from importlib.metadata import EntryPoint

import pytest

from adapters.crm.base import ConfigError, CrmAdapter
from adapters.crm.hubspot import HubSpotAdapter
from adapters.crm.pipedrive import PipedriveAdapter
from adapters.crm.registry import GROUP, get_adapter, load_adapters
from adapters.crm.salesforce import SalesforceAdapter
from adapters.crm.webhook import WebhookAdapter
from tests.fake_crm_plugin import FakeAdapter

# Exactly the entry points pyproject.toml declares for the shipped kinds.
SHIPPED = {
    "webhook": "adapters.crm.webhook:WebhookAdapter",
    "hubspot": "adapters.crm.hubspot:HubSpotAdapter",
    "salesforce": "adapters.crm.salesforce:SalesforceAdapter",
    "pipedrive": "adapters.crm.pipedrive:PipedriveAdapter",
}


@pytest.fixture
def installed(monkeypatch):
    """Pretend these entry points are installed; the registry cache is cleared around each test."""
    declared: dict[str, str] = {}

    def entry_points(**selection):
        assert selection == {"group": GROUP}
        return [EntryPoint(name=name, value=value, group=GROUP) for name, value in declared.items()]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    load_adapters.cache_clear()
    yield declared
    load_adapters.cache_clear()


def test_a_third_party_adapter_is_found_through_its_entry_point(installed):
    installed["fake"] = "tests.fake_crm_plugin:FakeAdapter"
    assert get_adapter("fake") is FakeAdapter


def test_the_shipped_kinds_resolve_to_their_adapters(installed):
    installed.update(SHIPPED)
    assert load_adapters() == {
        "webhook": WebhookAdapter,
        "hubspot": HubSpotAdapter,
        "salesforce": SalesforceAdapter,
        "pipedrive": PipedriveAdapter,
    }
    assert all(adapter.kind == kind for kind, adapter in load_adapters().items())


def test_an_unknown_kind_is_a_config_error_listing_installed_kinds(installed):
    installed.update(SHIPPED)
    with pytest.raises(ConfigError) as caught:
        get_adapter("zoho")
    assert caught.value.fields == {
        "kind": "unknown CRM kind 'zoho'; installed: hubspot, pipedrive, salesforce, webhook"
    }


def test_a_broken_or_mislabelled_plugin_is_left_out_without_hiding_the_others(installed):
    installed.update(SHIPPED)
    installed["broken"] = "tests.no_such_module:Adapter"
    installed["notanadapter"] = "tests.fake_crm_plugin:NotAnAdapter"
    installed["other"] = "tests.fake_crm_plugin:FakeAdapter"  # declares kind "fake"
    assert set(load_adapters()) == set(SHIPPED)


def test_the_scan_is_cached_until_cleared(installed):
    installed["fake"] = "tests.fake_crm_plugin:FakeAdapter"
    assert set(load_adapters()) == {"fake"}
    installed.update(SHIPPED)
    assert set(load_adapters()) == {"fake"}
    load_adapters.cache_clear()
    assert set(load_adapters()) == {"fake", *SHIPPED}


def test_the_installed_package_declares_the_shipped_kinds():
    declared = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=GROUP)}
    if not declared:
        pytest.skip("the leadledger.crm_adapters entry points are not installed yet (pyproject.toml)")
    load_adapters.cache_clear()
    assert {name: declared.get(name) for name in SHIPPED} == SHIPPED
    assert all(issubclass(get_adapter(kind), CrmAdapter) for kind in SHIPPED)
