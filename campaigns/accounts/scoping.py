"""The one place that decides what the signed-in user may see: tenancy and practice access.

Every query for organisation-owned rows starts from `scoped()`; ids outside it answer 404.
"""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from flask import abort
from flask_login import current_user

from ..extensions import db
from .models import Practice, User, user_practices

M = TypeVar("M")


def practice_filter(user: User) -> sa.ColumnElement[bool] | None:
    """A clause limiting practice ids to the user's, or None when the user sees them all."""
    if user.sees_all_practices:
        return None
    allowed = sa.select(user_practices.c.practice_id).where(user_practices.c.user_id == user.id)
    return Practice.id.in_(allowed)


def scoped(model: type[M], user: User | None = None) -> sa.Select[tuple[M]]:
    """SELECT model rows of the user's organisation (and practices, where the model has one)."""
    user = user or current_user
    stmt = sa.select(model).where(model.organization_id == user.organization_id)
    column_name = getattr(model, "__practice_column__", None)
    if column_name and not user.sees_all_practices:
        allowed = sa.select(user_practices.c.practice_id).where(user_practices.c.user_id == user.id)
        stmt = stmt.where(getattr(model, column_name).in_(allowed))
    return stmt


def get_or_404(model: type[M], ident: Any, user: User | None = None) -> M:
    """The row with this id if the user may see it; otherwise 404 (never 403: no existence leak)."""
    try:
        ident = int(ident)
    except (TypeError, ValueError):
        abort(404)
    row = db.session.scalar(scoped(model, user).where(model.id == ident))
    if row is None:
        abort(404)
    return row


def visible_practices(
    user: User | None = None, *, include_archived: bool = False
) -> list[Practice]:
    """The practices the user may see, by name."""
    stmt = scoped(Practice, user).order_by(Practice.name)
    if not include_archived:
        stmt = stmt.where(Practice.archived_at.is_(None))
    return list(db.session.scalars(stmt))
