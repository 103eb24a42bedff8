"""Form fields and validators shared by the feature forms."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from wtforms import StringField
from wtforms.validators import Length, Optional, ValidationError


def stripped(value):
    return value.strip() if isinstance(value, str) else value


class TextField(StringField):
    """A StringField that trims what was typed."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("filters", []).append(stripped)
        super().__init__(*args, **kwargs)


def optional_text(label: str, max_length: int = 200, **kwargs) -> TextField:
    return TextField(label, validators=[Optional(), Length(max=max_length)], **kwargs)


def percent_to_bp(text: str, *, maximum: Decimal = Decimal(100)) -> int:
    """'5' or '5.25' (percent) -> basis points; ValidationError with a readable message."""
    try:
        value = Decimal((text or "").strip().rstrip("%").strip())
    except InvalidOperation:
        raise ValidationError("Enter a percentage such as 5 or 7.5.") from None
    if not value.is_finite() or value < 0 or value > maximum:
        raise ValidationError(f"Enter a percentage between 0 and {maximum}.")
    bp = value * 100
    if bp != bp.to_integral_value():
        raise ValidationError("Use at most two decimals.")
    return int(bp)


def bp_to_percent(bp: int) -> str:
    value = Decimal(bp) / 100
    return f"{value.normalize():f}"
