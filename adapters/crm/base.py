"""The CRM port: what an exported lead looks like and what every CRM adapter must do.

An adapter turns a `Lead` into the vendor's record and reports the outcome as a `PushResult` or a
`DeliveryError` whose class tells the delivery queue whether trying again can help. The vendor-neutral
parts live here so the adapters stay small: the network rule (`Outbound`), configuration reading
(`ConfigReader`: tokens given directly and the field map, api.md "CRM connections that keep working"),
and the mapping of an HTTP answer to a readable, credential-free error whose class says what the sender
does next: `AuthRefused` (401: refresh or re-authorize), `RateLimited` (429: the connection waits) or
an ordinary retryable/permanent failure.
"""

from __future__ import annotations

import abc
import email.utils
import json
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from adapters.crm.targets import check_peer, check_url, resolve_host

Resolve = Callable[[str], list[str]]


@dataclass(frozen=True)
class Lead:
    """What leaves for the CRM: only data the account holds."""

    person_id: str
    linkedin_url: str | None
    full_name: str | None
    title: str | None
    company: str | None
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class PushResult:
    external_id: str | None


class ConfigError(ValueError):
    """A connection config that cannot be stored; `fields` maps each bad field to what is wrong."""

    def __init__(self, fields: dict[str, str]):
        self.fields = dict(fields)
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in self.fields.items()))


class DeliveryError(Exception):
    """A failed delivery attempt. The message is readable and never contains credentials."""

    retryable: ClassVar[bool]

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class RetryableDeliveryError(DeliveryError):
    """Timeouts, connection errors, 5xx, 429, unreadable 2xx answers: the same attempt may succeed later."""

    retryable = True


class PermanentDeliveryError(DeliveryError):
    """The CRM refused the lead or the credentials (4xx), or the target is refused: retrying won't help."""

    retryable = False


class AuthRefused(PermanentDeliveryError):
    """The CRM refused the credentials (a 401, Salesforce's INVALID_SESSION_ID, a refused refresh): a
    connection that can refresh does so once and sends again; otherwise it needs re-authorization
    (api.md "Refresh") and its deliveries wait instead of failing."""


class RateLimited(RetryableDeliveryError):
    """The vendor's rate limit (429, Salesforce's REQUEST_LIMIT_EXCEEDED, HubSpot's daily policy): the
    whole connection waits `retry_after` seconds (None: the server's CRM_RATE_LIMIT_PAUSE), and the wait
    never counts as an attempt (api.md "Flow control")."""


class ConnectionGone(PermanentDeliveryError):
    """The receiver asked us to stop (a webhook's 410 Gone): the connection is paused with this reason."""


@dataclass(frozen=True)
class CheckResult:
    """The answer of a connection's harmless authenticated call (`POST …/test`)."""

    ok: bool
    detail: str


class TargetRefused(Exception):
    """A connection whose peer address the network rule forbids. Not an OSError, so neither urllib3 nor
    requests retries it or turns it into a (retryable) connection error."""


def outbound_session(allow_private_networks: bool) -> requests.Session:
    """The session deliveries go through: every connection is checked against the network rule once it
    is connected, before a byte is sent, so a host whose DNS answer changed after check_url cannot be
    reached. Environment proxies and ~/.netrc are ignored: behind a proxy the peer is the proxy and the
    proxy picks the address, and the server's netrc credentials must not go to a user-chosen host."""
    session = requests.Session()
    session.trust_env = False
    adapter = _CheckedPeerAdapter(allow_private_networks)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _CheckedPeerAdapter(HTTPAdapter):
    def __init__(self, allow_private_networks: bool):
        self.allow_private_networks = allow_private_networks  # read by init_poolmanager, called below
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        allow = self.allow_private_networks
        self.poolmanager.pool_classes_by_scheme = {
            "http": _checked_pool(HTTPConnectionPool, HTTPConnection, allow),
            "https": _checked_pool(HTTPSConnectionPool, HTTPSConnection, allow),
        }


