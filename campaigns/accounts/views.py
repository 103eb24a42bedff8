"""Sign-in, sign-out, own password, the owner's users and practices pages."""

from __future__ import annotations

from flask import current_app, flash, request, url_for
from flask_login import current_user, login_user, logout_user

from ..extensions import db
from ..forms_common import bp_to_percent
from ..modelbase import utcnow
from ..web import local_path, redirect_to, render_page
from . import bp
from .access import OWNER, READ, roles
from .forms import LoginForm, PasswordForm, PracticeForm, UserCreateForm, UserEditForm
from .models import Practice, Role, User
from .scoping import get_or_404, scoped, visible_practices
from .services import (
    ServiceError,
    Throttle,
    authenticate,
    change_password,
    create_user,
    save_practice,
    temporary_password,
    update_user,
)


def _throttle() -> Throttle:
    cfg = current_app.config
    return Throttle(
        cfg["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
        cfg["LOGIN_MAX_FAILURES_PER_ADDRESS"],
        cfg["LOGIN_THROTTLE_WINDOW"],
    )


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect_to(local_path(request.args.get("next"), url_for("main.dashboard")))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = authenticate(
                form.email.data,
                form.password.data,
                request.remote_addr or "unknown",
                utcnow(),
                _throttle(),
            )
        except ServiceError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
            return render_page("accounts/login.html", form=form, status=429)
        db.session.commit()
        if user:
            login_user(user, remember=form.remember.data)
            return redirect_to(local_path(request.args.get("next"), url_for("main.dashboard")))
        form.form_errors.append("Email or password is incorrect.")
        status = 401
    elif form.is_submitted():
        status = 422
    return render_page("accounts/login.html", form=form, status=status)


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    flash("You are signed out.", "info")
    return redirect_to(url_for("accounts.login"))


@bp.route("/profile", methods=["GET", "POST"])
@roles(*READ)
def profile():
    form = PasswordForm()
    forced = current_user.must_change_password
    if form.validate_on_submit():
        try:
            change_password(
                current_user,
                None if forced else (form.current_password.data or ""),
                form.new_password.data,
                form.confirm_password.data,
            )
        except ServiceError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(str(exc))
        else:
            db.session.commit()
            login_user(current_user)  # the session carries the new session_version
            flash("Your password is changed.", "success")
            return redirect_to(url_for("main.dashboard"))
    status = 422 if form.is_submitted() else 200
    return render_page("accounts/profile.html", form=form, forced=forced, status=status)


def _practice_choices(form) -> None:
    form.practices.choices = [(p.id, p.name) for p in visible_practices()]


def _chosen_practices(form) -> list[Practice] | None:
    if form.role.data == Role.OWNER.value or form.all_practices.data:
        return None
    return [get_or_404(Practice, pid) for pid in form.practices.data]


@bp.route("/users", methods=["GET", "POST"])
@roles(*OWNER)
def users():
    form = UserCreateForm()
    _practice_choices(form)
    password = None
    created = None
    if form.validate_on_submit():
        password = temporary_password()
        try:
            created = create_user(
                current_user,
                current_user.organization,
                email=form.email.data,
                name=form.name.data,
                role=Role(form.role.data),
                password=password,
                must_change=True,
                practices=_chosen_practices(form),
            )
        except ServiceError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(str(exc))
            password = None
        else:
            db.session.commit()
            form = UserCreateForm(formdata=None)
            _practice_choices(form)
    rows = db.session.scalars(scoped(User).order_by(User.active.desc(), User.name)).all()
    status = 422 if form.errors else 200
    return render_page(
        "accounts/users.html",
        "accounts/_users.html",
        form=form,
        users=rows,
        created=created,
        password=password,
        status=status,
    )


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles(*OWNER)
def user_edit(user_id: int):
    user = get_or_404(User, user_id)
    form = UserEditForm(obj=user)
    _practice_choices(form)
    if request.method == "GET":
        form.role.data = user.role.value
        form.practices.data = [p.id for p in user.practices]
    if form.validate_on_submit():
        try:
            update_user(
                current_user,
                user,
                name=form.name.data,
                role=Role(form.role.data),
                active=form.active.data,
                practices=_chosen_practices(form),
            )
        except ServiceError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"{user.name} is saved.", "success")
            return redirect_to(url_for("accounts.users"))
    status = 422 if form.errors else 200
    return render_page("accounts/user_edit.html", form=form, user=user, status=status)


@bp.route("/practices")
@roles(*READ)
def practices():
    rows = visible_practices(include_archived=True)
    return render_page("accounts/practices.html", practices=rows)


def _practice_form(practice: Practice | None) -> PracticeForm:
    form = PracticeForm(obj=practice)
    if practice is not None and request.method == "GET":
        form.min_raise.data = bp_to_percent(practice.min_raise_bp)
        form.leverage_share.data = bp_to_percent(practice.leverage_share_bp)
        form.follow_up_days.data = ", ".join(str(d) for d in practice.follow_up_list)
    return form


@bp.route("/practices/new", methods=["GET", "POST"])
@bp.route("/practices/<int:practice_id>", methods=["GET", "POST"])
@roles(*OWNER)
def practice_edit(practice_id: int | None = None):
    practice = get_or_404(Practice, practice_id) if practice_id is not None else None
    form = _practice_form(practice)
    if form.validate_on_submit():
        try:
            saved = save_practice(current_user, practice, form.values())
        except ServiceError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"{saved.name} is saved.", "success")
            return redirect_to(url_for("accounts.practices"))
    status = 422 if form.errors else 200
    return render_page("accounts/practice_edit.html", form=form, practice=practice, status=status)


@bp.route("/audit")
@roles(*OWNER)
def audit_log():
    from .models import AuditEvent

    page = max(1, request.args.get("page", 1, type=int))
    per_page = 50
    stmt = scoped(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    rows = db.session.scalars(stmt.limit(per_page + 1).offset((page - 1) * per_page)).all()
    return render_page(
        "accounts/audit.html", events=rows[:per_page], page=page, has_next=len(rows) > per_page
    )


def load_user(user_id: str) -> User | None:
    """Flask-Login: the user of this session while active and the session version matches."""
    try:
        ident, version = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None
    user = db.session.get(User, ident)
    if user is None or not user.active or user.session_version != version:
        return None
    return user
