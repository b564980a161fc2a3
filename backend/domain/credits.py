"""Credit types and amounts. Amounts are integer milli-credits; a half credit is 500."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum

MILLI = 1000
HALF = 500


class CreditType(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    TRACKING = "tracking"


CREDIT_TYPES: tuple[CreditType, ...] = tuple(CreditType)


def to_milli(value) -> int:
    """Parse a JSON credit amount (a multiple of 0.5) into milli-credits, exactly.

    Raises ValueError for anything else: booleans, non-numbers, other fractions.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError("a credit amount must be a number")
    try:
        milli = Decimal(str(value)) * MILLI
    except InvalidOperation as exc:
        raise ValueError("a credit amount must be a number") from exc
    if not milli.is_finite() or milli != milli.to_integral_value() or int(milli) % HALF:
        raise ValueError("a credit amount must be a multiple of 0.5")
    return int(milli)


def render(milli: int) -> int | float:
    """The JSON number for an amount: whole credits as integers, a half step as x.5.

    This is the one place an amount leaves integers, at the edge, and a half step is exact in binary.
    """
    whole, rest = divmod(milli, MILLI)
    return whole if rest == 0 else milli / MILLI


class UnlockKind(StrEnum):
    """What an account can hold of a person (R2). A validation is held separately from the email
    itself because an upload may validate an email the user supplied without enriching it (R17)."""

    EMAIL = "email"
    PHONE = "phone"
    VALIDATION = "validation"

    @property
    def credit_type(self) -> CreditType:
        return CreditType.PHONE if self is UnlockKind.PHONE else CreditType.EMAIL
