"""The tables. Money rules that must hold under concurrency are database rules here:
unique unlocks, a non-negative balance, one lead per list."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=36)
    email: str = Field(max_length=320)
    role: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    deactivated_at: datetime | None = None  # api.md "API keys and users": removed, their keys refused


class ApiKey(SQLModel, table=True):
    """A user's API key (api.md "API keys and users"). The server keeps only `hash` (SHA-256 of the
    token) and `prefix`, the token's first characters (null for a key made before keys had names).
    Auth reads this row on every request: `revoked_at` stops it at once on every server, `expires_at`
    (a rotation's grace, or the owner's choice) against the database's clock. `scope` `read`: GET only."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("scope IN ('full', 'read')", name="ck_api_keys_scope"),)
    id: str = Field(primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=36)
    account_id: str = Field(foreign_key="accounts.id", max_length=36)
    name: str = Field(max_length=200)
    prefix: str | None = Field(default=None, max_length=16)
    scope: str = Field(max_length=8)
    hash: str = Field(unique=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class UserLimit(SQLModel, table=True):
    """R24: a user's monthly limit of one credit type, and what they used of it in `period` (the
    calendar month, UTC, as YYYY-MM). The charge guard counts every charge here in its own
    transaction, under the account's balance lock, so the limit holds under races as the balance
    does. `alerted`: the highest alert level (75, 100) sent this period (R25)."""

    __tablename__ = "user_limits"
    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=36)
    credit_type: str = Field(primary_key=True, max_length=16)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=36)
    cap: int = Field(sa_column=Column(BigInteger, nullable=False))
    period: str = Field(max_length=7)
    used: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    alerted: int = 0


