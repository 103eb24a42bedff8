"""The letter variables: `build_letter_context()` turns a campaign into plain dicts of text
(money as "$1,234.56", dates as "March 4, 2026"), the single source of what a template may use.

Pure: it reads the attributes of the objects it is given (a Campaign or anything shaped like
one) and touches no database, clock or Flask. `VARIABLES` documents every variable with an
example, and `demo_context()` is the context the help page shows and uploads are tried with.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from ..money import format_money, format_percent, round_cents
from ..negotiations import rules


class LetterKind(enum.StrEnum):
    SCHEDULE_REQUEST = "schedule_request"
    FEE_INCREASE = "fee_increase"
    FOLLOW_UP = "follow_up"

    @property
    def label(self) -> str:
        return KIND_LABELS[self]


KIND_LABELS = {
    LetterKind.SCHEDULE_REQUEST: "Schedule request (step 1)",
    LetterKind.FEE_INCREASE: "Fee increase request (step 4)",
    LetterKind.FOLLOW_UP: "Follow-up (no answer yet)",
}
REPLY_DAYS = 30  # reply-by when the campaign has no reply-due date


def long_date(value: date | None) -> str:
    return f"{value:%B} {value.day}, {value.year}" if value else ""


def _volume(value: Fraction) -> str:
    """An annual volume as a whole number of procedures (rounded half-up)."""
    return f"{math.floor(value + Fraction(1, 2)):,}"


def _one_line(text: str) -> str:
    return ", ".join(line.strip() for line in (text or "").splitlines() if line.strip())


def _pct(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    text = format_percent(value)
    return text if text.startswith("-") else "+" + text


def code_rows(
    figures: list[rules.CodeFigures], descriptions: Mapping[str, str]
) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The ask table (target codes with an ask) and its totals.

    Per row: current = A, requested = the ask, change = (ask - A) / A, V annualised;
    annual figures round(V x A) and round(V x ask); totals are sums of the rounded rows and
    the total change is the volume-weighted raise from exact sums (DOMAIN.md)."""
    rows: list[dict[str, str]] = []
    current_total = requested_total = Decimal(0)
    volume_total = Fraction(0)
    asked = [f for f in figures if f.is_target and f.asked is not None]
    for f in sorted(asked, key=lambda r: r.code):
        current_annual = round_cents(_times(f.volume, f.allowed or Decimal(0)))
        requested_annual = round_cents(_times(f.volume, f.asked))
        current_total += current_annual
        requested_total += requested_annual
        volume_total += f.volume
        rows.append(
            {
                "code": f.code,
                "description": descriptions.get(f.code, ""),
                "current": format_money(f.allowed),
                "requested": format_money(f.asked),
                "change_pct": _pct(rules.pct_raise(f, f.asked)),
                "volume": _volume(f.volume),
                "current_annual": format_money(current_annual),
                "requested_annual": format_money(requested_annual),
                "increase_annual": format_money(requested_annual - current_annual),
            }
        )
    totals = {
        "codes": str(len(rows)),
        "volume": _volume(volume_total),
        "current_annual": format_money(current_total),
        "requested_annual": format_money(requested_total),
        "increase_annual": format_money(requested_total - current_total),
        "change_pct": _pct(rules.weighted_raise(asked)),
    }
    return rows, totals


def _times(volume: Fraction, amount: Decimal) -> Decimal:
    exact = volume * Fraction(amount)
    return Decimal(exact.numerator) / Decimal(exact.denominator)


