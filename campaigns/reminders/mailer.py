"""Emails: composing a reminder's text and HTML, and the outbox sender (smtplib, settings
from the environment, retries with exponential backoff, failed / uncertain states)."""

from __future__ import annotations

import contextlib
import secrets
import smtplib
import ssl
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import formataddr, parseaddr

import sqlalchemy as sa
from flask import current_app, render_template, url_for

from ..extensions import db
from . import rules
from .models import Kind, OutboxMessage, OutboxStatus, Reminder

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=1)
#: a message still "sending" this long after its claim: its sender died, maybe after the
#: server accepted it; it is shown as uncertain and never resent
SENDING_TIMEOUT = timedelta(minutes=10)
SEND_BATCH = 500
#: messages claimed (and marked sent) together
CLAIM_BATCH = 100


def external_url(endpoint: str, **values) -> str:
    """An absolute link for an email (APP_BASE_URL; no request in the scheduler)."""
    base = current_app.config.get("APP_BASE_URL") or "http://127.0.0.1:5000"
    with current_app.test_request_context("/", base_url=base.rstrip("/")):
        return url_for(endpoint, _external=True, **values)


def smtp_configured() -> bool:
    return bool(current_app.config.get("SMTP_HOST"))


def compose(reminder: Reminder, user, now: datetime) -> tuple[str, str, str]:
    """Subject, plain text and HTML of one reminder's email to `user`."""
    context = {"reminder": reminder, "user": user, "kind": reminder.kind}
    if reminder.kind == Kind.DIGEST:
        from .digest import digest_figures

        figures = digest_figures(user, reminder.due_on)
        context.update(figures=figures, link=external_url("main.dashboard"), tz=figures.time_zone)
        subject = f"Fee Campaigns weekly digest, {reminder.due_on:%b %-d, %Y}"
        why = "you are an owner and the weekly digest is on"
    else:
        practice = reminder.practice
        campaign, contract = reminder.campaign, reminder.contract
        if contract is None and campaign is not None:
            contract = campaign.contract
        network = contract.network.name if contract is not None else ""
        if campaign is not None:
            link = external_url("campaigns.detail", campaign_id=campaign.id)
        else:
            link = external_url("analysis.contract_detail", contract_id=contract.id)
        context.update(
            practice=practice,
            network=network,
            link=link,
            tz=practice.time_zone or rules.DEFAULT_TZ,
            fires=rules.fire_at(reminder.due_on, practice.time_zone),
        )
        subject = f"[{practice.name}] {reminder.kind.label}: {network}"
        why = (
            f"you are {user.role.value} for {practice.name} and email for "
            f"'{reminder.kind.label}' reminders is on"
        )
    context.update(why=why, preferences=external_url("reminders.preferences"))
    text = render_template("reminders/email.txt", **context)
    html = render_template("reminders/email.html", **context)
    return subject[:300], text, html


def mime(message: OutboxMessage) -> bytes:
    """The message as sent: From and Reply-To from the settings, text and HTML parts, a
    Message-ID made from the outbox key (a mail system can spot a duplicate by it)."""
    config = current_app.config
    email = EmailMessage()
    sender = config.get("SMTP_FROM") or "fee-campaigns@localhost"
    email["From"] = formataddr(("Fee Campaigns", sender)) if "<" not in sender else sender
    email["To"] = message.to_address
    email["Subject"] = message.subject
    if config.get("SMTP_REPLY_TO"):
        email["Reply-To"] = config["SMTP_REPLY_TO"]
    email["Message-ID"] = f"<{message.key.replace(':', '.')}@fee-campaigns>"
    email["X-Fee-Campaigns-Outbox"] = message.key
    email.set_content(message.body_text)
    email.add_alternative(message.body_html, subtype="html")
    return email.as_bytes(policy=policy.SMTP)


def envelope_sender() -> str:
    return parseaddr(current_app.config.get("SMTP_FROM") or "fee-campaigns@localhost")[1]


def open_connection() -> smtplib.SMTP:
    config = current_app.config
    host, port, mode = config["SMTP_HOST"], int(config["SMTP_PORT"]), config["SMTP_TLS"]
    if mode == "ssl":
        connection: smtplib.SMTP = smtplib.SMTP_SSL(
            host, port, timeout=20, context=ssl.create_default_context()
        )
    else:
        connection = smtplib.SMTP(host, port, timeout=20)
        if mode == "starttls":
            connection.starttls(context=ssl.create_default_context())
    if config.get("SMTP_USER"):
        connection.login(config["SMTP_USER"], config.get("SMTP_PASSWORD", ""))
    return connection


def mark_uncertain(now: datetime) -> int:
    """Messages left "sending" by a process that died: maybe delivered, so never resent."""
    result = db.session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.claimed_at < now - SENDING_TIMEOUT,
        )
        .values(
            status=OutboxStatus.UNCERTAIN,
            last_error="the sending process stopped after the claim; it may have been sent",
        )
    )
    db.session.commit()
    return result.rowcount


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 ... minutes after each failed attempt, at most an hour."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), MAX_RETRY)


