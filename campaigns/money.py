"""Money helpers: integer cents in storage, Decimal in Python, US-dollar text on screen."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction

CENT = Decimal("0.01")


def cents_to_decimal(cents: int | None) -> Decimal | None:
    """Stored integer cents -> Decimal dollars (None stays None)."""
    if cents is None:
        return None
    return (Decimal(cents) / 100).quantize(CENT)


def round_cents(value: Decimal) -> Decimal:
    """Round an exact Decimal half-up to the cent (DOMAIN.md: every per-code figure)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def decimal_to_cents(value: Decimal) -> int:
    """Decimal dollars -> integer cents, rounded half-up."""
    return int(round_cents(value) * 100)


def parse_money(text: str) -> Decimal:
    """Parse what a person types in a money field: '$1,234.50', '1234.5', '1,234'.

    Raises ValueError with a readable message for anything else, including negatives.
    """
    cleaned = (text or "").strip().replace("$", "").replace(",", "").replace(" ", "")
    if not cleaned:
        raise ValueError("Enter an amount.")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"'{text.strip()}' is not an amount.") from None
    if not value.is_finite():
        raise ValueError(f"'{text.strip()}' is not an amount.")
    if value < 0:
        raise ValueError("The amount cannot be negative.")
    if value != value.quantize(CENT):
        raise ValueError("Amounts have at most two decimals.")
    return value.quantize(CENT)


def format_money(value: Decimal | Fraction | int | None, *, cents: bool = False) -> str:
    """'$1,234.50'; with cents=True the value is integer cents. None -> 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    amount = cents_to_decimal(value) if cents else round_cents(Decimal(value))
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def format_percent(value: Decimal | None) -> str:
    """A ratio (0.7512) as '75.1%'; None -> 'n/a'."""
    if value is None:
        return "n/a"
    return f"{(value * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"
