"""Dashboard, settings hub, and /healthz."""

from __future__ import annotations

import sqlalchemy as sa
from flask import jsonify

from ..accounts import scoping
from ..accounts.access import READ, roles
from ..accounts.models import Practice
from ..extensions import db
from ..fees.models import FeeSchedule
from ..payers.models import Contract, Network, Payer
from ..web import render_page
from . import bp


def _count(model, *where) -> int:
    stmt = scoping.scoped(model).where(*where).with_only_columns(sa.func.count(model.id))
    return db.session.scalar(stmt)


@bp.route("/")
@roles(*READ)
def dashboard():
    counts = {
        "practices": _count(Practice, Practice.archived_at.is_(None)),
        "payers": _count(Payer, Payer.archived_at.is_(None)),
        "networks": _count(Network, Network.archived_at.is_(None)),
        "contracts": _count(Contract, Contract.archived_at.is_(None)),
        "schedules": _count(FeeSchedule),
    }
    return render_page("main/dashboard.html", counts=counts)


@bp.route("/settings")
@roles(*READ)
def settings():
    return render_page("main/settings.html")


@bp.route("/healthz")
def healthz():
    """For a load balancer: answers 200 when the database answers."""
    db.session.execute(sa.text("SELECT 1"))
    return jsonify(status="ok")
