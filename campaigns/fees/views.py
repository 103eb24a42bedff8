"""Read-only fee schedule pages: the list of schedules, one version with its sibling versions and
the diff of any two, and each version's exports (spreadsheets and practice-management formats).
"""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa
from flask import abort, current_app, request
from flask_login import current_user

from ..accounts.access import READ, roles
from ..accounts.models import Practice
from ..accounts.scoping import get_or_404, visible_practices
from ..exports import Column, csv_response, delimited_response, xlsx_response
from ..extensions import db
from ..money import cents_to_decimal
from ..web import is_htmx, render_page
from . import bp
from .models import FeeLine, FeeSchedule, ProcedureCode, ScheduleKind
from .versions import (
    KIND_ORDER,
    Version,
    annual_volumes,
    descriptions,
    diff_versions,
    families,
    family_versions,
    lines_of,
    same_family,
)

PER_PAGE = 50

FAMILY_SORTS = {
    "practice": lambda f: (f.practice.name.lower(), KIND_ORDER[f.kind], f.name.lower()),
    "kind": lambda f: (KIND_ORDER[f.kind], f.practice.name.lower(), f.name.lower()),
    "name": lambda f: (f.name.lower(), f.practice.name.lower()),
    "effective": lambda f: (f.shown.schedule.effective_from, f.name.lower()),
    "versions": lambda f: (len(f.versions), f.name.lower()),
    "codes": lambda f: (f.shown.codes, f.name.lower()),
}


# ---- the list ------------------------------------------------------------------------------


@bp.route("/")
@roles(*READ)
def schedules():
    practice = None
    if request.args.get("practice"):
        practice = get_or_404(Practice, request.args["practice"])
    kind = request.args.get("kind", "")
    kind = ScheduleKind(kind) if kind in {k.value for k in ScheduleKind} else None
    sort = request.args.get("sort", "practice")
    if sort.lstrip("-") not in FAMILY_SORTS:
        sort = "practice"
    rows = families(
        current_user,
        date.today(),
        practice_id=practice.id if practice else None,
        kind=kind,
    )
    rows.sort(key=FAMILY_SORTS[sort.lstrip("-")], reverse=sort.startswith("-"))
    return render_page(
        "fees/schedules.html",
        "fees/_families.html",
        families=rows,
        practice=practice,
        kind=kind,
        kinds=list(ScheduleKind),
        sort=sort,
        filtered=practice is not None or kind is not None,
        practices=visible_practices(),
        # The import flow is its own module; link to it only once it is registered.
        can_import="fees.import_new" in current_app.view_functions,
    )


# ---- one version ---------------------------------------------------------------------------