def _checked_pool(pool: type, connection: type, allow_private_networks: bool) -> type:
    class CheckedConnection(connection):
        def _new_conn(self):  # the TCP socket, before TLS or the request is sent over it
            sock = super()._new_conn()
            try:
                check_peer(self.host, sock.getpeername()[0], allow_private_networks=allow_private_networks)
            except ValueError as exc:
                sock.close()
                raise TargetRefused(str(exc)) from None
            return sock

    return type(pool.__name__, (pool,), {"ConnectionCls": CheckedConnection})


@dataclass(frozen=True)
class Outbound:
    """What an adapter needs from the host: an HTTP session (outbound_session, which applies the network
    rule to every connection) plus the network rule, timeout and clock."""

    session: requests.Session
    allow_private_networks: bool = False
    resolve: Resolve = resolve_host
    timeout: float = 10.0
    clock: Callable[[], float] = time.time

    def check_target(self, url: str) -> None:
        """Re-check a stored target at delivery time: DNS may now point somewhere forbidden."""
        host = urlsplit(url).hostname or "?"
        try:
            check_url(url, allow_private_networks=self.allow_private_networks, resolve=self.resolve)
        except ValueError as exc:
            raise PermanentDeliveryError(f"target refused: {exc}") from None
        except OSError:
            raise RetryableDeliveryError(f"could not resolve host {host!r}") from None

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send one request to an allowed target. Redirects are not followed: a redirect could lead to a
        forbidden address, so a 3xx answer is reported as a failure instead."""
        self.check_target(url)
        host = urlsplit(url).hostname
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        try:
            return self.session.request(method, url, **kwargs)
        except TargetRefused as exc:
            raise PermanentDeliveryError(f"target refused: {exc}") from None
        except requests.Timeout:
            raise RetryableDeliveryError(f"no answer from {host} within {kwargs['timeout']}s") from None
        except requests.ConnectionError:
            raise RetryableDeliveryError(f"could not connect to {host}") from None
        except requests.RequestException as exc:
            raise PermanentDeliveryError(f"request to {host} failed ({type(exc).__name__})") from None


class ConfigReader:
    """Reads and checks a submitted config, collecting one message per bad field.

    Keys that no adapter read are reported as unknown, so the list of accepted keys is simply what the
    adapter's `_normalize` reads.
    """

    def __init__(self, config: dict, *, allow_private_networks: bool, resolve: Resolve, now: float):
        self.config = config
        self.allow_private_networks = allow_private_networks
        self.resolve = resolve
        self.now = now  # turns a submitted expires_in into the stored expires_at
        self.errors: dict[str, str] = {}
        self.seen: set[str] = set()

    def text(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        self.seen.add(key)
        value = self.config.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required and default is None:
                self.errors[key] = "is required"
            return default
        if not isinstance(value, str):
            self.errors[key] = "must be a string"
            return None
        return value.strip()

    def url(self, key: str, *, required: bool = False, default: str | None = None) -> str | None:
        """A target URL; a user-supplied one is checked against the network rule (the default is trusted)."""
        value = self.text(key, required=required)
        if value is None:
            return default
        try:
            check_url(value, allow_private_networks=self.allow_private_networks, resolve=self.resolve)
        except ValueError as exc:
            self.errors[key] = str(exc)
        except OSError:
            self.errors[key] = f"host {urlsplit(value).hostname!r} does not resolve"
        return value.rstrip("/")

    def number(self, key: str) -> float | None:
        """A non-negative number of seconds (JSON numbers only: a bool or a string is refused)."""
        self.seen.add(key)
        value = self.config.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.errors[key] = "must be a number of seconds"
            return None
        if value < 0:
            self.errors[key] = "must not be negative"
            return None
        return value

    def tokens(self, *, required: bool = True) -> dict:
        """OAuth tokens given directly (api.md "Tokens given directly"): `access_token`, an optional
        `refresh_token`, and the expiry as `expires_at` (epoch seconds) or `expires_in` (seconds from
        now), stored as `expires_at` so a later refresh knows when the token runs out."""
        access_token = self.text("access_token", required=required)
        refresh_token = self.text("refresh_token")
        expires_at = self.number("expires_at")
        expires_in = self.number("expires_in")
        if expires_at is not None and expires_in is not None:
            self.errors["expires_in"] = "give expires_in or expires_at, not both"
        elif expires_in is not None:
            expires_at = self.now + expires_in
        if access_token is None and (refresh_token or expires_at is not None):
            for key in ("refresh_token", "expires_at", "expires_in"):
                if self.config.get(key) is not None:
                    self.errors.setdefault(key, "goes with an access_token")
        return {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_at": int(expires_at) if expires_at is not None else None,
        }

    def field_map(self, defaults: dict[str, str | None], *, name: str, fixed: dict[str, str]) -> dict:
        """`field_map`: which CRM property each lead field goes to, over the kind's `defaults`. A value
        of null sends that lead field nowhere. `name` is a regular expression for the CRM's property
        names; `fixed` lead fields are how the adapter finds a record again and cannot be moved."""
        self.seen.add("field_map")
        given = self.config.get("field_map")
        merged = dict(defaults)
        if given is None:
            return merged
        if not isinstance(given, dict):
            self.errors["field_map"] = "must be an object mapping lead fields to CRM property names"
            return merged
        problems = []
        for lead_field, prop in given.items():
            if lead_field not in LEAD_FIELDS:
                problems.append(f"{lead_field!r} is not a lead field (one of {', '.join(LEAD_FIELDS)})")
            elif lead_field in fixed and prop != fixed[lead_field]:
                problems.append(f"{lead_field} always goes to {fixed[lead_field]!r}: records are found by it")
            elif prop is not None and not (isinstance(prop, str) and re.fullmatch(name, prop)):
                problems.append(f"{lead_field}: {str(prop)[:64]!r} is not a valid property name")
            else:
                merged[lead_field] = prop
        targets = [prop for prop in merged.values() if prop is not None]
        problems += [
            f"{prop!r} is the target of two lead fields"
            for prop in sorted(set(targets))
            if targets.count(prop) > 1
        ]
        if problems:
            self.errors["field_map"] = "; ".join(problems)
        return merged

    def reject(self, key: str, message: str) -> None:
        """A key this kind refuses with a specific explanation rather than as unknown."""
        self.seen.add(key)
        if key in self.config:
            self.errors[key] = message

    def unknown_keys(self, kind: str) -> None:
        for key in self.config:
            if key not in self.seen:
                self.errors[str(key)] = f"is not a setting of the {kind} kind"


class CrmAdapter(abc.ABC):
    kind: ClassVar[str]
    service: ClassVar[str]  # the vendor's name, as it appears in messages
    secret_fields: ClassVar[tuple[str, ...]] = ()  # config keys never echoed back
    default_field_map: ClassVar[dict[str, str | None]] = {}  # lead field -> CRM property

    @classmethod
    def validate_config(
        cls,
        config: dict,
        *,
        allow_private_networks: bool,
        resolve: Resolve = resolve_host,
        now: float | None = None,
    ) -> dict:
        """The normalized config to store (defaults filled in); ConfigError names every bad field.
        `now` (epoch seconds, default time.time()) turns a submitted `expires_in` into `expires_at`."""
        if not isinstance(config, dict):
            raise ConfigError({"config": "must be an object"})
        reader = ConfigReader(
            config,
            allow_private_networks=allow_private_networks,
            resolve=resolve,
            now=time.time() if now is None else now,
        )
        normalized = cls._normalize(reader)
        reader.unknown_keys(cls.kind)
        if reader.errors:
            raise ConfigError(reader.errors)
        return {key: value for key, value in normalized.items() if value is not None}

    @classmethod
    @abc.abstractmethod
    def _normalize(cls, read: ConfigReader) -> dict:
        """Read every accepted key through `read`, returning the config to store."""

    @classmethod
    def public_config(cls, config: dict) -> dict:
        return {key: value for key, value in config.items() if key not in cls.secret_fields}

    def __init__(self, config: dict, outbound: Outbound):
        self.config = config
        self.outbound = outbound
        self._secrets = tuple(str(config[k]) for k in self.secret_fields if config.get(k))

    @property
    def field_map(self) -> dict[str, str | None]:
        """The stored field map over the kind's defaults (a config stored before field maps has none)."""
        return {**self.default_field_map, **(self.config.get("field_map") or {})}

    @abc.abstractmethod
    def push(self, lead: Lead, *, delivery_id: str) -> PushResult:
        """Create or update the lead in the CRM; `delivery_id` is stable across retries of one delivery."""

    def push_batch(self, leads: list[tuple[str, Lead]]) -> list[PushResult | DeliveryError]:
        """One outcome per (delivery_id, lead), in order. Adapters with a batch endpoint override this."""
        outcomes: list[PushResult | DeliveryError] = []
        for delivery_id, lead in leads:
            try:
                outcomes.append(self.push(lead, delivery_id=delivery_id))
            except DeliveryError as exc:
                outcomes.append(exc)
        return outcomes

    def check_connection(self) -> CheckResult:
        """The harmless authenticated call of `POST …/test` plus a check of the field map. A refusal of
        the credentials, a rate limit or a receiver that is gone raise as they would for a push
        (AuthRefused, RateLimited, ConnectionGone), so the caller maps them like the sender does; any
        other failure is a CheckResult(False, readable reason)."""
        try:
            return self._check()
        except (AuthRefused, RateLimited, ConnectionGone):
            raise
        except DeliveryError as exc:
            return CheckResult(False, exc.message)

    def _check(self) -> CheckResult:
        """Adapters with a harmless authenticated call override this."""
        return CheckResult(False, f"connections of the {self.kind} kind cannot be tested")

    # Helpers for subclasses: answers become results or credential-free errors.

    def _failure(
        self, response: requests.Response, *, retryable: bool | None = None, rate_limited: bool = False
    ) -> DeliveryError:
        return failure_from_response(
            response,
            service=self.service,
            secrets=self._secrets,
            now=self.outbound.clock(),
            retryable=retryable,
            rate_limited=rate_limited,
        )

    def _json(self, response: requests.Response) -> Any:
        """The JSON body of a 2xx answer; raises the mapped error for any other status."""
        if not 200 <= response.status_code < 300:
            raise self._failure(response)
        try:
            return response.json()
        except ValueError:
            detail = describe_body(response) or "(empty)"
            raise RetryableDeliveryError(
                redact(
                    f"{self.service} answered {response.status_code} with an unreadable body: {detail}",
                    self._secrets,
                )
            ) from None

    def _unexpected(self, response: requests.Response, what: str) -> RetryableDeliveryError:
        """A 2xx whose JSON lacks what the vendor documents: the outcome is unknown, so try again."""
        return RetryableDeliveryError(
            redact(
                f"{self.service} answered {response.status_code} without {what}: {describe_body(response)}",
                self._secrets,
            )
        )