class Balance(SQLModel, table=True):
    """The running sum of an account's ledger per credit type (for tracking: the credits still free)."""

    __tablename__ = "balances"
    __table_args__ = (CheckConstraint("amount >= 0", name="balance_never_negative"),)
    account_id: str = Field(foreign_key="accounts.id", primary_key=True, max_length=36)
    credit_type: str = Field(primary_key=True, max_length=16)
    amount: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class LedgerEntry(SQLModel, table=True):
    """Append-only: grants positive, charges negative, tracking holds negative and releases positive.
    The usage report and the ledger's date filters read an account's range by `created_at`."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_account_type_id", "account_id", "credit_type", "id"),
        Index("ix_ledger_account_created", "account_id", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="accounts.id", max_length=36)
    credit_type: str = Field(max_length=16)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    balance_after: int = Field(sa_column=Column(BigInteger, nullable=False))
    action: str = Field(max_length=40)
    person_id: str | None = Field(default=None, max_length=36)
    user_id: str | None = Field(default=None, max_length=36)
    note: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


class Person(SQLModel, table=True):
    """R1: one row per person, keyed by canonical LinkedIn URL or, for uploads without one, by email."""

    __tablename__ = "people"
    id: str = Field(primary_key=True, max_length=36)
    linkedin_url: str | None = Field(default=None, unique=True, max_length=300)
    email_key: str | None = Field(default=None, unique=True, max_length=320)
    full_name: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow)
    # R27: set when the person was erased; the row stays (ledger entries and unlocks name its id) with
    # its URL, email key and name cleared, and no lookup finds it again
    erased_at: datetime | None = None


class DirectoryEntry(SQLModel, table=True):
    """The embedded contact-data source (adapters/contacts/directory.py reads it)."""

    __tablename__ = "directory_entries"
    linkedin_url: str = Field(primary_key=True, max_length=300)
    full_name: str | None = Field(default=None, max_length=300)
    title: str | None = Field(default=None, max_length=300)
    company: str | None = Field(default=None, max_length=300)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    updated_at: datetime = Field(default_factory=utcnow)


class Unlock(SQLModel, table=True):
    """R2/R3: the account holds this person's data of this kind (email, phone, validation);
    the primary key makes it once only. Uploads ask which addresses the account holds whoever they
    were unlocked for (an email-only row is another person): the index on the lower-cased value."""

    __tablename__ = "unlocks"
    __table_args__ = (Index("ix_unlocks_account_kind_value", "account_id", "kind", text("lower(value)")),)
    account_id: str = Field(foreign_key="accounts.id", primary_key=True, max_length=36)
    person_id: str = Field(foreign_key="people.id", primary_key=True, max_length=36)
    kind: str = Field(primary_key=True, max_length=16)
    credit_type: str = Field(max_length=16)
    value: str | None = Field(default=None, max_length=320)
    user_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)


class LeadList(SQLModel, table=True):
    __tablename__ = "lists"
    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=36)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class ListLead(SQLModel, table=True):
    __tablename__ = "list_leads"
    __table_args__ = (Index("ix_list_leads_list_created", "list_id", "created_at", "person_id"),)  # pages
    list_id: str = Field(foreign_key="lists.id", primary_key=True, max_length=36)
    person_id: str = Field(foreign_key="people.id", primary_key=True, max_length=36)
    added_by: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)


class Sequence(SQLModel, table=True):
    __tablename__ = "sequences"
    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=36)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class Enrollment(SQLModel, table=True):
    __tablename__ = "enrollments"
    sequence_id: str = Field(foreign_key="sequences.id", primary_key=True, max_length=36)
    person_id: str = Field(foreign_key="people.id", primary_key=True, max_length=36)
    email: str = Field(max_length=320)
    email_source: str = Field(max_length=16)
    added_by: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)


class CrmConnection(SQLModel, table=True):
    __tablename__ = "crm_connections"
    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=36)
    kind: str = Field(max_length=40)
    name: str = Field(max_length=200)
    config: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # api.md "Secrets at rest": the adapter's secret_fields, sealed and bound to this row
    # (services/crm.py store_config); `config` holds the rest in clear
    secrets: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # api.md "CRM connections that keep working": active, paused (by its owner), needs_reauth,
    # rate_limited (until paused_until); deliveries of a connection that is not active stay pending
    status: str = Field(default="active", max_length=16, sa_column_kwargs={"server_default": "active"})
    paused_until: datetime | None = None
    status_reason: str | None = Field(default=None, max_length=1000)
    deleted_at: datetime | None = None  # DELETE keeps the row: its deliveries still name it
    last_success_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    # api.md "Refresh": one token refresh at a time per connection, claimed by a short committed lease;
    # token_version counts the token writes, so a reader knows whether the token it used is still current
    token_lease_until: datetime | None = None
    token_lease_owner: str | None = Field(default=None, max_length=36)
    token_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class OAuthState(SQLModel, table=True):
    """A started OAuth consent (api.md "OAuth 2 connect"): single use, bound to the account and user that
    started it, 10 minutes. Only a hash of the state is kept; the callback consumes the row with a
    conditional UPDATE, so a replayed state loses."""

    __tablename__ = "oauth_states"
    id: str = Field(primary_key=True, max_length=36)
    state_hash: str = Field(unique=True, max_length=64)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=36)
    user_id: str = Field(max_length=36)
    kind: str = Field(max_length=40)
    name: str = Field(max_length=200)
    connection_id: str | None = Field(default=None, max_length=36)  # set when re-authorizing
    return_to: str | None = Field(default=None, max_length=2000)
    code_verifier: str | None = Field(default=None, max_length=1000)  # PKCE, sealed to this row
    expires_at: datetime
    used_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class CrmDelivery(SQLModel, table=True):
    """Transactional outbox: written with the charge; the worker sends it."""

    __tablename__ = "crm_deliveries"
    __table_args__ = (
        Index("ix_delivery_due", "status", "next_attempt_at"),
        Index("ix_deliveries_account_created", "account_id", "created_at", "id"),  # pages
    )
    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=36)
    connection_id: str = Field(foreign_key="crm_connections.id", max_length=36)
    # None for an account event (a notification without a person, api.md "Notifications")
    person_id: str | None = Field(default=None, foreign_key="people.id", max_length=36)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0  # counted attempts: rate-limit waits and refused credentials are not counted
    first_attempt_at: datetime | None = None  # CRM_GIVE_UP_AFTER counts from here
    last_error: str | None = Field(default=None, max_length=1000)
    external_id: str | None = Field(default=None, max_length=200)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    lease_until: datetime | None = None
    lease_token: str | None = Field(default=None, max_length=36)  # who holds the lease; stale holders stop
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class CrmDeliveryAttempt(SQLModel, table=True):
    """Every attempt at a delivery (GET /v1/crm/deliveries/<id>), including the ones that do not
    count (a rate-limit wait, refused credentials): `counted` says which."""

    __tablename__ = "crm_delivery_attempts"
    __table_args__ = (Index("ix_delivery_attempts_delivery_id", "delivery_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(foreign_key="crm_deliveries.id", max_length=36)
    at: datetime = Field(default_factory=utcnow)
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=1000)
    counted: bool = True


class IdempotencyKey(SQLModel, table=True):
    """R6: one row per (account, key); the first request owns it, later ones replay its answer."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("account_id", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(max_length=36)
    key: str = Field(max_length=200)
    request_hash: str = Field(max_length=64)
    state: str = Field(default="running", max_length=16)
    status_code: int | None = None
    content_type: str | None = Field(default=None, max_length=100)
    body: str | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)


