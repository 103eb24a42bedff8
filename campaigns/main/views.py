"""Dashboard, settings hub, and /healthz."""

from __future__ import annotations

import sqlalchemy as sa
from flask import jsonify, request
from flask_login import current_user

from ..accounts import scoping
from ..accounts.access import READ, roles
from ..accounts.models import Practice
from ..dashboard.services import build_dashboard, dashboard_charts
from ..extensions import db
from ..fees.models import FeeSchedule
from ..modelbase import utcnow
from ..negotiations.views import practice_today
from ..payers.models import Contract, Network, Payer
from ..web import render_page
from . import bp


def _count(model, *where) -> int:
    stmt = scoping.scoped(model).where(*where).with_only_columns(sa.func.count(model.id))
    return db.session.scalar(stmt)


@bp.route("/")
@roles(*READ)
def dashboard():
    """The outcomes dashboard of the practices the user may see, or of one of them."""
    practice_id = request.args.get("practice", type=int)
    practice = scoping.get_or_404(Practice, practice_id) if practice_id is not None else None
    figures = build_dashboard(
        current_user,
        practice_id=practice_id,
        today=practice_today(practice) if practice else utcnow().date(),
        today_for=practice_today,
    )
    counts = {
        "practices": _count(Practice, Practice.archived_at.is_(None)),
        "payers": _count(Payer, Payer.archived_at.is_(None)),
        "networks": _count(Network, Network.archived_at.is_(None)),
        "contracts": _count(Contract, Contract.archived_at.is_(None)),
        "schedules": _count(FeeSchedule),
    }
    return render_page(
        "main/dashboard.html",
        counts=counts,
        d=figures,
        practices=scoping.visible_practices(),
        practice=practice,
        charts=dashboard_charts(figures),
    )


@bp.route("/settings")
@roles(*READ)
def settings():
    return render_page("main/settings.html")


@bp.route("/healthz")
def healthz():
    """For a load balancer: answers 200 when the database answers."""
    db.session.execute(sa.text("SELECT 1"))
    return jsonify(status="ok")
