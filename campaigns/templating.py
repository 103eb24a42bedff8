"""Jinja filters and globals: money, percentages, dates in the practice's time zone."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Flask, request
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from .money import format_money, format_percent


def local_datetime(value: datetime | None, tz: str | None = None) -> str:
    """An aware UTC time shown in a time zone (the practice's; the organisation default)."""
    if value is None:
        return ""
    zone = ZoneInfo(tz or "America/New_York")
    local = value.astimezone(zone)
    return local.strftime("%b %-d, %Y %-I:%M %p ") + (local.tzname() or "")


def long_date(value: date | None) -> str:
    return value.strftime("%b %-d, %Y") if value else ""


NAV_SECTIONS = {
    "main.dashboard": ("main.dashboard",),
    "campaigns.board": ("campaigns.",),
    "payers.payers": ("payers.",),
    "fees.schedules": ("fees.",),
    "analysis.scorecard": ("analysis.",),
    "main.settings": ("main.settings", "accounts.", "reminders.preferences"),
    "reminders.inbox": ("reminders.inbox",),
}


def nav_active(endpoint: str) -> bool:
    """Whether the current page belongs to the navigation entry `endpoint`."""
    current = request.endpoint or ""
    return any(
        current == p or (p.endswith(".") and current.startswith(p))
        for p in NAV_SECTIONS.get(endpoint, (endpoint,))
    )


def merge_query(args, **changes) -> str:
    """The current query string with `changes` applied (for sort and page links)."""
    merged = dict((args or request.args).items())
    merged.update({k: v for k, v in changes.items() if v is not None})
    return urlencode(merged)


def quantity(value) -> str:
    """A volume: up to two decimals, no trailing zeros ('36', '96.5', '1,212.33')."""
    if value is None:
        return "n/a"
    if isinstance(value, Fraction):
        value = Decimal(value.numerator) / Decimal(value.denominator)
    text = f"{Decimal(value).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def month_name(value: str | date | None) -> str:
    """'2026-03-01' or a date -> 'Mar 2026'."""
    if not value:
        return ""
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return day.strftime("%b %Y")


def csrf_field() -> Markup:
    """The form's CSRF token as a hidden input without an id (a page may hold several forms)."""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(generate_csrf())


def init_templating(app: Flask) -> None:
    app.jinja_env.globals["csrf_field"] = csrf_field
    app.jinja_env.filters["qty"] = quantity
    app.jinja_env.filters["month"] = month_name
    app.jinja_env.globals["nav_active"] = nav_active
    app.jinja_env.filters["merge_query"] = merge_query
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["cents"] = lambda v: format_money(v, cents=True)
    app.jinja_env.filters["percent"] = format_percent
    app.jinja_env.filters["localtime"] = local_datetime
    app.jinja_env.filters["longdate"] = long_date
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
