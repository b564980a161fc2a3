"""api.md "Secrets at rest": every CRM credential is sealed with SECRET_KEYS and bound to its row. Nothing
readable in the database file (WAL included) or rows, nor in idempotency records; rotate-secrets moves
everything to a new first key; a ciphertext copied onto another connection never opens."""

import base64
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import standardwebhooks
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from adapters.crm.registry import get_adapter
from backend import cli
from backend.app import create_app
from backend.jobs.deliveries import DeliverySender
from backend.persistence.sealed import Keyring, SealedValueError, new_key
from backend.persistence.tables import Account, CrmConnection
from backend.services import crm, extension
from backend.services.people import PersonRef
from tests.conftest import SECRET_KEYS, app_settings, make_api, make_store
from tests.receiver import Receiver

CONNECTIONS = CrmConnection.__table__
LOCAL = "http://127.0.0.1:9"


def credentials() -> dict[str, dict]:
    """One connection of each kind, each with credentials of its own (random: a match is never luck)."""
    return {
        "hubspot": {"access_token": "pat-na1-" + secrets.token_hex(12), "base_url": LOCAL},
        "salesforce": {"access_token": "00D" + secrets.token_hex(12), "instance_url": LOCAL},
        "pipedrive": {"api_token": "pd" + secrets.token_hex(12), "base_url": LOCAL},
        "webhook": {
            "url": f"{LOCAL}/given",
            "secret": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
        },
    }


def credentials_in(kind: str, config: dict) -> set[str]:
    return {config[field] for field in get_adapter(kind).secret_fields if field in config}


