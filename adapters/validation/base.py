"""The email-validation port: one verdict per address, whichever service (or none) produced it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

Status = Literal["valid", "invalid", "risky", "unknown"]


@dataclass(frozen=True)
class Verdict:
    """`email` is normalised (trimmed, domain lower-cased) so callers can key results by it.

    `reasons` are short machine-readable codes ("disposable", "role_address", "http_429", ...);
    "valid" usually has none, every other status says why.
    """

    email: str
    status: Status
    reasons: tuple[str, ...] = ()


def normalise_email(raw: str) -> str:
    """Trim and lower-case the domain; the local part keeps its case (RFC 5321 lets it matter)."""
    text = raw.strip()
    local, at, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}" if at else text


class EmailValidator(ABC):
    """Adapters answer a Verdict for every address and never raise for a bad address or an outage."""

    @abstractmethod
    def validate(self, email: str) -> Verdict: ...

    def validate_many(self, emails: list[str]) -> list[Verdict]:
        """One by one; adapters whose service has a batch endpoint override this."""
        return [self.validate(email) for email in emails]
