"""Reminder pages: the notifications menu and page (snooze, dismiss), preferences, the
calendar feed (its token, the unauthenticated .ics), a campaign's .ics, owners' views of who
receives what and of the outbox, and a practice's reminder settings."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Response, abort, flash, request, url_for
from flask_login import current_user

from ..accounts.access import OWNER, READ, roles
from ..accounts.models import Practice, Role
from ..accounts.scoping import get_or_404, visible_practices
from ..accounts.services import ServiceError
from ..extensions import db
from ..modelbase import utcnow
from ..negotiations.models import Campaign
from ..templating import local_datetime
from ..web import local_path, redirect_to, render_page
from . import bp, calendar, mailer, services
from .models import KIND_LABELS, Kind, OutboxMessage, OutboxStatus, Reminder

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
EMAIL_STATES = {
    OutboxStatus.QUEUED: "not sent yet",
    OutboxStatus.SENDING: "sending",
    OutboxStatus.SENT: "emailed",
    OutboxStatus.FAILED: "email failed",
    OutboxStatus.UNCERTAIN: "email uncertain (may not have arrived)",
    OutboxStatus.CANCELLED: "email cancelled (already acted on)",
}


@bp.app_context_processor
def _notifications_badge() -> dict:
    def unread() -> int:
        if not current_user.is_authenticated:
            return 0
        return services.unread_count(current_user, utcnow())

    return {"unread_notifications": unread}


def _emails(reminder_ids: list[int]) -> dict[int, OutboxMessage]:
    if not reminder_ids:
        return {}
    rows = db.session.scalars(
        sa.select(OutboxMessage)
        .where(
            OutboxMessage.user_id == current_user.id,
            OutboxMessage.reminder_id.in_(reminder_ids),
        )
        .order_by(OutboxMessage.id)
    )
    return {m.reminder_id: m for m in rows}


def email_state(message: OutboxMessage | None) -> str:
    """What the page says about a notification's email."""
    if message is None:
        return "in the app only"
    if message.status == OutboxStatus.QUEUED and not mailer.smtp_configured():
        return "not sent: no mail server is configured"
    return EMAIL_STATES[message.status]


def _inbox_page(status: int = 200):
    now = utcnow()
    shown, snoozed = services.inbox(current_user, now)
    emails = _emails([n.reminder_id for n in shown + snoozed])
    return render_page(
        "reminders/inbox.html",
        "reminders/_list.html",
        status=status,
        shown=shown,
        snoozed=snoozed,
        emails=emails,
        email_state=email_state,
        now=now,
        today=now.date(),
    )


@bp.route("/notifications")
@roles(*READ)
def inbox():
    return _inbox_page()


@bp.route("/notifications/read", methods=["POST"])
@roles(*READ)
def mark_read():
    services.mark_all_read(current_user, utcnow())
    db.session.commit()
    return redirect_to(url_for("reminders.inbox"))


def _act(reminder_id: int, action) -> Response:
    reminder = get_or_404(Reminder, reminder_id)
    try:
        done = action(reminder)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _inbox_page(status=422)
    db.session.commit()
    flash(done, "success")
    return redirect_to(local_path(request.form.get("next"), url_for("reminders.inbox")))


@bp.route("/reminders/<int:reminder_id>/snooze", methods=["POST"])
@roles(*READ)
def snooze(reminder_id: int):
    how = request.form.get("for", "")
    raw = request.form.get("until", "").strip()
    try:
        until = date.fromisoformat(raw) if raw else None
    except ValueError:
        until = None

    def act(reminder: Reminder) -> str:
        wake = services.snooze(current_user, reminder, how, until=until, now=utcnow())
        tz = reminder.practice.time_zone if reminder.practice else None
        return f"Snoozed until {local_datetime(wake, tz)}."

    return _act(reminder_id, act)


@bp.route("/reminders/<int:reminder_id>/dismiss", methods=["POST"])
@roles(*READ)
def dismiss(reminder_id: int):
    def act(reminder: Reminder) -> str:
        services.dismiss(current_user, reminder, utcnow())
        return "Dismissed."

    return _act(reminder_id, act)


# ---- preferences and the feed -------------------------------------------------------------