class TrackedPerson(SQLModel, table=True):
    """R20: a person under contact tracking holds one tracking credit while `active`."""

    __tablename__ = "tracked_people"
    __table_args__ = (Index("ix_tracked_account_since", "account_id", "since", "person_id"),)  # pages
    account_id: str = Field(foreign_key="accounts.id", primary_key=True, max_length=36)
    person_id: str = Field(foreign_key="people.id", primary_key=True, max_length=36)
    active: bool = True
    since: datetime = Field(default_factory=utcnow)


class Job(SQLModel, table=True):
    """A background job's state, in our tables so `GET /v1/jobs/<id>` works whatever the queue."""

    __tablename__ = "jobs"
    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=36)
    user_id: str | None = Field(default=None, max_length=36)
    kind: str = Field(max_length=32)
    status: str = Field(default="queued", max_length=16)
    params: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    progress_done: int = 0
    progress_total: int = 0
    reserved: dict | None = Field(default=None, sa_column=Column(JSON))
    charged: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    result: dict | None = Field(default=None, sa_column=Column(JSON))
    error: dict | None = Field(default=None, sa_column=Column(JSON))
    lease_until: datetime | None = None
    lease_token: str | None = Field(default=None, max_length=36)  # who holds the lease; stale holders stop
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class JobItem(SQLModel, table=True):
    """One unit of a job (an engager, a list lead, an upload row); `done` flips in the same
    transaction as its charge, so a restarted job resumes exactly where the last commit left it."""

    __tablename__ = "job_items"
    job_id: str = Field(foreign_key="jobs.id", primary_key=True, max_length=36)
    seq: int = Field(primary_key=True)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    done: bool = False
    outcome: dict | None = Field(default=None, sa_column=Column(JSON))


class SavedSearch(SQLModel, table=True):
    __tablename__ = "saved_searches"
    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=36)
    name: str = Field(max_length=200)
    query: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class SavedSearchPerson(SQLModel, table=True):
    """R8: people put into a saved search; free, and no enrichment happens."""

    __tablename__ = "saved_search_people"
    saved_search_id: str = Field(foreign_key="saved_searches.id", primary_key=True, max_length=36)
    person_id: str = Field(foreign_key="people.id", primary_key=True, max_length=36)
    added_by: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)


class Notification(SQLModel, table=True):
    """R22: a tracked person's job change or promotion, for the account that tracks them; or an
    account notice without a person (`crm_needs_reauth`, usage alerts) whose facts are in `detail`."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_account_id_id", "account_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="accounts.id", max_length=36)
    person_id: str | None = Field(default=None, foreign_key="people.id", max_length=36)
    kind: str = Field(max_length=32)
    detail: dict | None = Field(default=None, sa_column=Column(JSON))
    before: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    after: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class Upload(SQLModel, table=True):
    """R18: a parsed CSV waiting for the user to confirm (or cancel) its estimated cost."""

    __tablename__ = "uploads"
    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=36)
    user_id: str | None = Field(default=None, max_length=36)
    status: str = Field(default="awaiting_confirmation", max_length=24)
    enrich: bool = False
    validate_emails: bool = False
    list_id: str | None = Field(default=None, max_length=36)
    rows: int = 0
    summary: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    job_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow)


class UploadRow(SQLModel, table=True):
    """The distinct leads an upload detected (duplicates in the file folded), kept until confirmed."""

    __tablename__ = "upload_rows"
    upload_id: str = Field(foreign_key="uploads.id", primary_key=True, max_length=36)
    seq: int = Field(primary_key=True)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Erasure(SQLModel, table=True):
    """R27: one operator erasure: when, and the opaque ids of the people it erased (never the values)."""

    __tablename__ = "erasures"
    id: str = Field(primary_key=True, max_length=36)
    person_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Suppression(SQLModel, table=True):
    """R27: a keyed hash (HMAC-SHA256 under SUPPRESSION_KEY) of an erased person's canonical LinkedIn
    URL or of one of their emails; whatever would create or look up such a person finds nothing."""

    __tablename__ = "suppressions"
    value_hash: str = Field(primary_key=True, max_length=64)
    erasure_id: str = Field(foreign_key="erasures.id", max_length=36)
    created_at: datetime = Field(default_factory=utcnow)
