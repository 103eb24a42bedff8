"""The owner-only Open Dental import page: connect and read, preview the matches, import.

The password is typed for each read and never stored, logged, put in the session or sent back
in the page: the import step asks for it again and reads Open Dental afresh, then writes the
choices the user posted in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from flask import flash, request, url_for
from flask_login import current_user

from ..accounts.access import OWNER, roles
from ..accounts.models import Practice
from ..accounts.scoping import get_or_404, visible_practices
from ..accounts.services import ServiceError
from ..extensions import db
from ..modelbase import utcnow
from ..payers.models import Contract, Network, Payer
from ..web import redirect_to, render_page
from . import bp
from .importers.opendental import (
    MAX_MONTHS,
    OpenDentalData,
    OpenDentalError,
    parse_url,
    read_opendental,
)
from .opendental_import import Choices, OpenDentalPreview, confirm, preview, suggest_choices

DEFAULT_MONTHS = 12
SKIP = "skip"


def _today() -> date:
    """The day the code-mix period ends before (tests pin it)."""
    return date.today()


@dataclass
class Connection:
    """Step 1's fields, without the password (which is never kept anywhere)."""

    practice: Practice | None = None
    url: str = ""
    months: int = DEFAULT_MONTHS
    clinic: int = 0
    provider: int | None = None


def _int(raw: str) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) <= 9 else None


def _connection(errors: dict[str, str]) -> Connection:
    form = request.form
    conn = Connection()
    if form.get("practice_id"):
        conn.practice = get_or_404(Practice, form["practice_id"])
        if conn.practice.archived_at is not None:
            errors["practice_id"] = "This practice is archived."
    else:
        errors["practice_id"] = "Choose the practice."
    conn.url = form.get("url", "").strip()[:500]
    if not conn.url:
        errors["url"] = "Enter the address of the Open Dental database."
    else:
        try:
            parse_url(conn.url)
        except OpenDentalError as exc:
            errors["url"] = exc.message
    months = _int(form.get("months", str(DEFAULT_MONTHS)) or str(DEFAULT_MONTHS))
    if months is None or not 1 <= months <= MAX_MONTHS:
        errors["months"] = f"Choose between 1 and {MAX_MONTHS} months."
    else:
        conn.months = months
    clinic = _int(form.get("clinic", "0") or "0")
    if clinic is None:
        errors["clinic"] = "The clinic is a number (0: the default fees, every clinic)."
    else:
        conn.clinic = clinic
    raw_provider = form.get("provider", "").strip()
    if raw_provider:
        conn.provider = _int(raw_provider)
        if conn.provider is None:
            errors["provider"] = "The provider is a ProvNum, or leave it blank."
    return conn


def _read(conn: Connection, password: str) -> OpenDentalData:
    return read_opendental(
        conn.url,
        password,
        months=conn.months,
        today=_today(),
        office_provider=conn.provider,
        clinic=conn.clinic,
    )


def _posted_choices(data: OpenDentalData) -> Choices:
    """The preview form's choices; a FeeSched or carrier the form did not offer is skipped."""
    form = request.form
    choices = Choices(office=data.office is not None and form.get("office") == "y")
    for schedule in data.schedules:
        choices.schedules[schedule.fee_sched] = _int(form.get(f"sched-{schedule.fee_sched}", ""))
    for num in data.carriers:
        raw = form.get(f"carrier-{num}")
        if raw is not None:
            choices.carriers[num] = _int(raw)
    return choices


def _options(practice: Practice) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """([(contract id, network name)] of the practice, [(payer id, name)] of the organisation)."""
    contracts = db.session.execute(
        sa.select(Contract.id, Network.name)
        .join(Network, Network.id == Contract.network_id)
        .where(Contract.practice_id == practice.id, Contract.archived_at.is_(None))
        .order_by(Network.name)
    ).all()
    payers = db.session.execute(
        sa.select(Payer.id, Payer.name)
        .where(Payer.organization_id == practice.organization_id, Payer.archived_at.is_(None))
        .order_by(Payer.name)
    ).all()
    return [tuple(r) for r in contracts], [tuple(r) for r in payers]


def _page(
    conn: Connection,
    errors: dict[str, str],
    *,
    summary: OpenDentalPreview | None = None,
    choices: Choices | None = None,
    effective_from: str = "",
    status: int = 200,
):
    contracts, payers = _options(conn.practice) if summary and conn.practice else ([], [])
    return render_page(
        "fees/opendental.html",
        practices=visible_practices(),
        conn=conn,
        errors=errors,
        summary=summary,
        choices=choices,
        contracts=contracts,
        payers=payers,
        effective_from=effective_from or _today().isoformat(),
        max_months=MAX_MONTHS,
        status=status,
    )


@bp.route("/opendental", methods=["GET", "POST"])
@roles(*OWNER)
def opendental():
    if request.method != "POST":
        return _page(Connection(), {})
    errors: dict[str, str] = {}
    conn = _connection(errors)
    importing = request.form.get("action") == "import"
    password = request.form.get("password", "")
    effective_raw = request.form.get("effective_from", "").strip()
    effective = _today()
    if importing:
        try:
            effective = date.fromisoformat(effective_raw) if effective_raw else _today()
        except ValueError:
            errors["effective_from"] = "Enter the date the new schedule versions take effect."
    if errors.keys() & {"practice_id", "url", "months", "clinic", "provider"}:
        return _page(conn, errors, status=422)
    try:
        data = _read(conn, password)
    except OpenDentalError as exc:
        errors["read"] = exc.message
        return _page(conn, errors, status=422)
    practice = conn.practice
    assert practice is not None  # checked with the other fields
    if not importing or errors:
        choices = _posted_choices(data) if importing else suggest_choices(practice, data)
        summary = preview(practice, data, choices)
        return _page(
            conn,
            errors,
            summary=summary,
            choices=choices,
            effective_from=effective_raw,
            status=422 if errors else 200,
        )
    choices = _posted_choices(data)
    try:
        result = confirm(current_user, practice, data, choices, effective, utcnow())
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        errors["confirm"] = str(exc)
        practice = get_or_404(Practice, practice.id)
        conn.practice = practice
        return _page(
            conn,
            errors,
            summary=preview(practice, data, choices),
            choices=choices,
            effective_from=effective_raw,
            status=422,
        )
    except Exception:
        db.session.rollback()
        raise
    flash(result.message(), "success")
    return redirect_to(url_for("fees.imports"))
