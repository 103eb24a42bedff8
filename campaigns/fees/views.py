"""Read-only lists of fee schedule versions and their lines (imports come with their issue)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import request

from ..accounts.access import READ, roles
from ..accounts.models import Practice
from ..accounts.scoping import get_or_404, scoped
from ..extensions import db
from ..web import render_page
from . import bp
from .models import FeeLine, FeeSchedule, ProcedureCode

PER_PAGE = 50


@bp.route("/")
@roles(*READ)
def schedules():
    line_count = (
        sa.select(sa.func.count(FeeLine.id))
        .where(FeeLine.schedule_id == FeeSchedule.id)
        .scalar_subquery()
    )
    stmt = (
        scoped(FeeSchedule)
        .join(Practice, Practice.id == FeeSchedule.practice_id)
        .add_columns(line_count)
        .order_by(
            Practice.name, FeeSchedule.kind, FeeSchedule.label, FeeSchedule.effective_from.desc()
        )
    )
    rows = db.session.execute(stmt).all()
    return render_page("fees/schedules.html", rows=rows)


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
    return render_page(
        "fees/schedule.html",
        "fees/_lines.html",
        schedule=sched,
        lines=lines,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        total=total,
    )
