"""Campaign services: start, take the figures from the analysis, steps and moves, asks,
submission (freezing the figures), the response, closing (the new schedule version and the next
review date), rounds, activities, leverage. Operations flush; the request commits once.
Every function takes `now` / `today` instead of reading the clock."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from .. import audit
from ..accounts.models import AuditEvent, User
from ..accounts.services import ServiceError
from ..benchmark import engine
from ..benchmark.service import load_analysis
from ..codes import category
from ..extensions import db
from ..fees.models import FeeLine, FeeSchedule, ScheduleKind
from ..money import cents_to_decimal, decimal_to_cents, format_money
from ..payers.models import Contract
from ..reminders import services as reminders
from ..reminders.models import Kind as ReminderKind
from . import rules
from .models import (
    COUNTED_CODES,
    STEPS,
    Activity,
    ActivityKind,
    Attachment,
    Campaign,
    CampaignCode,
    Direction,
    LeverageFact,
    LeverageKind,
    Outcome,
    Round,
    Status,
    Step,
    StepRecord,
)

#: categories DOMAIN.md names as scarce in networks (sedation is marked by the user)
SCARCE_CATEGORIES = ("Endodontics", "Implants", "Oral surgery")
SENT_HOW = ("email", "portal", "mail", "fax", "hand delivery")
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ATTACHMENT_TYPES = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".eml": "message/rfc822",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


class OpenCampaignExists(ServiceError):
    """A second start for a contract that has an open campaign; carries the open one."""

    def __init__(self, campaign: Campaign) -> None:
        super().__init__(
            f"{campaign.contract.network.name} at {campaign.practice.name} already has an open "
            f"campaign (#{campaign.id}); a contract has one open campaign at a time."
        )
        self.campaign = campaign


class ConflictError(ServiceError):
    """Someone saved the campaign after this form was loaded: nothing was saved."""


def new_request_key() -> str:
    """A key for a form that creates a row, so a double submit creates one."""
    return secrets.token_urlsafe(24)


# ---- figures -------------------------------------------------------------------------------


def period_of(campaign: Campaign) -> engine.Period | None:
    if campaign.period_start is None or campaign.period_end is None:
        return None
    return engine.Period(campaign.period_start, campaign.period_end)


def figures(
    campaign: Campaign, rows: Iterable[CampaignCode] | None = None
) -> list[rules.CodeFigures]:
    """The campaign's codes as the rules read them (V exact from the count and the period)."""
    period = period_of(campaign)
    factor = period.annual_factor if period else Fraction(0)
    return [
        rules.CodeFigures(
            code=r.code,
            volume=r.count * factor,
            allowed=cents_to_decimal(r.allowed_cents),
            office=cents_to_decimal(r.office_cents),
            asked=cents_to_decimal(r.asked_cents),
            granted=cents_to_decimal(r.granted_cents),
            is_target=r.is_target,
        )
        for r in (campaign.codes if rows is None else rows)
    ]


def _codes_loaded(campaign: Campaign) -> bool:
    return "codes" not in sa.inspect(campaign).unloaded


def counted_codes(campaign: Campaign) -> list[CampaignCode]:
    """The rows every figure reads, by code: the targets and the codes with an answer. Read
    through their partial index, unless the campaign's rows (hundreds) are loaded already."""
    if _codes_loaded(campaign) or campaign.id is None:
        return [r for r in campaign.codes if r.is_target or r.granted_cents is not None]
    return list(
        db.session.scalars(
            sa.select(CampaignCode)
            .where(CampaignCode.campaign_id == campaign.id, COUNTED_CODES)
            .order_by(CampaignCode.code)
        )
    )


#: non-target codes offered in the "add target codes" list (a baseline has hundreds; any
#: other code can be typed)
SUGGESTED_CODES = 30


def suggested_codes(campaign: Campaign) -> tuple[list[sa.Row], int]:
    """The non-target codes with the most to gain at their suggested ask (count x (suggested
    - allowed); the period's factor is the same for every code), then the most billed; and
    how many non-target codes there are. The campaign is the user's (read scoped): its rows
    are read by campaign id, on that index."""
    room = CampaignCode.suggested_cents - CampaignCode.allowed_cents
    gain = sa.case((room > 0, CampaignCode.count * room), else_=0)
    others = sa.select(CampaignCode).where(
        CampaignCode.campaign_id == campaign.id, CampaignCode.is_target.is_(False)
    )
    rows = db.session.execute(
        others.with_only_columns(
            CampaignCode.code, CampaignCode.allowed_cents, CampaignCode.suggested_cents
        )
        .order_by(gain.desc(), CampaignCode.count.desc(), CampaignCode.code)
        .limit(SUGGESTED_CODES)
    ).all()
    count = db.session.scalar(others.with_only_columns(sa.func.count()))
    return list(rows), count