LEAD_FIELDS = ("email", "phone", "full_name", "first_name", "last_name", "title", "company", "linkedin_url")


def lead_values(lead: Lead) -> dict[str, str | None]:
    """The lead's values by the names field maps use (first/last name split from the full name)."""
    first, last = split_name(lead.full_name)
    return {
        "email": lead.email,
        "phone": lead.phone,
        "full_name": lead.full_name,
        "first_name": first,
        "last_name": last,
        "title": lead.title,
        "company": lead.company,
        "linkedin_url": lead.linkedin_url,
    }


def mapped_properties(lead: Lead, field_map: dict[str, str | None]) -> dict[str, str]:
    """{CRM property: value} for every mapped lead field that has a value: an empty value is not sent,
    so an update never blanks what the CRM already holds."""
    values = lead_values(lead)
    return {prop: values[field] for field, prop in field_map.items() if prop and values.get(field)}


def split_name(full_name: str | None) -> tuple[str | None, str | None]:
    """("Ada", "King Lovelace") from "Ada King Lovelace"; a single word is taken as the last name."""
    words = (full_name or "").split()
    if not words:
        return None, None
    if len(words) == 1:
        return None, words[0]
    return words[0], " ".join(words[1:])


_EXCERPT = 300
_TRANSIENT_STATUSES = frozenset({408, 425})