def build_letter_context(
    campaign: Any,
    *,
    kind: LetterKind,
    today: date,
    figures: list[rules.CodeFigures],
    descriptions: Mapping[str, str],
    signer: Mapping[str, str],
    request_letter_on: date | None = None,
) -> dict[str, Any]:
    """Every variable a letter may use, as text. `campaign` needs practice, contract (with
    network), facts, the campaign dates and `id`; `figures` are the campaign's code figures
    (services.figures); `request_letter_on` is the date of the latest fee increase letter,
    which the follow-up refers to when the campaign has no sent date."""
    practice = campaign.practice
    contract = campaign.contract
    network = contract.network
    rows, totals = code_rows(figures, descriptions)
    reply_by = campaign.response_due_on or today + timedelta(days=REPLY_DAYS)
    if reply_by < today:  # a follow-up after the due date asks again, from today
        reply_by = today + timedelta(days=REPLY_DAYS)
    contact = next(iter(getattr(network, "contacts", None) or []), None)
    request_on = campaign.submitted_on or request_letter_on
    return {
        "letter": {"kind": kind.value, "title": kind.label},
        "today": long_date(today),
        "practice": {
            "name": practice.name,
            "address": practice.address or "",
            "address_line": _one_line(practice.address),
            "phone": practice.phone or "",
            "tin": practice.tin or "",
            "npi": practice.npi or "",
        },
        "region": _one_line(practice.address).rsplit(",", 1)[-1].strip()
        or (practice.time_zone or "").replace("_", " "),
        "network": {"name": network.name, "kind": network.kind.value},
        "provider_relations": {
            "address": contract.pr_address or "",
            "address_line": _one_line(contract.pr_address),
            "email": contract.pr_email or "",
            "phone": contract.pr_phone or "",
            "contact": contact.name if contact else "",
        },
        "contract": {
            "effective_date": long_date(contract.effective_date) or "the date of our agreement",
            "renewal_date": long_date(contract.renewal_date),
        },
        "campaign": {
            "id": str(campaign.id),
            "opened_on": long_date(campaign.opened_on),
            "reply_by": long_date(reply_by),
            "submitted_on": long_date(campaign.submitted_on),
        },
        "codes": rows,
        "totals": totals,
        "facts": [
            {"statement": f.statement, "source": f.source or "", "kind": f.kind.value}
            for f in campaign.facts
            if f.in_letter
        ],
        "request": {
            "date": long_date(request_on) or long_date(today),
            "codes": totals["codes"],
            "code_list": ", ".join(r["code"] for r in rows) or "none listed",
            "increase_annual": totals["increase_annual"],
            "sent_how": campaign.sent_how or "",
            "sent_to": campaign.sent_to or "",
        },
        "signer": {
            "name": signer.get("name", ""),
            "title": signer.get("title", "") or "Office manager",
            "email": signer.get("email", ""),
        },
    }


# ---- the documentation of the variables, and the demo context -------------------------------


def demo_context(kind: LetterKind = LetterKind.FEE_INCREASE, rows: int = 3) -> dict[str, Any]:
    """A context for a fictional campaign (help page examples, trial renders, the bench)."""
    from types import SimpleNamespace as NS

    network = NS(name="Summit Dental PPO", kind=NS(value="direct"), contacts=[NS(name="J. Reyes")])
    contract = NS(
        network=network,
        pr_address="Provider Relations\nPO Box 1200\nDenver, CO 80201",
        pr_email="providers@summit.example",
        pr_phone="(303) 555-0100",
        effective_date=date(2021, 4, 1),
        renewal_date=date(2027, 4, 1),
    )
    practice = NS(
        name="Smith & Jones Family Dentistry",
        address="210 Main Street\nSpringfield, CO",
        phone="(720) 555-0142",
        tin="84-1234567",
        npi="1234567893",
        time_zone="America/Denver",
    )
    facts = [
        NS(
            statement="We saw 412 of your members in the last 12 months.",
            source="PMS",
            kind=NS(value="volume"),
            in_letter=True,
        ),  # fmt: skip
        NS(
            statement="Only two other in-network offices lie within 10 miles.",
            source="directory",
            kind=NS(value="adequacy"),
            in_letter=True,
        ),  # fmt: skip
    ]
    campaign = NS(
        id=42, practice=practice, contract=contract, facts=facts, opened_on=date(2026, 9, 1),
        submitted_on=date(2026, 10, 15), response_due_on=date(2026, 11, 14), sent_how="email",
        sent_to="providers@summit.example",
    )  # fmt: skip
    figures = []
    descriptions = {}
    for i in range(rows):
        code = f"T{1000 + i * 10:04d}"
        allowed = Decimal(5000 + i * 731) / 100
        figures.append(
            rules.CodeFigures(
                code=code,
                volume=Fraction(100 + 7 * i),
                allowed=allowed,
                office=allowed * 2,
                asked=round_cents(allowed * Decimal("1.08")),
                is_target=True,
            )
        )
        descriptions[code] = f"Procedure {i + 1}"
    return build_letter_context(
        campaign,
        kind=kind,
        today=date(2026, 10, 1),
        figures=figures,
        descriptions=descriptions,
        signer={"name": "Dana Smith", "title": "Practice manager", "email": "dana@smith.example"},
    )