@dataclass(frozen=True)
class Totals:
    asked_value: Decimal
    weighted_raise: Decimal | None
    realised_gain: Decimal
    targets: int
    outcome: str | None  # derived from the responses so far


def totals(campaign: Campaign, rows: list[rules.CodeFigures] | None = None) -> Totals:
    """The campaign's totals; `rows` when the caller has the figures already (the target
    and answered codes are enough: the other codes add nothing to any total)."""
    rows = figures(campaign, counted_codes(campaign)) if rows is None else rows
    return Totals(
        asked_value=rules.asked_value(rows),
        weighted_raise=rules.weighted_raise(rows),
        realised_gain=rules.realised_gain(rows),
        targets=sum(1 for r in rows if r.is_target),
        outcome=rules.derive_outcome(rows),
    )


def _cents(value: Decimal | None) -> int | None:
    return None if value is None else decimal_to_cents(value)


@dataclass(frozen=True)
class Loaded:
    """The analysis of the campaign's practice on a date, narrowed to its contract."""

    practice: engine.PracticeResult | None
    contract: engine.ContractResult | None
    schedule_id: int | None


def load_contract_analysis(user: User, campaign: Campaign, today: date) -> Loaded:
    analysis = load_analysis(user, [campaign.practice_id], today)
    practice = analysis.group.practices[0] if analysis.group.practices else None
    contract = next(
        (
            c
            for c in (practice.contracts if practice else ())
            if c.contract_id == campaign.contract_id
        ),
        None,
    )
    info = analysis.contracts.get(campaign.contract_id)
    return Loaded(practice, contract, info.schedule_id if info else None)


def take_figures(
    user: User, campaign: Campaign, today: date, now: datetime, loaded: Loaded | None = None
) -> Loaded:
    """(Re)take the baseline and every code's figures from the analysis on `today`: the
    contract's schedule version in effect, the volume period, V, A, U, M and the suggested
    ask. Targets, asks and answers are kept. Refused once the figures are frozen."""
    if campaign.is_frozen:
        raise ServiceError("The figures were frozen when the request was submitted.")
    loaded = loaded or load_contract_analysis(user, campaign, today)
    result = loaded.contract
    campaign.baseline_schedule_id = loaded.schedule_id
    period = loaded.practice.period if loaded.practice else None
    campaign.period_start = period.start if period else None
    campaign.period_end = period.end if period else None
    factor = period.annual_factor if period else None
    existing = {r.code: r for r in campaign.codes}
    seen = set()
    for code in result.codes if result and result.has_schedule else ():
        if code.allowed is None:
            continue  # volume without a listed amount: nothing to negotiate from
        count = code.volume / factor if factor else Fraction(0)
        row = existing.get(code.code)
        if row is None:
            row = CampaignCode(organization_id=campaign.organization_id, code=code.code)
            campaign.codes.append(row)
        row.count = int(count)
        row.allowed_cents = _cents(code.allowed)
        row.office_cents = _cents(code.office)
        row.peer_cents = _cents(engine.round_cents(code.peer) if code.peer is not None else None)
        row.suggested_cents = _cents(code.suggested_ask)
        seen.add(code.code)
    for code, row in existing.items():
        if code not in seen and not row.is_target:
            campaign.codes.remove(row)  # no longer listed; a target code stays, without A
        elif code not in seen:
            row.allowed_cents = None
            row.count = 0
    campaign.figures_taken_at = now
    return loaded


def _leverage_figures(loaded: Loaded) -> tuple[int | None, int]:
    """(the contract's share of the practice's annual allowed in basis points, scarce-category
    procedures a year) from the analysis, for the pre-filled leverage facts."""
    practice, contract = loaded.practice, loaded.contract
    if practice is None or contract is None:
        return None, 0
    share = engine.ratio(contract.annual_allowed, practice.annual_allowed)
    scarce = sum(
        (c.volume for c in contract.codes if category(c.code) in SCARCE_CATEGORIES), Fraction(0)
    )
    share_bp = int((share * 10000).to_integral_value()) if share is not None else None
    return share_bp, int(engine.round_cents(scarce))


# ---- start ---------------------------------------------------------------------------------


def open_campaign_for(contract: Contract) -> Campaign | None:
    return db.session.scalar(
        sa.select(Campaign).where(
            Campaign.contract_id == contract.id, Campaign.status == Status.OPEN
        )
    )


