"""Campaign pages: the board, starting a campaign, the campaign page and its actions.

Views parse the form, call a service, commit once and render; a ServiceError is shown as a
message (next to the field where it names one) and nothing is saved."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Response, abort, flash, request, url_for
from flask_login import current_user
from markupsafe import Markup, escape

from ..accounts.access import EDIT, READ, roles
from ..accounts.models import AuditEvent, Practice, User
from ..accounts.scoping import get_or_404, scoped, visible_practices
from ..accounts.services import ServiceError
from ..extensions import db
from ..fees.models import ProcedureCode
from ..modelbase import utcnow
from ..money import cents_to_decimal, parse_money
from ..payers.models import Contract, Network
from ..web import is_htmx, local_path, redirect_to, render_page
from . import bp, rules, services
from .board import board_cards, closed_page
from .models import (
    STEPS,
    ActivityKind,
    Attachment,
    Campaign,
    Direction,
    LeverageFact,
    LeverageKind,
    Outcome,
    Step,
)


def practice_today(practice: Practice) -> date:
    """Today's date where the practice is (dates on campaigns are the practice's dates)."""
    return utcnow().astimezone(ZoneInfo(practice.time_zone or "America/New_York")).date()


def _date(name: str, errors: dict[str, str], *, required: bool = False) -> date | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        if required:
            errors[name] = "Enter a date."
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors[name] = "Enter a date as YYYY-MM-DD."
        return None


def _money(raw: str, errors: dict[str, str], name: str) -> Decimal | None:
    if not raw.strip():
        return None
    try:
        return parse_money(raw)
    except ValueError as exc:
        errors[name] = str(exc)
        return None


def _campaign_owners() -> list[User]:
    """The people who can run a campaign: active owners and managers, by name."""
    return db.session.scalars(
        scoped(User).where(User.active.is_(True), User.role != "viewer").order_by(User.name)
    ).all()


def _campaign(campaign_id: int) -> Campaign:
    return get_or_404(Campaign, campaign_id)


def _back(campaign: Campaign) -> str:
    """Where a plain form goes after its action: `next` when it is one of ours, else the page."""
    return local_path(
        request.form.get("next"), url_for("campaigns.detail", campaign_id=campaign.id)
    )


def _act(campaign: Campaign, action: Callable[[], object], done: str | None) -> Response | None:
    """Run a service; commit and flash `done`, or roll back and flash the refusal. Returns
    the redirect for plain forms (htmx callers render their fragment themselves)."""
    try:
        action()
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect_to(_back(campaign))
    db.session.commit()
    if done:
        flash(done, "success")
    return None


def _save(
    campaign: Campaign,
    errors: dict[str, str],
    action: Callable[[], object],
    done: str | Callable[[object], str],
    *,
    anchor: str,
    field: str,
) -> Response:
    """A campaign page form: unless the fields already failed, run the service; a refusal is
    shown next to its field (or `field`) on the page again (422), nothing saved; success
    commits, flashes `done` (a text, or made from the service's result) and goes back."""
    if not errors:
        try:
            result = action()
        except ServiceError as exc:
            db.session.rollback()
            errors[exc.field or field] = str(exc)
    if errors:
        return _page(_campaign(campaign.id), errors=errors, status=422)
    db.session.commit()
    flash(done(result) if callable(done) else done, "success")
    return redirect_to(url_for("campaigns.detail", campaign_id=campaign.id) + anchor)


# ---- the board -----------------------------------------------------------------------------

CARDS_PER_COLUMN = 20


@bp.route("/")
@roles(*READ)
def board():
    practices = visible_practices()
    practice_id = request.args.get("practice", type=int)
    owner_id = request.args.get("owner", type=int)
    network_id = request.args.get("network", type=int)
    if practice_id is not None:
        get_or_404(Practice, practice_id)
    cards = board_cards(
        current_user,
        practice_id=practice_id,
        owner_id=owner_id,
        network_id=network_id,
        today_for=practice_today,
    )
    columns = [(step, [c for c in cards if c.step == step]) for step in STEPS]
    # a column shows the campaigns longest in their step first, CARDS_PER_COLUMN of them
    # unless the user opens the whole column (?show=<step>)
    shown = request.args.get("show", "")
    owners = _campaign_owners()
    networks = db.session.scalars(
        scoped(Network).where(Network.archived_at.is_(None)).order_by(Network.name)
    ).all()
    page = max(request.args.get("page", 1, type=int), 1)
    closed = closed_page(
        current_user,
        practice_id=practice_id,
        owner_id=owner_id,
        network_id=network_id,
        page=page,
        sort=request.args.get("sort", "-closed"),
    )
    return render_page(
        "campaigns/board.html",
        columns=columns,
        cards=cards,
        shown=shown,
        per_column=CARDS_PER_COLUMN,
        practices=practices,
        owners=owners,
        networks=networks,
        chosen={"practice": practice_id, "owner": owner_id, "network": network_id},
        STEPS=STEPS,
        closed=closed,
    )


# ---- start ---------------------------------------------------------------------------------


def _startable_contracts() -> list[tuple[Contract, str]]:
    rows = db.session.execute(
        scoped(Contract)
        .add_columns(Network.name)
        .join(Network, Network.id == Contract.network_id)
        .join(Practice, Practice.id == Contract.practice_id)
        .where(Contract.archived_at.is_(None), Practice.archived_at.is_(None))
        .order_by(Practice.name, Network.name)
    ).all()
    return [(c, name) for c, name in rows]


@bp.route("/new", methods=["GET", "POST"])
@roles(*EDIT)
def start():
    errors: dict[str, str] = {}
    contract = None
    raw = request.values.get("contract", "")
    if raw:
        contract = get_or_404(Contract, raw)
    open_one = services.open_campaign_for(contract) if contract else None
    owners = _campaign_owners()
    if request.method == "POST":
        owner = None
        if request.form.get("owner"):
            owner = get_or_404(User, request.form["owner"])
        if contract is None:
            errors["contract"] = "Choose the contract to negotiate."
        else:
            try:
                campaign = services.start_campaign(
                    current_user,
                    contract,
                    today=practice_today(contract.practice),
                    now=utcnow(),
                    owner=owner,
                    with_suggestions=request.form.get("suggestions") == "y",
                    request_key=request.form.get("request_key") or None,
                )
            except services.OpenCampaignExists as exc:
                db.session.rollback()
                open_one = exc.campaign
                errors["contract"] = str(exc)
            except ServiceError as exc:
                db.session.rollback()
                errors["contract"] = str(exc)
            else:
                db.session.commit()
                flash(
                    f"Campaign #{campaign.id} is open for {contract.network.name} at "
                    f"{contract.practice.name}.",
                    "success",
                )
                return redirect_to(url_for("campaigns.detail", campaign_id=campaign.id))
    return render_page(
        "campaigns/start.html",
        contracts=_startable_contracts(),
        contract=contract,
        open_one=open_one,
        owners=owners,
        errors=errors,
        request_key=services.new_request_key(),
        status=422 if errors else 200,
    )


# ---- the campaign page ---------------------------------------------------------------------


def _descriptions(codes: list[str]) -> dict[str, str]:
    if not codes:
        return {}
    return dict(
        db.session.execute(
            scoped(ProcedureCode)
            .with_only_columns(ProcedureCode.code, ProcedureCode.description)
            .where(ProcedureCode.code.in_(codes))
        ).all()
    )


def _history(campaign: Campaign) -> list[Campaign]:
    return db.session.scalars(
        scoped(Campaign)
        .where(Campaign.contract_id == campaign.contract_id, Campaign.id != campaign.id)
        .order_by(Campaign.opened_on.desc(), Campaign.id.desc())
    ).all()


def _audit(campaign: Campaign) -> list[AuditEvent]:
    return db.session.scalars(
        scoped(AuditEvent)
        .where(AuditEvent.object_type == "Campaign", AuditEvent.object_id == campaign.id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(200)
    ).all()


def code_context(campaign: Campaign, errors: dict[str, str] | None = None) -> dict:
    """What the target-code table and its totals need (also its htmx fragment). Only the
    rows that count are loaded (targets and answered codes: the totals read nothing else),
    and of the others the few the list offers."""
    counted = services.counted_codes(campaign)
    targets = [r for r in counted if r.is_target]
    figs = services.figures(campaign, counted)
    suggested, other_count = services.suggested_codes(campaign)
    return {
        "campaign": campaign,
        "figs": {f.code: f for f in figs},
        "targets": targets,
        "changed": [r for r in counted if not r.is_target],
        "suggested": suggested,
        "other_count": other_count,
        "totals": services.totals(campaign, figs),
        "descriptions": _descriptions([r.code for r in targets + suggested]),
        "code_errors": errors or {},
        "rules": rules,
    }


def _page(campaign: Campaign, *, errors: dict[str, str] | None = None, status: int = 200):
    context = code_context(campaign, errors)
    rounds = [(r, services.round_value(campaign, r)) for r in campaign.rounds]
    facts = list(campaign.facts)
    return render_page(
        "campaigns/detail.html",
        **context,
        can_edit=campaign.is_open and current_user.role.value != "viewer",
        steps=services.steps_overview(campaign),
        Step=Step,
        STEPS=STEPS,
        rounds=rounds,
        facts=facts,
        rating=services.leverage_rating(campaign, facts),
        history=_history(campaign),
        events=_audit(campaign),
        owners=_campaign_owners(),
        errors=errors or {},
        sent_how=services.SENT_HOW,
        activity_kinds=list(ActivityKind),
        leverage_kinds=list(LeverageKind),
        outcomes=[o for o in Outcome if o != Outcome.WITHDRAWN],
        request_key=services.new_request_key(),
        max_attachment_mb=services.MAX_ATTACHMENT_BYTES // (1024 * 1024),
        today=practice_today(campaign.practice),
        status=status,
    )


@bp.route("/<int:campaign_id>")
@roles(*READ)
def detail(campaign_id: int):
    return _page(_campaign(campaign_id))


@bp.route("/<int:campaign_id>/move", methods=["POST"])
@roles(*EDIT)
def move(campaign_id: int):
    campaign = _campaign(campaign_id)
    try:
        to = Step(request.form.get("to", ""))
    except ValueError:
        abort(400)
    refused = _act(
        campaign,
        lambda: services.move(
            current_user,
            campaign,
            to,
            version=request.form.get("version"),
            today=practice_today(campaign.practice),
            now=utcnow(),
        ),
        f"Campaign #{campaign.id} is now in {to.label}.",
    )
    return refused or redirect_to(_back(campaign))


@bp.route("/<int:campaign_id>/details", methods=["POST"])
@roles(*EDIT)
def details(campaign_id: int):
    campaign = _campaign(campaign_id)
    errors: dict[str, str] = {}
    values: dict = {}
    for name in (
        "schedule_requested_on",
        "schedule_received_on",
        "submitted_on",
        "response_due_on",
    ):
        if name in request.form:
            values[name] = _date(name, errors)
    for name in ("sent_how", "sent_to", "notes"):
        if name in request.form:
            values[name] = request.form[name].strip()[: 300 if name == "sent_to" else 5000]
    if "owner_id" in request.form:
        raw = request.form["owner_id"]
        values["owner_id"] = get_or_404(User, raw).id if raw else None
    return _save(
        campaign,
        errors,
        lambda: services.save_details(
            current_user, campaign, values, version=request.form.get("version"), now=utcnow()
        ),
        "The campaign's details are saved.",
        anchor="#details",
        field="details",
    )


def _codes_fragment(campaign: Campaign, errors: dict[str, str] | None = None, status: int = 200):
    """The target-code table and its totals alone (htmx)."""
    return render_page("campaigns/_codes.html", **code_context(campaign, errors), status=status)


@bp.route("/<int:campaign_id>/codes/<code>/ask", methods=["POST"])
@roles(*EDIT)
def ask(campaign_id: int, code: str):
    campaign = _campaign(campaign_id)
    errors: dict[str, str] = {}
    asked = _money(request.form.get("asked", ""), errors, code)
    was = request.form.get("was", "")
    if not errors:
        try:
            services.set_ask(
                current_user,
                campaign,
                code,
                asked,
                was=int(was) if was.isdigit() else None,
                now=utcnow(),
            )
        except ServiceError as exc:
            db.session.rollback()
            errors[code] = str(exc)
        else:
            db.session.commit()
    if is_htmx():
        campaign = _campaign(campaign_id)
        return _codes_fragment(campaign, errors, 422 if errors else 200)
    for message in errors.values():
        flash(message, "error")
    return redirect_to(url_for("campaigns.detail", campaign_id=campaign_id) + "#codes")


@bp.route("/<int:campaign_id>/targets", methods=["POST"])
@roles(*EDIT)
def targets(campaign_id: int):
    campaign = _campaign(campaign_id)
    on = request.form.get("on") == "1"
    typed = request.form.get("more_codes", "").replace(",", " ").upper().split()
    codes = list(dict.fromkeys(c for c in [*request.form.getlist("codes"), *typed] if c))
    if not codes:
        flash("Choose at least one code.", "error")
        return redirect_to(url_for("campaigns.detail", campaign_id=campaign.id) + "#codes")
    refused = _act(
        campaign,
        lambda: services.set_targets(current_user, campaign, codes, on),
        None,
    )
    if refused:
        return refused
    if is_htmx():
        return _codes_fragment(_campaign(campaign_id))
    return redirect_to(url_for("campaigns.detail", campaign_id=campaign.id) + "#codes")


@bp.route("/<int:campaign_id>/refresh", methods=["POST"])
@roles(*EDIT)
def refresh(campaign_id: int):
    campaign = _campaign(campaign_id)
    refused = _act(
        campaign,
        lambda: services.refresh_figures(
            current_user,
            campaign,
            version=request.form.get("version"),
            today=practice_today(campaign.practice),
            now=utcnow(),
        ),
        "The figures are taken again from the current schedule and code mix.",
    )
    return refused or redirect_to(url_for("campaigns.detail", campaign_id=campaign.id) + "#codes")


# ---- the response --------------------------------------------------------------------------


def _granted_from_form(campaign: Campaign, errors: dict[str, str]) -> dict[str, Decimal | None]:
    """The amounts typed per code, then the one-click choices and the % for a group."""
    by_code = {r.code: r for r in campaign.codes}
    granted: dict[str, Decimal | None] = {}
    for row in campaign.codes:
        name = f"granted-{row.code}"
        if name in request.form:
            granted[row.code] = _money(request.form[name], errors, name)
    quick = request.form.get("quick", "")
    if ":" in quick:
        how, code = quick.split(":", 1)
        row = by_code.get(code)
        if row is None:
            abort(400)
        if how == "asked":
            granted[code] = cents_to_decimal(row.asked_cents)
        elif how == "declined":
            granted[code] = cents_to_decimal(row.allowed_cents)
    pct_raw = request.form.get("pct", "").strip().rstrip("%")
    pct_codes = request.form.getlist("pct_codes")
    if pct_raw and request.form.get("apply_pct"):
        try:
            pct = Decimal(pct_raw)
            if not pct.is_finite() or not -100 < pct <= 100:
                raise ValueError
        except (ValueError, ArithmeticError):
            errors["pct"] = "Enter the raise as a percentage between -100 and 100, e.g. 4.5."
        else:
            if not pct_codes:
                errors["pct"] = "Tick the codes the percentage applies to."
            for code in pct_codes:
                row = by_code.get(code)
                if row is None or row.allowed_cents is None:
                    continue
                base = cents_to_decimal(row.allowed_cents)
                granted[code] = rules.engine.round_cents(base * (1 + pct / 100))
    extra_code = request.form.get("extra_code", "").strip().upper()
    if extra_code:
        if extra_code not in by_code:
            errors["extra_code"] = f"{extra_code} is not in the baseline schedule."
        else:
            granted[extra_code] = _money(
                request.form.get("extra_amount", ""), errors, "extra_amount"
            )
            if granted[extra_code] is None and "extra_amount" not in errors:
                errors["extra_amount"] = "Enter the new amount the network gave for this code."
    return granted


@bp.route("/<int:campaign_id>/response", methods=["POST"])
@roles(*EDIT)
def response(campaign_id: int):
    campaign = _campaign(campaign_id)
    errors: dict[str, str] = {}
    granted = _granted_from_form(campaign, errors)
    responded_on = _date("responded_on", errors)
    return _save(
        campaign,
        errors,
        lambda: services.save_response(
            current_user,
            campaign,
            granted,
            responded_on=responded_on,
            version=request.form.get("version"),
            now=utcnow(),
        ),
        "The response is saved.",
        anchor="#response",
        field="response",
    )


@bp.route("/<int:campaign_id>/close", methods=["POST"])
@roles(*EDIT)
def close(campaign_id: int):
    campaign = _campaign(campaign_id)
    errors: dict[str, str] = {}
    effective_on = _date("effective_on", errors)
    override = None
    if request.form.get("outcome"):
        try:
            override = Outcome(request.form["outcome"])
        except ValueError:
            errors["outcome"] = "Choose an outcome."

    def closed(schedule) -> str:
        message = f"Campaign #{campaign.id} is closed: {campaign.outcome.value}."
        if schedule is not None:
            message += (
                " The granted amounts are a new schedule version from "
                f"{schedule.effective_from.strftime('%b %-d, %Y')}."
            )
        return message

    return _save(
        campaign,
        errors,
        lambda: services.close_campaign(
            current_user,
            campaign,
            version=request.form.get("version"),
            today=practice_today(campaign.practice),
            now=utcnow(),
            effective_on=effective_on,
            override=override,
            reason=request.form.get("reason", ""),
        ),
        closed,
        anchor="",
        field="close",
    )


@bp.route("/<int:campaign_id>/withdraw", methods=["POST"])
@roles(*EDIT)
def withdraw(campaign_id: int):
    campaign = _campaign(campaign_id)
    refused = _act(
        campaign,
        lambda: services.withdraw(
            current_user,
            campaign,
            version=request.form.get("version"),
            reason=request.form.get("reason", ""),
            today=practice_today(campaign.practice),
            now=utcnow(),
        ),
        f"Campaign #{campaign.id} is withdrawn.",
    )
    return refused or redirect_to(url_for("campaigns.detail", campaign_id=campaign.id))


# ---- rounds, activities, attachments, leverage ---------------------------------------------


@bp.route("/<int:campaign_id>/rounds", methods=["POST"])
@roles(*EDIT)
def add_round(campaign_id: int):
    campaign = _campaign(campaign_id)
    errors: dict[str, str] = {}
    offered_on = _date("offered_on", errors, required=True)
    try:
        direction = Direction(request.form.get("direction", ""))
    except ValueError:
        errors["direction"] = "Choose who made this offer."
        direction = None
    amounts = {}
    for row in campaign.codes:
        raw = request.form.get(f"amount-{row.code}", "")
        value = _money(raw, errors, "round_amounts")
        if value is not None:
            amounts[row.code] = value
    return _save(
        campaign,
        errors,
        lambda: services.add_round(
            current_user,
            campaign,
            direction=direction,
            offered_on=offered_on,
            amounts=amounts,
            note=request.form.get("note", ""),
            request_key=request.form.get("request_key") or None,
            now=utcnow(),
        ),
        "The round is recorded.",
        anchor="#rounds",
        field="round_amounts",
    )


@bp.route("/<int:campaign_id>/activities", methods=["POST"])
@roles(*EDIT)
def add_activity(campaign_id: int):
    campaign = _campaign(campaign_id)
    errors: dict[str, str] = {}
    happened_on = _date("happened_on", errors, required=True)
    try:
        kind = ActivityKind(request.form.get("kind", ""))
    except ValueError:
        errors["kind"] = "Choose what kind of contact this was."
        kind = None
    uploads = []
    for f in request.files.getlist("files"):
        if f and f.filename:  # read one byte past the limit, so an oversized file says so
            uploads.append(services.Upload(f.filename, f.read(services.MAX_ATTACHMENT_BYTES + 1)))
        f.close()  # a large upload is a temporary file: close it now, not at collection
    return _save(
        campaign,
        errors,
        lambda: services.add_activity(
            current_user,
            campaign,
            kind=kind,
            happened_on=happened_on,
            person=request.form.get("person", ""),
            summary=request.form.get("summary", ""),
            uploads=uploads,
            request_key=request.form.get("request_key") or None,
            now=utcnow(),
        ),
        "The activity is logged.",
        anchor="#activity",
        field="summary",
    )


@bp.route("/attachments/<int:attachment_id>")
@roles(*READ)
def attachment(attachment_id: int):
    item = get_or_404(Attachment, attachment_id)
    get_or_404(Campaign, item.campaign_id)  # practice access goes through the campaign
    response = Response(item.data, mimetype=item.content_type)
    response.headers["Content-Disposition"] = "attachment; filename*=UTF-8''" + _quote(
        item.filename
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


@bp.route("/<int:campaign_id>/leverage", methods=["POST"])
@roles(*EDIT)
def add_fact(campaign_id: int):
    campaign = _campaign(campaign_id)
    errors: dict[str, str] = {}
    try:
        kind = LeverageKind(request.form.get("kind", ""))
    except ValueError:
        errors["kind"] = "Choose the kind of fact."
        kind = None
    raw = request.form.get("value", "").strip()
    value = None
    if raw:
        if kind == LeverageKind.VOLUME:
            try:
                value = int(Decimal(raw.rstrip("%")) * 100)
            except (ValueError, ArithmeticError):
                errors["value"] = "Enter the share as a percentage, e.g. 18.5."
        elif kind == LeverageKind.ACCESS_ROUTE:
            value = 1 if raw.lower() in ("1", "yes", "y", "true") else 0
        elif raw.isdigit() and len(raw) < 9:
            value = int(raw)
        else:
            errors["value"] = "Enter a whole number."
    return _save(
        campaign,
        errors,
        lambda: services.add_fact(
            current_user,
            campaign,
            kind=kind,
            statement=request.form.get("statement", ""),
            source=request.form.get("source", ""),
            value=value,
            now=utcnow(),
        ),
        "The leverage fact is added.",
        anchor="#leverage",
        field="statement",
    )


@bp.route("/<int:campaign_id>/leverage/<int:fact_id>/delete", methods=["POST"])
@roles(*EDIT)
def delete_fact(campaign_id: int, fact_id: int):
    campaign = _campaign(campaign_id)
    fact = get_or_404(LeverageFact, fact_id)
    if fact.campaign_id != campaign.id:
        abort(404)
    refused = _act(
        campaign,
        lambda: services.delete_fact(current_user, campaign, fact, now=utcnow()),
        "The leverage fact is removed.",
    )
    return refused or redirect_to(
        url_for("campaigns.detail", campaign_id=campaign.id) + "#leverage"
    )


@bp.app_template_global()
def campaign_outcome_badge(outcome: Outcome | str | None) -> Markup:
    """The outcome word as a coloured badge (the board, the campaign page, the analysis)."""
    if outcome is None:
        return Markup("")
    value = outcome.value if isinstance(outcome, Outcome) else str(outcome)
    return Markup('<span class="badge outcome-{0}">{0}</span>').format(escape(value))


@bp.app_template_global()
def contract_campaigns(contract_ids) -> dict[int, dict]:
    """Per contract: the open campaign and the last closed one (for the analysis pages' "last
    review" and "start a campaign"), in one query."""
    ids = list(contract_ids)
    found: dict[int, dict] = {cid: {"open": None, "last": None} for cid in ids}
    if not ids:
        return found
    for campaign in db.session.scalars(
        scoped(Campaign)
        .where(Campaign.contract_id.in_(ids))
        .order_by(Campaign.closed_on.desc().nulls_last(), Campaign.id.desc())
    ):
        slot = found[campaign.contract_id]
        if campaign.is_open:
            slot["open"] = campaign
        elif slot["last"] is None:
            slot["last"] = campaign
    return found