VARIABLE_HELP = {
    "letter.kind": "which letter this is",
    "letter.title": "the letter kind in words",
    "today": "the date of the letter",
    "practice.name": "the practice's name",
    "practice.address": "its address (several lines)",
    "practice.address_line": "its address on one line",
    "practice.phone": "its phone number",
    "practice.tin": "tax identification number",
    "practice.npi": "national provider identifier",
    "region": "where the practice is (last part of its address)",
    "network.name": "the network negotiated with",
    "network.kind": "direct, leased or umbrella",
    "provider_relations.address": "the contract's provider relations address",
    "provider_relations.address_line": "that address on one line",
    "provider_relations.email": "provider relations email",
    "provider_relations.phone": "provider relations phone",
    "provider_relations.contact": "the network's first contact",
    "contract.effective_date": "when the contract took effect",
    "contract.renewal_date": "its renewal date",
    "campaign.id": "the campaign number",
    "campaign.opened_on": "when the campaign opened",
    "campaign.reply_by": "the reply-by date (reply due, else 30 days from today)",
    "campaign.submitted_on": "when the request was sent",
    "codes": "the ask table: a list of rows (use {%tr for row in codes %})",
    "row.code": "procedure code",
    "row.description": "its description from your own files",
    "row.current": "current allowed amount",
    "row.requested": "requested amount",
    "row.change_pct": "change in percent",
    "row.volume": "procedures a year",
    "row.current_annual": "volume x current allowed",
    "row.requested_annual": "volume x requested",
    "row.increase_annual": "the difference a year",
    "totals.codes": "number of codes asked",
    "totals.volume": "procedures a year, all asked codes",
    "totals.current_annual": "sum of the rows' current a year",
    "totals.requested_annual": "sum of the rows' requested a year",
    "totals.increase_annual": "the difference a year",
    "totals.change_pct": "the volume-weighted change",
    "facts": "the leverage facts kept for the letter (use {%p for fact in facts %})",
    "fact.statement": "the fact as it reads in the letter",
    "fact.source": "where it comes from",
    "fact.kind": "volume, service_mix, adequacy, access_route or other",
    "request.date": "the date of the fee increase request (for the follow-up)",
    "request.codes": "how many codes it asked for",
    "request.code_list": "the codes, comma-separated",
    "request.increase_annual": "what it asked for a year",
    "request.sent_how": "how it was sent",
    "request.sent_to": "to whom",
    "signer.name": "who signs: the user generating the letter",
    "signer.title": "their title (role)",
    "signer.email": "their email",
}


def variables() -> list[tuple[str, str, str]]:
    """(name, meaning, example) for the help page, examples from the demo context."""
    demo = demo_context()
    out = []
    for name, meaning in VARIABLE_HELP.items():
        head, _, tail = name.partition(".")
        if head in ("row", "fact"):
            source = (demo["codes"] if head == "row" else demo["facts"])[0]
            example = source[tail]
        elif tail:
            example = demo[head][tail]
        else:
            value = demo[head]
            example = f"{len(value)} rows" if isinstance(value, list) else value
        out.append((name, meaning, str(example)))
    return out


def known_names(context: Mapping[str, Any]) -> dict[str, set[str] | None]:
    """Top-level names and, for dicts, their keys (None: any attribute is fine)."""
    return {k: (set(v) if isinstance(v, dict) else None) for k, v in context.items()}