def start_campaign(
    user: User,
    contract: Contract,
    *,
    today: date,
    now: datetime,
    owner: User | None = None,
    with_suggestions: bool = True,
    request_key: str | None = None,
) -> Campaign:
    """Open a campaign for the contract: figures from the analysis, and with suggestions the
    codes of the 80% mark that have a suggested ask as targets, asked at the suggestion."""
    if contract.archived_at is not None:
        raise ServiceError("This contract is archived; restore it to start a campaign.")
    if request_key:
        done = db.session.scalar(sa.select(Campaign).where(Campaign.request_key == request_key))
        if done is not None:
            return done  # the same form posted twice: the campaign it started
    existing = open_campaign_for(contract)
    if existing is not None:
        raise OpenCampaignExists(existing)
    campaign = Campaign(
        organization_id=contract.organization_id,
        practice_id=contract.practice_id,
        contract=contract,
        owner=owner or user,
        step=Step.REQUEST,
        status=Status.OPEN,
        opened_on=today,
        step_entered_at=now,
        request_key=request_key,
        updated_at=now,
        updated_by=user,
    )
    db.session.add(campaign)
    loaded = take_figures(user, campaign, today, now)
    if with_suggestions and loaded.contract is not None:
        marked = {c.code for c in loaded.contract.codes if c.in_80 and c.suggested_ask is not None}
        for row in campaign.codes:
            if row.code in marked and row.suggested_cents is not None:
                row.is_target = True
                row.asked_cents = row.suggested_cents
    share_bp, scarce = _leverage_figures(loaded)
    if share_bp is not None:
        campaign.facts += [
            LeverageFact(
                organization_id=campaign.organization_id,
                kind=LeverageKind.VOLUME,
                statement=(
                    f"This network's plans bring {share_bp / 100:.1f}% of the practice's "
                    "in-network allowed production."
                ),
                source="Fee Campaigns analysis of the practice's code mix",
                value=share_bp,
            ),
            LeverageFact(
                organization_id=campaign.organization_id,
                kind=LeverageKind.SERVICE_MIX,
                statement=(
                    f"The practice performs about {scarce} endodontic, implant and oral-surgery "
                    "procedures a year for these plans."
                ),
                source="Fee Campaigns analysis of the practice's code mix",
                value=scarce,
                # kept for the rating; a letter telling the network the practice does none of
                # these procedures would argue against the request
                in_letter=bool(scarce),
            ),
        ]
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        # another request opened one for this contract between our check and our insert
        raise ServiceError(
            "Another campaign was just opened for this contract; reload the board."
        ) from None
    reminders.resolve(
        contract_id=contract.id, kinds=[ReminderKind.REVIEW], why="a new campaign started", now=now
    )
    audit.record(
        user,
        "campaign.started",
        campaign,
        summary=f"campaign for {contract.network.name} at {contract.practice.name}",
        after={"targets": [r.code for r in campaign.codes if r.is_target]},
    )
    return campaign


# ---- locking and the audit trail -----------------------------------------------------------


def _local(campaign: Campaign, when: datetime | None) -> str:
    if when is None:
        return "just now"
    local = when.astimezone(ZoneInfo(campaign.practice.time_zone or "America/New_York"))
    return local.strftime("%b %-d, %Y %-I:%M %p ") + (local.tzname() or "")


def check_version(campaign: Campaign, posted: int | str | None) -> None:
    """Refuse a save made from a page loaded before someone else's save."""
    try:
        version = int(posted) if posted is not None else None
    except (TypeError, ValueError):
        version = None
    if version != campaign.version:
        who = campaign.updated_by.name if campaign.updated_by else "someone"
        raise ConflictError(
            f"This campaign was changed by {who} at {_local(campaign, campaign.updated_at)} "
            "after you opened it. Reload the page to see the changes; nothing was saved."
        )


def _touch(campaign: Campaign, user: User, now: datetime) -> None:
    campaign.updated_at = now  # an UPDATE of the row, so the version moves on
    campaign.updated_by = user


def _editable(campaign: Campaign) -> None:
    if not campaign.is_open:
        raise ServiceError("This campaign is closed; nothing can be changed.")


# ---- steps ---------------------------------------------------------------------------------


