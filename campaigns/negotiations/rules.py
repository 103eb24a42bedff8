"""The campaign rules of DOMAIN.md as pure functions: per-code responses, the campaign outcome,
asked value and realised gain from frozen figures, what an offer is worth, the leverage rating.

Plain Python (dataclasses, Decimal, Fraction): no Flask, no SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from ..benchmark import engine

ZERO = Decimal(0)


@dataclass(frozen=True)
class CodeFigures:
    """One code of a campaign: V (annualised), A, U, and the ask / the granted amount."""

    code: str
    volume: Fraction
    allowed: Decimal | None
    office: Decimal | None
    asked: Decimal | None = None
    granted: Decimal | None = None
    is_target: bool = False

    @property
    def effective(self) -> Decimal | None:
        """E = min(A, U) where U exists, else A."""
        return engine.effective_allowed(self.allowed, self.office)

    def pays(self, amount: Decimal) -> Decimal:
        """What the payer pays for `amount` allowed: the lesser of it and the office fee."""
        return min(amount, self.office) if self.office is not None else amount


def value_of(row: CodeFigures, amount: Decimal | None) -> Decimal:
    """V x (pays(amount) - E), rounded half-up: what one code's new amount is worth a year.

    A code without an allowed amount in the baseline, or without an amount, is worth 0."""
    if amount is None or row.effective is None:
        return ZERO
    return engine.round_cents(engine.times(row.volume, row.pays(amount) - row.effective))


def asked_value(rows: Iterable[CodeFigures]) -> Decimal:
    """sum V x (ask - E) over the target codes with an ask, each row rounded."""
    return sum((value_of(r, r.asked) for r in rows if r.is_target), ZERO)


def offer_value(rows: Iterable[CodeFigures], amounts: Mapping[str, Decimal]) -> Decimal:
    """What a round's amounts are worth a year against the baseline (codes not named: 0)."""
    return sum((value_of(r, amounts[r.code]) for r in rows if r.code in amounts), ZERO)


def realised_gain(rows: Iterable[CodeFigures]) -> Decimal:
    """sum V x (new - E) over ALL codes of the baseline (cuts count); a code without a
    recorded new amount is unchanged (the new version is a full copy of the baseline)."""
    return sum((value_of(r, r.granted) for r in rows if r.granted is not None), ZERO)


def pct_raise(row: CodeFigures, amount: Decimal | None) -> Decimal | None:
    """(amount - A) / A, for the '% raise' columns; None without A or amount."""
    if amount is None or not row.allowed:
        return None
    return (amount - row.allowed) / row.allowed


def weighted_raise(rows: Iterable[CodeFigures]) -> Decimal | None:
    """The target codes' asks as one % raise, weighted by volume:
    sum V x (ask - A) / sum V x A, from exact sums."""
    num = Fraction(0)
    den = Fraction(0)
    for r in rows:
        if r.is_target and r.asked is not None and r.allowed:
            num += r.volume * Fraction(r.asked - r.allowed)
            den += r.volume * Fraction(r.allowed)
    return engine.ratio(num, den)


def code_response(row: CodeFigures) -> str | None:
    """granted (new >= asked), partial (an increase below the ask), declined (no change),
    reduced (below the baseline); None while no new amount is recorded. Compared with the
    baseline's allowed amount A (a code without A: any amount is an increase)."""
    new = row.granted
    if new is None:
        return None
    base = row.allowed if row.allowed is not None else ZERO
    if new < base:
        return "reduced"
    if row.asked is not None and new >= row.asked and new > base:
        return "granted"
    if new == base:
        return "declined"
    return "partial"


def derive_outcome(rows: Iterable[CodeFigures]) -> str | None:
    """The campaign outcome: 'no' when the net realised gain is <= 0; else 'yes' when every
    target code is granted; else 'partial'. None until every target code has an answer."""
    rows = list(rows)
    targets = [r for r in rows if r.is_target]
    if not targets or any(r.granted is None for r in targets):
        return None
    if realised_gain(rows) <= 0:
        return "no"
    if all(code_response(r) == "granted" for r in targets):
        return "yes"
    return "partial"


def win_rate(outcomes: Iterable[str]) -> Decimal | None:
    """(yes + partial) / (yes + partial + no); withdrawn ones do not count."""
    counted = [o for o in outcomes if o in ("yes", "partial", "no")]
    if not counted:
        return None
    return Decimal(sum(1 for o in counted if o != "no")) / Decimal(len(counted))


def median_days(pairs: Iterable[tuple[date, date]]) -> Decimal | None:
    """The median of (responded - submitted) in days; an even count takes the exact mean."""
    values = sorted(Decimal((end - start).days) for start, end in pairs)
    return engine.median(values) if values else None


# ---- leverage ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """The practice's leverage settings (DOMAIN.md defaults)."""

    share_bp: int = 1500
    scarce_count: int = 50
    max_providers: int = 3
    radius_miles: int = 10


@dataclass(frozen=True)
class Rating:
    level: str  # strong / moderate / weak
    reasons: tuple[str, ...]  # the criteria met, in words
    missing: tuple[str, ...]  # the criteria not met or not known, in words


def rate_leverage(
    *,
    share_bp: int | None,
    scarce_per_year: int | None,
    providers_nearby: int | None,
    better_route: bool | None,
    thresholds: Thresholds,
) -> Rating:
    """strong when at least two of the four criteria hold, moderate when one, weak when none;
    never a bare score: the reasons say which held and which did not (or are unknown)."""
    t = thresholds
    share_text = f"share of production at least {t.share_bp / 100:g}%"
    scarce_text = f"at least {t.scarce_count} scarce-category procedures a year"
    providers_text = f"at most {t.max_providers} in-network providers within {t.radius_miles} miles"
    route_text = "a better-paying access route exists"
    checks = [
        (share_bp, share_bp is not None and share_bp >= t.share_bp, share_text),
        (
            scarce_per_year,
            scarce_per_year is not None and scarce_per_year >= t.scarce_count,
            scarce_text,
        ),
        (
            providers_nearby,
            providers_nearby is not None and providers_nearby <= t.max_providers,
            providers_text,
        ),
        (better_route, bool(better_route), route_text),
    ]
    reasons = []
    missing = []
    for value, held, text in checks:
        if held:
            reasons.append(text)
        else:
            missing.append(f"{text}: {'not known' if value is None else 'no'}")
    level = "strong" if len(reasons) >= 2 else "moderate" if reasons else "weak"
    return Rating(level, tuple(reasons), tuple(missing))