def _permanent(exc: Exception) -> bool:
    """A 5xx answer (unknown recipient, rejected message): retrying cannot help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    code = getattr(exc, "smtp_code", None)
    return (
        isinstance(code, int)
        and code >= 500
        and not isinstance(exc, smtplib.SMTPServerDisconnected)
    )


def _claim_batch(now: datetime, worker: str, size: int, sent: list[int]) -> list[int]:
    """Claim up to `size` due messages with one conditional UPDATE (status queued and
    unclaimed); returns the ids this process got (its own claim token marks them). The
    previous batch's accepted messages are marked sent in the same commit."""
    table = OutboxMessage.__table__
    _sent(sent, now, commit=False)
    due = db.session.scalars(
        sa.select(table.c.id)
        .where(
            table.c.status == OutboxStatus.QUEUED.value,
            table.c.claimed_at.is_(None),
            table.c.next_attempt_at <= now,
        )
        .order_by(table.c.next_attempt_at, table.c.id)  # the index's order: no sort
        .limit(size)
    ).all()
    if not due:
        db.session.commit()
        return []
    token = f"{worker}/{secrets.token_hex(4)}"[-120:]
    db.session.execute(
        sa.update(table)
        .where(
            table.c.id.in_(due),
            table.c.status == OutboxStatus.QUEUED.value,
            table.c.claimed_at.is_(None),
        )
        .values(status=OutboxStatus.SENDING.value, claimed_at=now, claimed_by=token)
    )
    db.session.commit()
    return db.session.scalars(
        sa.select(table.c.id)
        .where(table.c.id.in_(due), table.c.claimed_by == token)
        .order_by(table.c.id)
    ).all()


def _failed(message_id: int, exc: Exception, now: datetime) -> datetime | None:
    """Record a failed attempt; returns when the next one may be made (None: given up)."""
    message = db.session.get(OutboxMessage, message_id)
    message.attempts += 1
    message.last_error = f"{type(exc).__name__}: {exc}"[:500]
    message.claimed_at = None
    message.claimed_by = None
    retry_at = None
    if _permanent(exc) or message.attempts >= MAX_ATTEMPTS:
        message.status = OutboxStatus.FAILED
    else:
        message.status = OutboxStatus.QUEUED
        retry_at = now + backoff(message.attempts)
        message.next_attempt_at = retry_at
    db.session.commit()
    return retry_at


def _sent(ids: list[int], now: datetime, *, commit: bool = True) -> None:
    if ids:
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.SENDING)
            .values(status=OutboxStatus.SENT, sent_at=now, last_error="")
        )
        if commit:
            db.session.commit()


def _unclaim(ids: list[int], until: datetime) -> None:
    """Claimed but not tried (the server went away first): back to the queue, unchanged."""
    if ids:
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == OutboxStatus.SENDING)
            .values(
                status=OutboxStatus.QUEUED, claimed_at=None, claimed_by=None, next_attempt_at=until
            )
        )
        db.session.commit()


def _postpone(until: datetime) -> None:
    """The server is down: every due message waits as long as the one that just failed."""
    db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.QUEUED, OutboxMessage.next_attempt_at < until)
        .values(next_attempt_at=until)
    )
    db.session.commit()


def send_outbox(now: datetime, worker: str, limit: int = SEND_BATCH) -> int:
    """Send what is due in the outbox over one SMTP connection; returns how many were sent.

    Without SMTP settings nothing is sent: the messages wait, shown in the app as not sent.
    Messages are claimed in batches (CLAIM_BATCH) and a batch's accepted ones are marked
    sent together right after it, in the commit that claims the next batch: a process that
    dies in between leaves at most one batch "sending", which becomes "uncertain" (shown,
    never resent). A connection that cannot be
    made (server down) or drops ends the run: the message being sent is retried with
    backoff, the others wait as long; a refusal (4xx: retried later, 5xx: failed at once)
    moves on to the next message."""
    if not smtp_configured():
        return 0
    sent = 0
    connection: smtplib.SMTP | None = None
    sender = envelope_sender()
    table = OutboxMessage.__table__
    answered = (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused)
    accepted: list[int] = []
    try:
        while True:
            size = min(CLAIM_BATCH, limit - sent - len(accepted))
            ids = _claim_batch(now, worker, size, accepted)
            sent += len(accepted)
            accepted = []
            if not ids:
                break
            rows = db.session.execute(
                sa.select(table.c.id, table.c.to_address, table.c.raw)
                .where(table.c.id.in_(ids))
                .order_by(table.c.id)
            ).all()
            for position, (message_id, to, raw) in enumerate(rows):
                try:
                    if connection is None:
                        connection = open_connection()
                    connection.sendmail(sender, [to], raw)
                except (OSError, smtplib.SMTPException) as exc:
                    _sent(accepted, now)
                    sent += len(accepted)
                    accepted = []
                    retry_at = _failed(message_id, exc, now)
                    if isinstance(exc, answered) and not isinstance(
                        exc, smtplib.SMTPServerDisconnected
                    ):
                        continue  # the server answered: the next message may go through
                    later = retry_at or now + FIRST_RETRY
                    _unclaim([r[0] for r in rows[position + 1 :]], later)
                    _postpone(later)
                    connection = None
                    return sent
                accepted.append(message_id)
            if sent + len(accepted) >= limit:
                break
        _sent(accepted, now)
        sent += len(accepted)
    finally:
        if connection is not None:
            # sent messages are recorded; a failed goodbye changes nothing
            with contextlib.suppress(OSError, smtplib.SMTPException):
                connection.quit()
    return sent