@bp.route("/<int:schedule_id>")
@roles(*READ)
def schedule(schedule_id: int):
    sched = get_or_404(FeeSchedule, schedule_id)
    page = max(1, request.args.get("page", 1, type=int))
    stmt = (
        sa.select(
            FeeLine.code, FeeLine.amount_cents, ProcedureCode.description, ProcedureCode.category
        )
        .outerjoin(
            ProcedureCode,
            sa.and_(
                ProcedureCode.code == FeeLine.code,
                ProcedureCode.organization_id == sched.organization_id,
            ),
        )
        .where(FeeLine.schedule_id == sched.id)
        .order_by(FeeLine.code)
    )
    total = db.session.scalar(
        sa.select(sa.func.count(FeeLine.id)).where(FeeLine.schedule_id == sched.id)
    )
    lines = db.session.execute(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    context = {
        "schedule": sched,
        "lines": lines,
        "page": page,
        "pages": max(1, -(-total // PER_PAGE)),
        "total": total,
    }
    if not is_htmx():  # the pager swaps the lines alone
        today = date.today()
        versions = family_versions(current_user, sched, today)
        new, old = _default_pair(sched, versions)
        context |= {"versions": versions, "today": today}
        context |= _diff_context(sched, versions, new, old, today)
    return render_page("fees/schedule.html", "fees/_lines.html", **context)


def _default_pair(sched: FeeSchedule, versions: list[Version]) -> tuple[FeeSchedule, FeeSchedule]:
    """What the page compares first: this version against the one before it; the oldest
    version is compared with the one after it; a lone version with itself."""
    ids = [v.id for v in versions]
    index = ids.index(sched.id)
    if index + 1 < len(versions):
        return sched, versions[index + 1].schedule
    if index > 0:
        return versions[index - 1].schedule, sched
    return sched, sched


def _family_member(sched: FeeSchedule, ident: str) -> FeeSchedule:
    """Another version of `sched`'s family, or 404 (another family looks like a missing id)."""
    other = get_or_404(FeeSchedule, ident)
    if not same_family(sched, other):
        abort(404)
    return other


def _diff_context(
    sched: FeeSchedule,
    versions: list[Version],
    new: FeeSchedule,
    old: FeeSchedule,
    today: date,
) -> dict:
    """The diff of `old` -> `new` with what _diff.html shows beside it."""
    weights = annual_volumes(current_user, sched, today)
    old_lines, new_lines = lines_of(old), lines_of(new)
    diff = diff_versions(old_lines, new_lines, weights.volumes)
    return {
        "schedule": sched,
        "versions": versions,
        "new": new,
        "old": old,
        "diff": diff,
        "period": weights.period,
        "descriptions": descriptions(sched.organization_id, set(old_lines) | set(new_lines)),
    }


@bp.route("/<int:schedule_id>/diff")
@roles(*READ)
def schedule_diff(schedule_id: int):
    """`against` (the base) -> `version` (default: this one); both of this schedule's family."""
    sched = get_or_404(FeeSchedule, schedule_id)
    today = date.today()
    versions = family_versions(current_user, sched, today)
    new, old = _default_pair(sched, versions)
    if request.args.get("version"):
        new = _family_member(sched, request.args["version"])
    if request.args.get("against"):
        old = _family_member(sched, request.args["against"])
    context = _diff_context(sched, versions, new, old, today)
    return render_page("fees/diff.html", "fees/_diff.html", **context)


# ---- exports -------------------------------------------------------------------------------


def _filename(sched: FeeSchedule, suffix: str, extension: str) -> str:
    """'acme-ppo-fee-schedule-2026-01-01-opendental.txt': ASCII only, for every browser."""
    slug = re.sub(r"[^a-z0-9]+", "-", sched.label.lower()).strip("-")[:60] or "schedule"
    return f"{slug}-{sched.effective_from.isoformat()}{suffix}.{extension}"


@bp.route("/<int:schedule_id>/export.<any(xlsx, csv, opendental, dentrix):fmt>")
@roles(*READ)
def schedule_export(schedule_id: int, fmt: str):
    sched = get_or_404(FeeSchedule, schedule_id)
    rows = db.session.execute(
        sa.select(FeeLine.code, ProcedureCode.description, FeeLine.amount_cents)
        .outerjoin(
            ProcedureCode,
            sa.and_(
                ProcedureCode.code == FeeLine.code,
                ProcedureCode.organization_id == sched.organization_id,
            ),
        )
        .where(FeeLine.schedule_id == sched.id)
        .order_by(FeeLine.code)
    ).all()
    if fmt == "opendental":
        # Open Dental's Fee Tools import: tab-delimited code and fee, no header, no "$".
        return delimited_response(
            _filename(sched, "-opendental", "txt"),
            [(code, f"{cents_to_decimal(cents)}") for code, _d, cents in rows],
            delimiter="\t",
            mimetype="text/plain; charset=utf-8",
        )
    if fmt == "dentrix":
        # Dentrix Ascend's fee schedule import: a CSV with a code column and a fee column.
        return delimited_response(
            _filename(sched, "-dentrix", "csv"),
            [(code, f"{cents_to_decimal(cents)}") for code, _d, cents in rows],
            header=("code", "fee"),
        )
    columns = [Column("Code"), Column("Description"), Column("Amount", "money")]
    values = [
        (code, description or "", cents_to_decimal(cents)) for code, description, cents in rows
    ]
    if fmt == "xlsx":
        return xlsx_response(_filename(sched, "", "xlsx"), sched.label, columns, values)
    return csv_response(_filename(sched, "", "csv"), columns, values)