def step_problems(campaign: Campaign, step: Step) -> list[str]:
    """What is missing before `step` counts as complete (empty: complete)."""
    problems = []
    if step == Step.REQUEST:
        if campaign.schedule_received_on is None:
            problems.append("Enter the date the current schedule was received.")
        if campaign.baseline_schedule_id is None:
            problems.append(
                "Import the contract's current fee schedule: the campaign has no baseline."
            )
    elif step == Step.BENCHMARK:
        if campaign.baseline_schedule_id is None:
            problems.append("The campaign has no baseline schedule to benchmark.")
    elif step == Step.BUILD:
        asks = [r for r in counted_codes(campaign) if r.is_target and r.asked_cents is not None]
        if not asks:
            problems.append("Choose at least one target code with an asked amount.")
        for r in asks:
            if r.allowed_cents is not None and r.asked_cents <= r.allowed_cents:
                problems.append(f"The ask for {r.code} is not above its current allowed amount.")
    elif step == Step.SUBMIT:
        problems += step_problems(campaign, Step.BUILD)
        if campaign.submitted_on is None:
            problems.append("Enter the date the request was sent.")
        if not campaign.sent_how:
            problems.append("Enter how the request was sent.")
    elif step == Step.RESPONSE:
        missing = [
            r.code for r in counted_codes(campaign) if r.is_target and r.granted_cents is None
        ]
        if missing:
            problems.append("Record the response for " + ", ".join(missing) + ".")
    return problems


def move(
    user: User,
    campaign: Campaign,
    to: Step,
    *,
    version: int | str | None,
    today: date,
    now: datetime,
) -> None:
    """Move to the next step (the current one must be complete) or back to an earlier one
    (not once the request is submitted: its figures are frozen)."""
    check_version(campaign, version)
    _editable(campaign)
    current = campaign.step
    if to == current:
        return
    if to.index < current.index:
        if campaign.is_frozen:
            raise ServiceError(
                "The request is submitted and its figures are frozen; the campaign cannot "
                "go back to an earlier step."
            )
        before = current
        campaign.step = to
    else:
        if to.index != current.index + 1:
            raise ServiceError(
                f"Complete {current.label} first: a campaign moves one step at a time."
            )
        problems = step_problems(campaign, current)
        if problems:
            raise ServiceError(f"{current.label} is not complete: " + " ".join(problems))
        if current == Step.SUBMIT:
            _freeze(user, campaign, today, now)
        campaign.steps_done.append(
            StepRecord(
                organization_id=campaign.organization_id,
                step=current,
                completed_at=now,
                completed_by_id=user.id,
                evidence=_evidence(campaign, current),
            )
        )
        before = current
        campaign.step = to
    campaign.step_entered_at = now
    _touch(campaign, user, now)
    audit.record(
        user,
        "campaign.moved",
        campaign,
        summary=f"{before.label} -> {to.label}",
        before={"step": before.value},
        after={"step": to.value},
    )


def _evidence(campaign: Campaign, step: Step) -> str:
    if step == Step.REQUEST:
        return f"schedule received {campaign.schedule_received_on.isoformat()}"
    if step == Step.BENCHMARK:
        return f"baseline: schedule version #{campaign.baseline_schedule_id}"
    if step == Step.BUILD:
        return f"{sum(1 for r in counted_codes(campaign) if r.is_target)} target code(s)"
    if step == Step.SUBMIT:
        text = f"sent {campaign.submitted_on.isoformat()} by {campaign.sent_how}"
        letter = request_letter(campaign)
        if letter is not None:
            text += f"; letter: fee increase request v{letter.version}"
        return text
    return ""


def request_letter(campaign: Campaign):
    """The latest generated fee increase letter: the submit step's letter (decisions.md)."""
    from ..letters.context import LetterKind
    from ..letters.models import Letter

    return db.session.scalar(
        sa.select(Letter)
        .where(Letter.campaign_id == campaign.id, Letter.kind == LetterKind.FEE_INCREASE)
        .order_by(Letter.version.desc())
        .limit(1)
    )


def _freeze(user: User, campaign: Campaign, today: date, now: datetime) -> None:
    """Submission: the figures are taken once more and frozen (later imports change nothing);
    the response is due after the first follow-up interval unless a date was set."""
    take_figures(user, campaign, today, now)
    campaign.frozen_at = now
    if campaign.response_due_on is None:
        days = (campaign.practice.follow_up_list or [30])[0]
        campaign.response_due_on = campaign.submitted_on + timedelta(days=days)


# ---- details, asks, targets ----------------------------------------------------------------

DETAIL_FIELDS = (
    "schedule_requested_on",
    "schedule_received_on",
    "submitted_on",
    "sent_how",
    "sent_to",
    "response_due_on",
    "owner_id",
    "notes",
)


