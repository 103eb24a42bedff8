"""Recording who changed what: one AuditEvent per change, in the same transaction as the change."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa
from werkzeug.local import LocalProxy

from .accounts.models import AuditEvent, User
from .extensions import db


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def snapshot(obj: Any, exclude: tuple[str, ...] = ("password_hash",)) -> dict[str, Any]:
    """The object's column values as JSON-ready data (no secrets)."""
    mapper = sa.inspect(obj).mapper
    return {
        col.key: _plain(getattr(obj, col.key))
        for col in mapper.column_attrs
        if col.key not in exclude
    }


def record(
    user: User | None,
    action: str,
    obj: Any,
    *,
    summary: str = "",
    before: dict | None = None,
    after: dict | None = None,
    organization_id: int | None = None,
) -> AuditEvent:
    """Add an audit event for `obj`; flushes so the object has an id; the caller commits."""
    if isinstance(obj, LocalProxy):  # e.g. current_user: record the User, not "LocalProxy"
        obj = obj._get_current_object()
    db.session.flush()
    changed_before, changed_after = before, after
    if before is not None and after is not None:
        keys = [k for k in after if before.get(k) != after.get(k)]
        changed_before = {k: before.get(k) for k in keys}
        changed_after = {k: after[k] for k in keys}
    event = AuditEvent(
        organization_id=organization_id or obj.organization_id,
        user_id=user.id if user else None,
        action=action,
        object_type=type(obj).__name__,
        object_id=getattr(obj, "id", None),
        summary=summary[:300],
        before=changed_before,
        after=changed_after,
    )
    db.session.add(event)
    return event