def failure_from_response(
    response: requests.Response,
    *,
    service: str,
    secrets: Iterable[str] = (),
    now: float | None = None,
    retryable: bool | None = None,
    rate_limited: bool = False,
) -> DeliveryError:
    """The DeliveryError for a non-success answer: 429 (or `rate_limited`, a vendor's own way of saying
    so) is RateLimited with the Retry-After; 401 is AuthRefused; 408/425/5xx retryable (honouring
    Retry-After); anything else permanent unless the caller knows better (`retryable`)."""
    status = response.status_code
    message = f"{service} answered {status}"
    if response.reason:
        message += f" {response.reason}"
    detail = describe_body(response)
    if detail:
        message += f": {detail}"
    if 300 <= status < 400:
        message += " (redirects are not followed)"
    message = redact(message, secrets)
    now = time.time() if now is None else now
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
    if status == 429 or rate_limited:
        return RateLimited(message, retry_after=retry_after)
    if retryable is None:
        if status == 401:
            return AuthRefused(message)
        retryable = status in _TRANSIENT_STATUSES or status >= 500
    if not retryable:
        return PermanentDeliveryError(message)
    return RetryableDeliveryError(message, retry_after=retry_after)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header, given as seconds or as an HTTP-date."""
    if not value or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def describe_body(response: requests.Response) -> str:
    """A short readable account of a body: the error message from JSON, else the text without markup."""
    text = response.text or ""
    if not text.strip():
        return ""
    try:
        detail = json_message(json.loads(text))
    except ValueError:
        if "html" in response.headers.get("Content-Type", "") or text.lstrip().startswith("<"):
            detail = "HTML page: " + re.sub(r"<[^>]*>", " ", text)
        else:
            detail = "non-JSON body: " + text
    detail = " ".join(detail.split())
    return detail if len(detail) <= _EXCERPT else detail[: _EXCERPT - 1] + "…"


def json_message(data: Any) -> str:
    if isinstance(data, list):
        return "; ".join(json_message(item) for item in data[:3])
    if not isinstance(data, dict):
        return json.dumps(data)
    code = next((data[k] for k in ("errorCode", "code", "category") if isinstance(data.get(k), str)), None)
    text = next(
        (
            data[k]
            for k in ("message", "error", "error_description", "detail", "title")
            if isinstance(data.get(k), str)
        ),
        None,
    )
    if text is None and isinstance(data.get("errors"), list) and data["errors"]:
        text = json_message(data["errors"])
    if text is None:
        return json.dumps(data)
    return f"{code}: {text}" if code else text


def redact(text: str, secrets: Iterable[str]) -> str:
    """Belt and braces: a vendor that echoes a credential back must not get it into our messages."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def mapped_names(field_map: dict[str, str | None]) -> dict[str, str]:
    """{CRM property: where the config names it} for every mapped lead field."""
    return {prop: f"field_map.{field}" for field, prop in field_map.items() if prop}


def properties_check(service: str, what: str, wanted: dict[str, str], existing: set[str]) -> CheckResult:
    """The field-map half of check_connection: every wanted property must exist in the CRM."""
    missing = [f"{prop!r} ({source})" for prop, source in wanted.items() if prop not in existing]
    if missing:
        return CheckResult(False, f"{service} has no {what} named " + ", ".join(missing))
    return CheckResult(True, f"{service} accepted the credentials and has every mapped {what}")