def save_details(
    user: User, campaign: Campaign, values: Mapping, *, version, now: datetime
) -> None:
    """Dates, how and to whom the request went, the owner and notes."""
    check_version(campaign, version)
    _editable(campaign)
    requested = values.get("schedule_requested_on", campaign.schedule_requested_on)
    received = values.get("schedule_received_on", campaign.schedule_received_on)
    if requested and received and received < requested:
        raise ServiceError(
            "The schedule cannot be received before it was requested.", "schedule_received_on"
        )
    submitted = values.get("submitted_on", campaign.submitted_on)
    if submitted and submitted < campaign.opened_on:
        raise ServiceError(
            "The request cannot be sent before the campaign was opened "
            f"({campaign.opened_on.isoformat()}).",
            "submitted_on",
        )
    due = values.get("response_due_on", campaign.response_due_on)
    if due and submitted and due < submitted:
        raise ServiceError("The reply-by date is before the date sent.", "response_due_on")
    if campaign.is_frozen and submitted != campaign.submitted_on:
        raise ServiceError(
            "The request is submitted; its sent date is part of the frozen record.",
            "submitted_on",
        )
    how = values.get("sent_how", campaign.sent_how)
    if how and how not in SENT_HOW:
        raise ServiceError("Choose how the request was sent.", "sent_how")
    before = audit.snapshot(campaign)
    old_due = campaign.response_due_on
    for name in DETAIL_FIELDS:
        if name in values:
            setattr(campaign, name, values[name])
    if campaign.schedule_received_on is not None:
        reminders.resolve(
            campaign_id=campaign.id, kinds=[ReminderKind.SCHEDULE], why="schedule received", now=now
        )
    if campaign.responded_on is None and campaign.response_due_on != old_due:
        reminders.resolve(  # a new reply-by date: the reminder for the old one is moot
            campaign_id=campaign.id, kinds=[ReminderKind.DUE], why="reply-by date changed", now=now
        )
    _touch(campaign, user, now)
    after = audit.snapshot(campaign)
    audit.record(
        user,
        "campaign.details",
        campaign,
        summary="details saved",
        before={k: before[k] for k in DETAIL_FIELDS},
        after={k: after[k] for k in DETAIL_FIELDS},
    )


def _row(campaign: Campaign, code: str) -> CampaignCode:
    if _codes_loaded(campaign):
        row = next((r for r in campaign.codes if r.code == code), None)
    else:
        row = db.session.scalar(
            sa.select(CampaignCode).where(
                CampaignCode.campaign_id == campaign.id, CampaignCode.code == code
            )
        )
    if row is None:
        raise ServiceError(f"{code} is not a code of this campaign's baseline schedule.")
    return row


def _unfrozen(campaign: Campaign) -> None:
    _editable(campaign)
    if campaign.is_frozen:
        raise ServiceError(
            "The request is submitted: its target codes and asks are frozen. Record "
            "counteroffers as rounds, and the answer in the response."
        )


def ask_problem(row: CampaignCode, asked: Decimal) -> str | None:
    """Why an ask cannot be kept, or None."""
    cents = decimal_to_cents(asked)
    if row.allowed_cents is not None and cents <= row.allowed_cents:
        return (
            f"The ask for {row.code} must be above its current allowed amount "
            f"({format_money(row.allowed_cents, cents=True)})."
        )
    if row.office_cents is not None and cents > row.office_cents:
        return (
            f"The ask for {row.code} is above the office fee "
            f"({format_money(row.office_cents, cents=True)}): the payer pays at most the "
            "office fee."
        )
    return None


def set_ask(
    user: User,
    campaign: Campaign,
    code: str,
    asked: Decimal | None,
    *,
    was: int | None,
    now: datetime,
) -> CampaignCode:
    """Set (or clear) one target code's asked amount. `was` is the ask the page showed: when
    someone else changed it since, nothing is saved (a compare-and-set per code, so editing
    asks does not invalidate the other forms of the page)."""
    _unfrozen(campaign)
    row = _row(campaign, code)
    cents = _cents(asked)
    if row.asked_cents == cents and row.is_target:
        return row  # already so (a double submit, or the same value typed again)
    if row.asked_cents != was:
        last = db.session.scalar(
            sa.select(AuditEvent)
            .where(
                AuditEvent.object_type == "Campaign",
                AuditEvent.object_id == campaign.id,
                AuditEvent.action == "campaign.ask",
                AuditEvent.summary == f"ask for {code}",
            )
            .order_by(AuditEvent.id.desc())
            .limit(1)
        )
        who = last.user.name if last and last.user else "someone"
        raise ConflictError(
            f"The ask for {code} was changed to {format_money(row.asked_cents, cents=True)} by "
            f"{who} at {_local(campaign, last.at if last else None)} after you opened the page. "
            "Reload to see it; nothing was saved.",
            "asked",
        )
    if asked is not None and (problem := ask_problem(row, asked)):
        raise ServiceError(problem, "asked")
    before = row.asked_cents
    row.asked_cents = cents
    row.is_target = True
    audit.record(
        user,
        "campaign.ask",
        campaign,
        summary=f"ask for {code}",
        before={code: before},
        after={code: row.asked_cents},
    )
    return row


