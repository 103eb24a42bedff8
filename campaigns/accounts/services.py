"""Sign-in with throttling, users and their roles and practices, practices and their settings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import sqlalchemy as sa
from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from .. import audit
from ..extensions import db
from .models import LoginAttempt, Organization, Practice, Role, User

MIN_PASSWORD_LENGTH = 10


class ServiceError(ValueError):
    """A rule the user broke; the message is shown as it is. `field` names the form field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Throttle:
    max_per_account: int
    max_per_address: int
    window: timedelta


def password_problem(password: str, email: str = "") -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 128:
        return "Use at most 128 characters."
    if email and password.strip().lower() == email.strip().lower():
        return "The password cannot be your email address."
    if len(set(password)) < 4:
        return "The password is too easy to guess; mix more characters."
    return None


def throttled(email: str, address: str, now: datetime, rule: Throttle) -> bool:
    """True when the account or the address has too many recent failures to try again."""
    since = now - rule.window
    failures = sa.select(sa.func.count(LoginAttempt.id)).where(
        LoginAttempt.success.is_(False), LoginAttempt.at >= since
    )
    by_account = db.session.scalar(failures.where(LoginAttempt.email == email))
    if by_account >= rule.max_per_account:
        return True
    by_address = db.session.scalar(failures.where(LoginAttempt.address == address))
    return by_address >= rule.max_per_address


@lru_cache(maxsize=4)
def _dummy_hash_for(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)


def _dummy_hash() -> str:
    return _dummy_hash_for(current_app.config.get("PASSWORD_HASH_METHOD", "scrypt"))


def authenticate(
    email: str, password: str, address: str, now: datetime, rule: Throttle
) -> User | None:
    """The active user with these credentials, recording the attempt; None on any failure.

    Raises ServiceError when throttled, before the password is even checked.
    """
    email = email.strip().lower()
    if throttled(email, address, now, rule):
        minutes = int(rule.window.total_seconds() // 60)
        raise ServiceError(f"Too many failed sign-ins. Wait {minutes} minutes, then try again.")
    user = db.session.scalar(sa.select(User).where(User.email == email))
    if user is None:
        # Spend the same time as a real check, so timing does not tell which emails exist.
        check_password_hash(_dummy_hash(), password)
    ok = bool(user and user.active and user.check_password(password))
    # Keep the table small: attempts older than a day no longer count for anything.
    db.session.execute(
        sa.delete(LoginAttempt).where(LoginAttempt.at < now - max(rule.window, timedelta(days=1)))
    )
    db.session.add(LoginAttempt(email=email, address=address, at=now, success=ok))
    if not ok:
        return None
    user.last_login_at = now
    # A success clears this account's failure count.
    db.session.execute(
        sa.delete(LoginAttempt).where(LoginAttempt.email == email, LoginAttempt.success.is_(False))
    )
    return user


def change_password(user: User, current: str | None, new: str, confirm: str) -> None:
    """Set a new password after checking the current one (skipped for a forced change)."""
    if current is not None and not user.check_password(current):
        raise ServiceError("The current password is not correct.", "current_password")
    if new != confirm:
        raise ServiceError("The two new passwords differ.", "confirm_password")
    problem = password_problem(new, user.email)
    if problem:
        raise ServiceError(problem, "new_password")
    if user.check_password(new):
        raise ServiceError("Choose a password different from the current one.", "new_password")
    user.set_password(new)
    user.must_change_password = False
    audit.record(user, "password_changed", user, summary=f"{user.email} changed the password")


def temporary_password() -> str:
    """A readable one-time password for a new user (must be changed at first sign-in)."""
    return secrets.token_urlsafe(12)


def email_taken(email: str, except_id: int | None = None) -> bool:
    stmt = sa.select(User.id).where(User.email == email.strip().lower())
    if except_id:
        stmt = stmt.where(User.id != except_id)
    return db.session.scalar(stmt) is not None


def create_user(
    actor: User | None,
    organization: Organization,
    *,
    email: str,
    name: str,
    role: Role,
    password: str,
    must_change: bool,
    practices: list[Practice] | None = None,
) -> User:
    """Add a user to the organisation; `practices` None means all practices."""
    email = email.strip().lower()
    if email_taken(email):
        raise ServiceError("A user with this email already exists.", "email")
    user = User(
        organization=organization,
        organization_id=organization.id,
        email=email,
        name=name.strip(),
        role=role,
        active=True,
        must_change_password=must_change,
        all_practices=practices is None or role == Role.OWNER,
        session_version=0,
    )
    user.set_password(password)
    user.practices = [] if user.all_practices else list(practices or [])
    db.session.add(user)
    audit.record(
        actor, "created", user, summary=f"user {email} ({role.value})", after=audit.snapshot(user)
    )
    return user


def active_owner_count(organization_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(User.id)).where(
            User.organization_id == organization_id,
            User.role == Role.OWNER,
            User.active.is_(True),
        )
    )


def update_user(
    actor: User,
    user: User,
    *,
    name: str,
    role: Role,
    active: bool,
    practices: list[Practice] | None,
) -> None:
    """Change a user's role, practice access and active flag; keeps one active owner."""
    was_active_owner = user.role == Role.OWNER and user.active
    stays_active_owner = role == Role.OWNER and active
    if (
        was_active_owner
        and not stays_active_owner
        and active_owner_count(user.organization_id) <= 1
    ):
        raise ServiceError("This is the last active owner: make another user owner first.", "role")
    before = audit.snapshot(user)
    before["practices"] = sorted(p.id for p in user.practices)
    user.name = name.strip()
    user.role = role
    if user.active and not active:
        user.session_version += 1  # ends the user's open sessions
    user.active = active
    user.all_practices = practices is None or role == Role.OWNER
    user.practices = [] if user.all_practices else list(practices or [])
    after = audit.snapshot(user)
    after["practices"] = sorted(p.id for p in user.practices)
    audit.record(actor, "updated", user, summary=f"user {user.email}", before=before, after=after)


def name_taken(model, organization_id: int, name: str, except_id: int | None = None) -> bool:
    """Whether another row of `model` in the organisation has this name (case-insensitive)."""
    stmt = sa.select(model.id).where(
        model.organization_id == organization_id,
        sa.func.lower(model.name) == name.strip().lower(),
    )
    if except_id:
        stmt = stmt.where(model.id != except_id)
    return db.session.scalar(stmt) is not None


PRACTICE_FIELDS = (
    "name",
    "address",
    "phone",
    "time_zone",
    "tin",
    "npi",
    "re_review_months",
    "follow_up_days",
    "min_raise_bp",
    "analysis_period_months",
    "leverage_share_bp",
    "leverage_scarce_count",
    "leverage_max_providers",
    "leverage_radius_miles",
)


def save_practice(actor: User, practice: Practice | None, values: dict) -> Practice:
    """Create (practice None) or update a practice with validated `values`."""
    if name_taken(Practice, actor.organization_id, values["name"], practice and practice.id):
        raise ServiceError("Another practice already has this name.", "name")
    before = audit.snapshot(practice) if practice else None
    if practice is None:
        practice = Practice(organization_id=actor.organization_id)
        db.session.add(practice)
    for key in PRACTICE_FIELDS:
        setattr(practice, key, values[key])
    audit.record(
        actor,
        "updated" if before else "created",
        practice,
        summary=f"practice {practice.name}",
        before=before,
        after=audit.snapshot(practice),
    )
    return practice