def raw_database(db_url: str) -> bytes:
    """What someone holding the database reads: the SQLite file and its WAL as bytes; on PostgreSQL
    every row of the two tables that hold what a connection was made with, as text."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        files = [Path(url.database + suffix) for suffix in ("", "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    store = make_store(db_url)
    try:
        rows = store.run(
            lambda uow: [
                *uow.execute(text("SELECT t::text FROM crm_connections t")).scalars(),
                *uow.execute(text("SELECT t::text FROM idempotency_keys t")).scalars(),
            ],
            write=False,
        )
    finally:
        store.engine.dispose()
        store.contacts.engine.dispose()
    return "\n".join(rows).encode()


def test_no_credential_of_any_kind_is_readable_in_the_database_or_the_idempotency_records(api, db_url):
    user = api.account()
    given = credentials()
    for kind, config in given.items():
        r = user.post("/v1/crm/connections", {"kind": kind, "name": f"my {kind}", "config": config})
        assert r.status_code == 201, r.json
    made = user.post(
        "/v1/crm/connections",
        {"kind": "webhook", "name": "generated", "config": {"url": f"{LOCAL}/generated"}},
        **{"Idempotency-Key": "connect-once"},
    )
    generated = made.json["secret"]
    assert made.status_code == 201 and generated.startswith("whsec_")
    replay = user.post(
        "/v1/crm/connections",
        {"kind": "webhook", "name": "generated", "config": {"url": f"{LOCAL}/generated"}},
        **{"Idempotency-Key": "connect-once"},
    )
    assert replay.headers["Idempotent-Replayed"] == "true" and "secret" not in replay.json

    raw = raw_database(db_url)
    assert b"my salesforce" in raw and b"/generated" in raw  # what is not secret is there to be read
    for value in {generated}.union(*(credentials_in(kind, config) for kind, config in given.items())):
        assert value.encode() not in raw
    assert b"whsec_" not in raw


def test_a_connection_whose_credentials_were_sealed_delivers_signed(store, world, db_url):
    receiver = Receiver()
    try:
        actor, conn, _ = export(store, world, receiver.url)
        sent = deliver(store, db_url)
        assert sent == 1 and len(receiver.attempts) == 1
        standardwebhooks.Webhook(conn["secret"]).verify(
            receiver.attempts[0]["body"], receiver.attempts[0]["headers"]
        )
    finally:
        receiver.close()


def test_rotate_secrets_moves_everything_to_the_new_first_key_and_the_old_key_can_go(db_url, monkeypatch):
    monkeypatch.setattr(cli, "RESEAL_BATCH", 2)  # 5 connections: three transactions
    old, new = SECRET_KEYS[0], new_key()
    receiver = Receiver()
    before = create_app(app_settings(db_url))
    rotating = create_app(app_settings(db_url, secret_keys=(new, old)))
    after = create_app(app_settings(db_url, secret_keys=(new,)))
    try:
        api = make_api(before)
        [url] = api.directory(1)
        user = api.account()
        given = credentials()
        for kind, config in given.items():
            assert (
                user.post("/v1/crm/connections", {"kind": kind, "name": kind, "config": config}).status_code
                == 201
            )
        hook = user.post(
            "/v1/crm/connections", {"kind": "webhook", "name": "r", "config": {"url": receiver.url}}
        )
        secret = hook.json["secret"]

        with rotating.app_context():
            out = rotating.test_cli_runner().invoke(args=["rotate-secrets"])
        assert out.exit_code == 0, out.output
        assert out.output.startswith("5 sealed CRM credentials re-encrypted")

        store = after.extensions["store"]
        opened = store.run(
            lambda uow: set().union(
                *(
                    credentials_in(r.kind, crm.connection_config(uow, r))
                    for r in uow.execute(select(CONNECTIONS))
                )
            )
        )
        assert opened == {secret}.union(*(credentials_in(kind, config) for kind, config in given.items()))
        only_old = make_store(db_url)  # the tests' store opens with the old key alone: no longer
        try:
            with pytest.raises(SealedValueError, match="none of the keys in SECRET_KEYS"):
                only_old.run(
                    lambda uow: [crm.connection_config(uow, r) for r in uow.execute(select(CONNECTIONS))]
                )
        finally:
            only_old.engine.dispose()
            only_old.contacts.engine.dispose()

        r = make_api(after).raw.post(  # the new key alone serves and delivers
            "/v1/extension/crm-exports",
            json={"linkedin_url": url, "connection_id": hook.json["id"]},
            headers={"Authorization": user.headers["Authorization"]},
        )
        assert r.json["delivery"]["status"] == "pending", r.json
        assert deliver(store, db_url) == 1 and len(receiver.attempts) == 1
        standardwebhooks.Webhook(secret).verify(receiver.attempts[0]["body"], receiver.attempts[0]["headers"])
    finally:
        receiver.close()
        for app in (before, rotating, after):
            app.extensions["store"].engine.dispose()


def test_a_ciphertext_copied_onto_another_connection_does_not_open_and_its_delivery_sends_nothing(
    store, world, db_url
):
    receiver = Receiver()
    try:
        _, victim, _ = export(store, world, receiver.url)
        other = world.account()
        attacker = store.run(
            lambda uow: crm.create_connection(
                uow,
                other,
                "webhook",
                "mine",
                {"url": receiver.url, "secret": credentials()["webhook"]["secret"]},
                True,
            )
        )
        store.run(
            lambda uow: uow.execute(
                update(CONNECTIONS)
                .where(CONNECTIONS.c.id == victim["id"])
                .values(
                    secrets=select(CONNECTIONS.c.secrets)
                    .where(CONNECTIONS.c.id == attacker["id"])
                    .scalar_subquery()
                )
            )
        )
        row = store.run(
            lambda uow: uow.execute(select(CONNECTIONS).where(CONNECTIONS.c.id == victim["id"])).one()
        )
        with pytest.raises(SealedValueError, match="sealed for another row") as refused:
            store.run(lambda uow: crm.connection_config(uow, row))
        assert "whsec_" not in str(refused.value)

        assert deliver(store, db_url) == 1 and receiver.attempts == []  # claimed, failed, nothing sent
        failed = store.run(
            lambda uow: uow.execute(text("SELECT status, last_error FROM crm_deliveries")).one()
        )
        assert failed.status == "pending" and "sealed for another row" in failed.last_error
        assert "whsec_" not in failed.last_error
    finally:
        receiver.close()


def test_credentials_no_key_opens_are_a_409_naming_the_way_out_until_new_ones_are_given(db_url):
    """SECRET_KEYS lost the key that sealed a connection: changing anything else or testing it is a
    409 `credentials_unreadable` that names no secret and changes nothing; a PATCH with a new secret
    replaces them, and the connection delivers signed with it."""
    receiver = Receiver()
    sealed_by_old = create_app(app_settings(db_url))
    only_new = create_app(app_settings(db_url, secret_keys=(new_key(),)))
    lost, fresh = credentials()["webhook"]["secret"], credentials()["webhook"]["secret"]
    try:
        before = make_api(sealed_by_old)
        [url] = before.directory(1)
        user = before.account()
        hook = user.post(
            "/v1/crm/connections",
            {"kind": "webhook", "name": "r", "config": {"url": receiver.url, "secret": lost}},
        )
        path = f"/v1/crm/connections/{hook.json['id']}"
        client = make_api(only_new).raw
        auth = {"Authorization": user.headers["Authorization"]}

        for r in (
            client.patch(path, json={"config": {"url": receiver.url + "/moved"}}, headers=auth),
            client.post(path + "/test", headers=auth),
        ):
            assert r.status_code == 409 and r.json["code"] == "credentials_unreadable", r.json
            assert "SECRET_KEYS" in r.json["detail"] and lost not in r.get_data(as_text=True)
        [listed] = client.get("/v1/crm/connections", headers=auth).json["connections"]
        assert listed["config"]["url"] == receiver.url

        r = client.patch(path, json={"config": {"secret": fresh}}, headers=auth)
        assert r.status_code == 200, r.json
        r = client.post(
            "/v1/extension/crm-exports",
            json={"linkedin_url": url, "connection_id": hook.json["id"]},
            headers=auth,
        )
        assert r.json["delivery"]["status"] == "pending", r.json
        assert deliver(only_new.extensions["store"], db_url) == 1 and len(receiver.attempts) == 1
        standardwebhooks.Webhook(fresh).verify(receiver.attempts[0]["body"], receiver.attempts[0]["headers"])
    finally:
        receiver.close()
        for app in (sealed_by_old, only_new):
            app.extensions["store"].engine.dispose()


def test_a_sealed_value_opens_only_for_its_own_purpose_and_row():
    keyring = Keyring([new_key()])
    sealed = keyring.seal("crm_connections", "a", {"secret": "whsec_x"})
    assert keyring.open("crm_connections", "a", sealed) == {"secret": "whsec_x"}
    for purpose, row in (("crm_connections", "b"), ("other", "a")):
        with pytest.raises(SealedValueError, match="another row"):
            keyring.open(purpose, row, sealed)
    with pytest.raises(SealedValueError, match="none of the keys"):
        Keyring([new_key()]).open("crm_connections", "a", sealed)
    tampered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(SealedValueError, match="none of the keys"):
        keyring.open("crm_connections", "a", tampered)


def export(store, world, url):
    actor = world.account()
    [person] = world.people(1)
    conn = store.run(lambda uow: crm.create_connection(uow, actor, "webhook", "hook", {"url": url}, True))
    out = store.run(
        lambda uow: extension.crm_export(uow, actor, PersonRef.parse({"linkedin_url": person}), conn["id"])
    )
    return actor, conn, out["delivery"]["id"]


def deliver(store, db_url) -> int:
    """One round of the sender; answers how many deliveries it claimed."""
    return DeliverySender(store, app_settings(db_url), clock=time.time).run_once()


def test_a_database_error_names_no_parameter(store):
    """Engines hide parameters: an error message (and the log line it becomes) never carries a value."""
    accounts = Account.__table__
    private = "whsec_" + secrets.token_hex(8)
    row = {"id": "same", "name": private, "created_at": datetime.now(UTC)}
    store.run(lambda uow: uow.execute(accounts.insert().values(**row)))
    with pytest.raises(IntegrityError) as refused:
        store.run(lambda uow: uow.execute(accounts.insert().values(**row)))
    assert private not in str(refused.value) and "hidden" in str(refused.value)