def set_targets(user: User, campaign: Campaign, codes: Iterable[str], on: bool) -> list[str]:
    """Add codes to the targets (asked at the suggestion when there is one) or remove them;
    codes already so are left alone (a double submit changes nothing)."""
    _unfrozen(campaign)
    changed = []
    for code in codes:
        row = _row(campaign, code)
        if row.is_target == on:
            continue
        row.is_target = on
        if on and row.asked_cents is None:
            row.asked_cents = row.suggested_cents
        if not on:
            row.asked_cents = None
        changed.append(code)
    if changed:
        audit.record(
            user,
            "campaign.targets",
            campaign,
            summary=("added " if on else "removed ") + ", ".join(changed),
            after={"codes": changed, "target": on},
        )
    return changed


def refresh_figures(user: User, campaign: Campaign, *, version, today: date, now: datetime):
    check_version(campaign, version)
    _unfrozen(campaign)
    before = campaign.baseline_schedule_id
    take_figures(user, campaign, today, now)
    _touch(campaign, user, now)
    audit.record(
        user,
        "campaign.figures",
        campaign,
        summary="figures taken again from the analysis",
        before={"baseline_schedule_id": before},
        after={"baseline_schedule_id": campaign.baseline_schedule_id},
    )


# ---- the response and closing --------------------------------------------------------------


def save_response(
    user: User,
    campaign: Campaign,
    granted: Mapping[str, Decimal | None],
    *,
    responded_on: date | None,
    version,
    now: datetime,
) -> None:
    """Record the new amount per code (target codes, and any other code the network changed;
    None clears an answer)."""
    check_version(campaign, version)
    _editable(campaign)
    if campaign.step != Step.RESPONSE:
        raise ServiceError("Record the response once the request is submitted.")
    if responded_on is not None and campaign.submitted_on and responded_on < campaign.submitted_on:
        raise ServiceError("The response date is before the request was sent.", "responded_on")
    before, after = {}, {}
    for code, amount in granted.items():
        row = _row(campaign, code)
        cents = _cents(amount)
        if row.granted_cents != cents:
            before[code], after[code] = row.granted_cents, cents
            row.granted_cents = cents
    if responded_on is not None:
        campaign.responded_on = responded_on
        reminders.resolve(
            campaign_id=campaign.id,
            kinds=[ReminderKind.FOLLOW_UP, ReminderKind.DUE],
            why="response recorded",
            now=now,
        )
    _touch(campaign, user, now)
    audit.record(
        user, "campaign.response", campaign, summary="response recorded", before=before, after=after
    )


