"""What each action costs, as data (R7–R22). Amounts in milli-credits."""

from __future__ import annotations

from backend.domain.credits import HALF, MILLI, UnlockKind

# R7, R10, R11, R12, R13, R14, R15, R16: one credit of the unlock's type, once per person.
UNLOCK_COST: dict[UnlockKind, int] = {
    UnlockKind.EMAIL: MILLI,
    UnlockKind.PHONE: MILLI,
    UnlockKind.VALIDATION: HALF,
}

# R17: an upload's enrichment costs half a credit per lead (and unlocks the email, R19).
UPLOAD_ENRICH_COST = HALF
UPLOAD_VALIDATE_COST = HALF

# R20: one tracking credit held per tracked person.
TRACKING_HOLD = MILLI

# What each estimable action may unlock per person (POST /v1/estimates, R23).
ACTION_UNLOCKS: dict[str, tuple[UnlockKind, ...]] = {
    "add_to_list": (UnlockKind.EMAIL,),
    "crm_export": (UnlockKind.EMAIL,),
    "list_and_crm": (UnlockKind.EMAIL,),  # R12: one credit, not two
    "enroll": (UnlockKind.EMAIL,),
}

ESTIMABLE_ACTIONS = (
    "reveal",
    "add_to_list",
    "crm_export",
    "list_and_crm",
    "enroll",
    "post_export",
    "list_export",
    "track",
)


def unlocks_for(action: str, options: dict) -> tuple[UnlockKind, ...]:
    """The unlocks an action asks for, given its options (R10, R14, R15/R16)."""
    if action == "reveal":
        return tuple(UnlockKind(f) for f in dict.fromkeys(options.get("fields") or ("email",)))
    if action == "post_export":
        return (UnlockKind.EMAIL,) if options.get("destination", "list") == "list" else ()
    if action == "list_export":
        return (UnlockKind.EMAIL, UnlockKind.PHONE) if options.get("include_phone") else (UnlockKind.EMAIL,)
    return ACTION_UNLOCKS.get(action, ())
