"""The domain's one error vocabulary; backend/api/errors.py maps each to a status and a code."""

from __future__ import annotations

from backend.domain.credits import render


class DomainError(Exception):
    """Root of every error a use case raises on purpose."""

    def __init__(self, detail: str, **extra):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidProfileUrl(DomainError):
    """R1: not a LinkedIn /in/ profile."""


class InvalidInput(DomainError):
    """A request that is well-formed but cannot be acted on (per-field messages in `fields`)."""


class NotFound(DomainError):
    """Unknown, or belongs to another account (never reveal which)."""


class Forbidden(DomainError):
    """The caller is known but may not do this (a member on an account-admin route)."""


class OAuthRefused(DomainError):
    """An OAuth callback that cannot complete: a bad, used or expired state, or the vendor's `error=`."""


class VendorRefused(DomainError):
    """The CRM vendor's answer cannot be used (a token answer without access_token, a forbidden API host)."""


class Conflict(DomainError):
    """The resource is in a state that forbids the action."""


class ListInUse(Conflict):
    """A list a queued or running job writes into cannot be deleted (api.md "Updating and deleting")."""


class TooLarge(DomainError):
    """A file or request over a documented limit (`limit` names it)."""


class InsufficientCredits(DomainError):
    """R5: the balance cannot cover the charge; nothing was changed."""

    def __init__(self, credit_type: str, required_milli: int, available_milli: int):
        self.credit_type = credit_type
        self.required_milli = required_milli
        self.available_milli = available_milli
        super().__init__(
            f"this needs {required_milli / 1000:g} {credit_type} credit(s); "
            f"the account has {available_milli / 1000:g}"
        )

    def facts(self) -> dict:
        """What the refusal names, as the answer (or a failed job) shows it."""
        return {
            "credit_type": self.credit_type,
            "required": render(self.required_milli),
            "available": render(self.available_milli),
        }


class UserLimitReached(DomainError):
    """R24: the charge would take the user past their monthly limit of this credit type; nothing was
    changed. Amounts in milli-credits."""

    def __init__(self, credit_type: str, limit_milli: int, used_milli: int, required_milli: int):
        self.credit_type = credit_type
        self.limit_milli = limit_milli
        self.used_milli = used_milli
        self.required_milli = required_milli
        super().__init__(
            f"this needs {required_milli / 1000:g} {credit_type} credit(s) and your monthly limit of "
            f"{limit_milli / 1000:g} has {(limit_milli - used_milli) / 1000:g} left; "
            "an account admin can raise it"
        )

    def facts(self) -> dict:
        """R24's refusal names the credit type, the limit, what was used and what was required."""
        return {
            "credit_type": self.credit_type,
            "limit": render(self.limit_milli),
            "used": render(self.used_milli),
            "required": render(self.required_milli),
        }
