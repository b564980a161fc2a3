"""CSV cells that a spreadsheet would run as formulas are neutralised (OWASP CSV injection)."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str:
    """A cell as text; one that starts like a formula gets a leading apostrophe, shown as text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