def _preferences_page(*, new_token: str | None = None, errors=None, status: int = 200):
    pref = services.preference(current_user)
    db.session.flush()
    practices = visible_practices()
    kinds = [k for k in Kind if k != Kind.DIGEST or current_user.role == Role.OWNER]
    return render_page(
        "reminders/preferences.html",
        status=status,
        pref=pref,
        kinds=kinds,
        practices=practices,
        weekdays=WEEKDAYS,
        errors=errors or {},
        feed_url=url_for("reminders.feed", token=new_token, _external=True) if new_token else None,
    )


@bp.route("/preferences/reminders", methods=["GET", "POST"])
@roles(*READ)
def preferences():
    if request.method != "POST":
        response = _preferences_page()
        db.session.rollback()  # a default row is not saved by looking at the page
        return response
    form = request.form
    chosen = None
    if form.get("practices") == "some":
        try:
            chosen = [int(x) for x in form.getlist("practice_ids")]
        except ValueError:
            chosen = []
    try:
        services.save_preferences(
            current_user,
            email_kinds=form.getlist("email"),
            digest_weekday=form.get("digest_weekday", 0, type=int),
            practice_ids=chosen,
        )
    except ServiceError as exc:
        db.session.rollback()
        return _preferences_page(errors={exc.field or "form": str(exc)}, status=422)
    db.session.commit()
    flash("Reminder preferences saved.", "success")
    return redirect_to(url_for("reminders.preferences"))


@bp.route("/preferences/calendar", methods=["POST"])
@roles(*READ)
def feed_token():
    if request.form.get("action") == "revoke":
        services.revoke_feed_token(current_user)
        db.session.commit()
        flash("Calendar feed turned off: the old address no longer works.", "success")
        return redirect_to(url_for("reminders.preferences"))
    token = services.new_feed_token(current_user, utcnow())
    db.session.commit()
    return _preferences_page(new_token=token)


def _campaign_url(campaign_id: int) -> str:
    return url_for("campaigns.detail", campaign_id=campaign_id, _external=True)


def _contract_url(contract_id: int) -> str:
    return url_for("analysis.contract_detail", contract_id=contract_id, _external=True)


def _ics(body: bytes, filename: str) -> Response:
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/calendar/<token>.ics")
def feed(token: str):
    """The user's calendar, for a calendar program: no session, the secret token instead."""
    user = services.user_for_token(token)
    if user is None:
        abort(404)
    events = calendar.user_events(user, _campaign_url, _contract_url)
    return _ics(calendar.to_ics(events, "Fee Campaigns", utcnow()), "fee-campaigns.ics")


@bp.route("/campaigns/<int:campaign_id>/calendar.ics")
@roles(*READ)
def campaign_ics(campaign_id: int):
    campaign = get_or_404(Campaign, campaign_id)
    body = calendar.campaign_ics(campaign, _campaign_url(campaign.id), utcnow())
    return _ics(body, f"campaign-{campaign.id}.ics")


# ---- owners -------------------------------------------------------------------------------


@bp.route("/reminders/recipients")
@roles(*OWNER)
def recipients():
    return render_page(
        "reminders/recipients.html",
        rows=services.who_receives(current_user),
        kinds=list(Kind),
        weekdays=WEEKDAYS,
    )


@bp.route("/outbox")
@roles(*OWNER)
def outbox():
    return render_page(
        "reminders/outbox.html",
        messages=services.outbox_for(current_user),
        configured=mailer.smtp_configured(),
        states=EMAIL_STATES,
    )


@bp.route("/practices/<int:practice_id>/reminders", methods=["GET", "POST"])
@roles(*OWNER)
def practice_settings(practice_id: int):
    practice = get_or_404(Practice, practice_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {}
        for name in ("schedule_days", "review_lead_days", "contract_lead_days"):
            value = request.form.get(name, type=int)
            if value is None:
                errors[name] = "Enter a whole number of days."
            values[name] = value
        if not errors:
            try:
                services.save_practice_settings(
                    practice, kinds_on=request.form.getlist("kinds"), **values
                )
            except ServiceError as exc:
                db.session.rollback()
                errors[exc.field or "form"] = str(exc)
            else:
                db.session.commit()
                flash(f"Reminder settings of {practice.name} saved.", "success")
                return redirect_to(url_for("reminders.practice_settings", practice_id=practice.id))
    return render_page(
        "reminders/practice_settings.html",
        status=422 if errors else 200,
        practice=practice,
        settings=services.practice_settings(practice),
        kinds=[k for k in Kind if k != Kind.DIGEST],
        labels=KIND_LABELS,
        errors=errors,
    )
