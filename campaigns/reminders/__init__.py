"""Reminders: reminder rows found by a periodic scan, in-app notifications, the email outbox
and its mailer, the scheduler's jobs and the calendar (.ics) feed."""

from flask import Blueprint

bp = Blueprint("reminders", __name__)

from . import views  # noqa: E402,F401