def add_months(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    month += 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


def next_review(
    closed_on: date, months: int, renewal: date | None, notice_deadline: date | None
) -> date:
    """The practice's interval after closing, or earlier when the contract's renewal or its
    notice deadline comes first (DOMAIN.md)."""
    candidates = [add_months(closed_on, months)]
    candidates += [d for d in (renewal, notice_deadline) if d is not None and d > closed_on]
    return min(candidates)


def close_campaign(
    user: User,
    campaign: Campaign,
    *,
    version,
    today: date,
    now: datetime,
    effective_on: date | None,
    override: Outcome | None = None,
    reason: str = "",
) -> FeeSchedule | None:
    """Close with the derived outcome (or an override with its reason). When any amount
    changed, the new schedule version is a full copy of the baseline with the granted amounts
    applied, effective from the date the network gives. Sets the next review date."""
    check_version(campaign, version)
    _editable(campaign)
    if campaign.step != Step.RESPONSE:
        raise ServiceError("Only a submitted request can be closed with an outcome.")
    problems = step_problems(campaign, Step.RESPONSE)
    if problems:
        raise ServiceError(" ".join(problems))
    derived = Outcome(rules.derive_outcome(figures(campaign)))
    outcome = override or derived
    if outcome == Outcome.WITHDRAWN:
        raise ServiceError("A campaign with a response is closed with yes, partial or no.")
    reason = reason.strip()
    if outcome != derived and not reason:
        raise ServiceError(
            f"The response gives '{derived.value}'; say why the outcome is '{outcome.value}'.",
            "reason",
        )
    changed = [
        r
        for r in campaign.codes
        if r.granted_cents is not None and r.granted_cents != r.allowed_cents
    ]
    schedule = None
    if changed:
        if effective_on is None:
            raise ServiceError(
                "Enter the date from which the network pays the new amounts.", "effective_on"
            )
        schedule = _new_version(user, campaign, effective_on, now)
        campaign.result_schedule_id = schedule.id
        campaign.new_fees_effective_on = effective_on
    campaign.steps_done.append(
        StepRecord(
            organization_id=campaign.organization_id,
            step=Step.RESPONSE,
            completed_at=now,
            completed_by_id=user.id,
            evidence=f"{len(changed)} code(s) changed",
        )
    )
    _close(user, campaign, outcome, reason if outcome != derived else "", today, now)
    return schedule


def withdraw(user: User, campaign: Campaign, *, version, reason: str, today: date, now: datetime):
    """Close without an answer (excluded from win rates)."""
    check_version(campaign, version)
    _editable(campaign)
    _close(user, campaign, Outcome.WITHDRAWN, reason.strip(), today, now)


def _close(
    user: User, campaign: Campaign, outcome: Outcome, reason: str, today: date, now: datetime
) -> None:
    contract = campaign.contract
    campaign.status = Status.CLOSED
    campaign.outcome = outcome
    campaign.override_reason = reason
    campaign.closed_on = today
    campaign.next_review_on = next_review(
        today, campaign.practice.re_review_months, contract.renewal_date, contract.notice_deadline
    )
    reminders.resolve_campaign(campaign.id, now, f"campaign closed: {outcome.value}")
    _touch(campaign, user, now)
    audit.record(
        user,
        "campaign.closed",
        campaign,
        summary=f"closed: {outcome.value}" + (f" ({reason})" if reason else ""),
        after={
            "outcome": outcome.value,
            "next_review_on": campaign.next_review_on.isoformat(),
            "result_schedule_id": campaign.result_schedule_id,
        },
    )


def _new_version(user: User, campaign: Campaign, effective_on: date, now: datetime) -> FeeSchedule:
    baseline = campaign.baseline
    if baseline is None:
        raise ServiceError("The campaign has no baseline schedule to copy.")
    amounts = dict(
        db.session.execute(
            sa.select(FeeLine.code, FeeLine.amount_cents).where(FeeLine.schedule_id == baseline.id)
        ).all()
    )
    for row in campaign.codes:
        if row.granted_cents is not None:
            amounts[row.code] = row.granted_cents
    schedule = FeeSchedule(
        organization_id=campaign.organization_id,
        practice_id=campaign.practice_id,
        kind=ScheduleKind.CONTRACT,
        contract_id=campaign.contract_id,
        label=baseline.label,
        effective_from=effective_on,
        source=f"campaign #{campaign.id} response (copy of version #{baseline.id})",
        created_by_id=user.id,
        created_at=now,
    )
    db.session.add(schedule)
    db.session.flush()
    db.session.execute(
        sa.insert(FeeLine),
        [
            {"schedule_id": schedule.id, "code": code, "amount_cents": cents}
            for code, cents in sorted(amounts.items())
        ],
    )
    return schedule


# ---- rounds, activities, leverage ----------------------------------------------------------


def add_round(
    user: User,
    campaign: Campaign,
    *,
    direction: Direction,
    offered_on: date,
    amounts: Mapping[str, Decimal],
    note: str,
    request_key: str | None,
    now: datetime,
) -> Round:
    _editable(campaign)
    if request_key:
        done = db.session.scalar(sa.select(Round).where(Round.request_key == request_key))
        if done is not None:
            return done
    if not amounts:
        raise ServiceError("Enter at least one amount.")
    for code in amounts:
        _row(campaign, code)
    entry = Round(
        organization_id=campaign.organization_id,
        campaign_id=campaign.id,
        offered_on=offered_on,
        direction=direction,
        note=note.strip(),
        amounts={code: decimal_to_cents(v) for code, v in sorted(amounts.items())},
        created_by_id=user.id,
        request_key=request_key,
    )
    db.session.add(entry)
    _touch(campaign, user, now)
    audit.record(
        user,
        "campaign.round",
        campaign,
        summary=f"{'we asked' if direction == Direction.WE_ASKED else 'they offered'} "
        f"on {offered_on.isoformat()}",
        after=entry.amounts,
    )
    return entry


def round_value(campaign: Campaign, entry: Round) -> Decimal:
    amounts = {code: cents_to_decimal(c) for code, c in entry.amounts.items()}
    return rules.offer_value(figures(campaign), amounts)


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def attachment_problem(upload: Upload) -> str | None:
    name = upload.filename
    suffix = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    if suffix not in ATTACHMENT_TYPES:
        return (
            f"{name}: this type of file cannot be attached; use PDF, Word, Excel, CSV, text, "
            "email (.eml) or an image (PNG, JPEG)."
        )
    if len(upload.data) > MAX_ATTACHMENT_BYTES:
        return f"{name} is larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB."
    if not upload.data:
        return f"{name} is empty."
    return None


def add_activity(
    user: User,
    campaign: Campaign,
    *,
    kind: ActivityKind,
    happened_on: date,
    person: str,
    summary: str,
    uploads: Iterable[Upload] = (),
    request_key: str | None,
    now: datetime,
) -> Activity:
    if request_key:
        done = db.session.scalar(sa.select(Activity).where(Activity.request_key == request_key))
        if done is not None:
            return done
    uploads = list(uploads)
    problems = [p for u in uploads if (p := attachment_problem(u))]
    if problems:
        raise ServiceError(" ".join(problems), "files")
    if not summary.strip() and not uploads:
        raise ServiceError("Write what happened, or attach a file.", "summary")
    entry = Activity(
        organization_id=campaign.organization_id,
        campaign_id=campaign.id,
        kind=kind,
        happened_on=happened_on,
        person=person.strip()[:200],
        summary=summary.strip(),
        created_by_id=user.id,
        request_key=request_key,
    )
    for upload in uploads:
        suffix = "." + upload.filename.rsplit(".", 1)[-1].lower()
        entry.attachments.append(
            Attachment(
                organization_id=campaign.organization_id,
                campaign_id=campaign.id,
                filename=upload.filename[:255],
                content_type=ATTACHMENT_TYPES[suffix],
                size=len(upload.data),
                data=upload.data,
            )
        )
    db.session.add(entry)
    if kind != ActivityKind.NOTE and campaign.submitted_on and happened_on >= campaign.submitted_on:
        # a follow-up contact: the current reminder is done; the next one comes a first
        # interval after this contact (reminders/scan.py)
        reminders.resolve(
            campaign_id=campaign.id,
            kinds=[ReminderKind.FOLLOW_UP],
            why=f"{kind.value} logged",
            now=now,
        )
    _touch(campaign, user, now)
    audit.record(
        user,
        "campaign.activity",
        campaign,
        summary=f"{kind.value} on {happened_on.isoformat()}"
        + (f", {len(uploads)} file(s)" if uploads else ""),
    )
    return entry


def add_fact(
    user: User,
    campaign: Campaign,
    *,
    kind: LeverageKind,
    statement: str,
    source: str,
    value: int | None,
    now: datetime,
) -> LeverageFact:
    _editable(campaign)
    if not statement.strip():
        raise ServiceError("Write the fact as it should read in the letter.", "statement")
    if kind in (LeverageKind.ADEQUACY, LeverageKind.VOLUME, LeverageKind.SERVICE_MIX) and (
        value is not None and value < 0
    ):
        raise ServiceError("The figure cannot be negative.", "value")
    fact = LeverageFact(
        organization_id=campaign.organization_id,
        kind=kind,
        statement=statement.strip(),
        source=source.strip()[:300],
        value=value,
    )
    campaign.facts.append(fact)
    _touch(campaign, user, now)
    audit.record(user, "campaign.leverage", campaign, summary=f"fact added: {kind.value}")
    return fact


def delete_fact(user: User, campaign: Campaign, fact: LeverageFact, *, now: datetime) -> None:
    _editable(campaign)
    audit.record(
        user,
        "campaign.leverage",
        campaign,
        summary=f"fact removed: {fact.kind.value}",
        before={"statement": fact.statement},
    )
    campaign.facts.remove(fact)
    _touch(campaign, user, now)


def leverage_rating(campaign: Campaign, facts: Iterable[LeverageFact]) -> rules.Rating:
    """The rating from the facts kept: the largest share and scarce count, the fewest
    providers nearby, and whether an access route is recorded as better-paying."""
    facts = list(facts)

    def values(kind):
        return [f.value for f in facts if f.kind == kind and f.value is not None]

    practice = campaign.practice
    shares, scarce, providers = (
        values(LeverageKind.VOLUME),
        values(LeverageKind.SERVICE_MIX),
        values(LeverageKind.ADEQUACY),
    )
    routes = [f for f in facts if f.kind == LeverageKind.ACCESS_ROUTE]
    return rules.rate_leverage(
        share_bp=max(shares) if shares else None,
        scarce_per_year=max(scarce) if scarce else None,
        providers_nearby=min(providers) if providers else None,
        better_route=any(f.value for f in routes) if routes else None,
        thresholds=rules.Thresholds(
            practice.leverage_share_bp,
            practice.leverage_scarce_count,
            practice.leverage_max_providers,
            practice.leverage_radius_miles,
        ),
    )


def steps_overview(campaign: Campaign) -> list[dict]:
    """For the checklist: each step with its completion record and what is missing."""
    done = {r.step: r for r in campaign.steps_done}
    rows = []
    for step in STEPS:
        rows.append(
            {
                "step": step,
                "record": done.get(step),
                "current": campaign.is_open and step == campaign.step,
                "problems": step_problems(campaign, step) if campaign.is_open else [],
            }
        )
    return rows
