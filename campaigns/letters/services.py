"""Letter services: the context of a campaign's letter, rendering (built-in templates in
process, uploaded ones in the limited child), generating and storing a letter with its
activity, template uploads with their validation, the default per kind, batches and zips.
Operations flush; the request (or the job) commits once. Functions take `now` / `today`."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .. import audit
from ..accounts.models import Role, User
from ..accounts.services import ServiceError
from ..extensions import db
from ..fees.models import ProcedureCode
from ..negotiations import services as campaign_services
from ..negotiations.models import Activity, ActivityKind, Campaign
from . import render
from .context import LetterKind, build_letter_context, demo_context, known_names
from .models import Letter, LetterTemplate
from .render import DOCX_MIMETYPE, LetterError

BUILTIN_DIR = Path(__file__).resolve().parent.parent.parent / "templates" / "letters"
BUILTIN_LABEL = "built-in"
DEFAULT_TIMEOUT = 10.0
MAX_BATCH = 200
ROLE_TITLES = {Role.OWNER: "Practice owner", Role.MANAGER: "Billing manager"}


@cache
def builtin_template(kind: LetterKind) -> bytes:
    """The default template of a kind, as shipped (templates/letters/<kind>.docx)."""
    return (BUILTIN_DIR / f"{kind.value}.docx").read_bytes()


def default_template(org_id: int, kind: LetterKind) -> LetterTemplate | None:
    """The organisation's chosen template for a kind; None means the built-in one."""
    return db.session.scalar(
        sa.select(LetterTemplate).where(
            LetterTemplate.organization_id == org_id,
            LetterTemplate.kind == kind,
            LetterTemplate.is_default.is_(True),
        )
    )


# ---- the context ------------------------------------------------------------------------------


def signer_of(user: User | None) -> dict[str, str]:
    if user is None:
        return {"name": "", "title": "", "email": ""}
    return {"name": user.name, "title": ROLE_TITLES.get(user.role, ""), "email": user.email}


def letter_context(
    campaign: Campaign, kind: LetterKind, *, signer: User | None, today: date
) -> dict[str, Any]:
    """Load what the campaign's letter needs and build its context (the pure builder)."""
    codes = [r.code for r in campaign.codes if r.is_target]
    descriptions = (
        dict(
            db.session.execute(
                sa.select(ProcedureCode.code, ProcedureCode.description).where(
                    ProcedureCode.organization_id == campaign.organization_id,
                    ProcedureCode.code.in_(codes),
                )
            ).all()
        )
        if codes
        else {}
    )
    last_request = db.session.scalar(
        sa.select(Letter.created_at)
        .where(Letter.campaign_id == campaign.id, Letter.kind == LetterKind.FEE_INCREASE)
        .order_by(Letter.version.desc())
        .limit(1)
    )
    return build_letter_context(
        campaign,
        kind=kind,
        today=today,
        figures=campaign_services.figures(campaign),
        descriptions=descriptions,
        signer=signer_of(signer),
        request_letter_on=last_request.date() if last_request else None,
    )


# ---- rendering --------------------------------------------------------------------------------


def render_letter(
    kind: LetterKind,
    context: dict[str, Any],
    template: LetterTemplate | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> bytes:
    """The .docx of a letter: a built-in template renders here (ours, trusted code); an
    uploaded one in the child process with memory, CPU and time limits. Raises LetterError."""
    if template is None:
        return render.render_docx(builtin_template(kind), context)
    return render.render_in_child(template.data, context, timeout=timeout)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60] or "letter"


@dataclass
class Prepared:
    """A rendered letter not yet stored (a batch renders all, then writes all)."""

    campaign: Campaign
    kind: LetterKind
    template: LetterTemplate | None
    data: bytes
    network: str


def prepare_letter(
    user: User, campaign: Campaign, kind: LetterKind, *, today: date, timeout: float
) -> Prepared:
    """Render the campaign's letter of `kind` with the organisation's default template."""
    if not campaign.is_open:
        raise ServiceError("This campaign is closed; letters are generated for open ones.")
    template = default_template(campaign.organization_id, kind)
    context = letter_context(campaign, kind, signer=user, today=today)
    try:
        data = render_letter(kind, context, template, timeout=timeout)
    except LetterError as exc:
        raise ServiceError(
            f"The {kind.label.lower()} letter could not be made: {exc.message}"
        ) from None
    return Prepared(campaign, kind, template, data, context["network"]["name"])


def store_letter(user: User, prepared: Prepared, *, today: date, now: datetime) -> Letter:
    """Store a rendered letter as the next version of its kind and log it as a LETTER
    activity (the submit step names the latest fee increase letter as its evidence)."""
    campaign, kind = prepared.campaign, prepared.kind
    version = (
        db.session.scalar(
            sa.select(sa.func.max(Letter.version)).where(
                Letter.campaign_id == campaign.id, Letter.kind == kind
            )
        )
        or 0
    ) + 1
    label = prepared.template.label if prepared.template else BUILTIN_LABEL
    activity = Activity(
        organization_id=campaign.organization_id,
        campaign_id=campaign.id,
        kind=ActivityKind.LETTER,
        happened_on=today,
        person=f"{prepared.network} provider relations"[:200],
        summary=f"{kind.label} letter, version {version}, generated from the {label} template.",
        created_by_id=user.id,
    )
    db.session.add(activity)
    db.session.flush()
    filename = (
        f"{_slug(campaign.practice.name)}_{_slug(prepared.network)}_{kind.value}_v{version}.docx"
    )
    letter = Letter(
        organization_id=campaign.organization_id,
        practice_id=campaign.practice_id,
        campaign_id=campaign.id,
        kind=kind,
        version=version,
        template_id=prepared.template.id if prepared.template else None,
        template_label=label[:300],
        filename=filename,
        size=len(prepared.data),
        data=prepared.data,
        activity_id=activity.id,
        created_by_id=user.id,
        created_at=now,
    )
    db.session.add(letter)
    audit.record(
        user, "campaign.letter", campaign, summary=f"{kind.value} letter v{version} ({label})"
    )
    return letter


def generate_letter(
    user: User,
    campaign: Campaign,
    kind: LetterKind,
    *,
    today: date,
    now: datetime,
    timeout: float = DEFAULT_TIMEOUT,
) -> Letter:
    """Render and store the campaign's letter of `kind` (see prepare_letter, store_letter)."""
    prepared = prepare_letter(user, campaign, kind, today=today, timeout=timeout)
    return store_letter(user, prepared, today=today, now=now)


def campaign_letters(campaign: Campaign) -> list[Letter]:
    return list(
        db.session.scalars(
            sa.select(Letter)
            .where(Letter.campaign_id == campaign.id)
            .order_by(Letter.created_at.desc(), Letter.id.desc())
        )
    )


# ---- uploaded templates ------------------------------------------------------------------------


@dataclass(frozen=True)
class Validated:
    variables: list[str]


def validate_template(data: bytes, kind: LetterKind, *, timeout: float) -> Validated:
    """The checks an upload passes before it is stored, cheapest first: the package (size,
    parts, unpacked size: before anything is parsed), Jinja syntax and forbidden tags, the
    variables against the context, and a trial render with the demo context in the limited
    child process. Raises LetterError with the reason."""
    render.check_package(data)
    source = render.template_source(data)
    demo = demo_context(kind)
    checked = render.check_source(source, known_names(demo))
    if checked.unknown:
        raise LetterError(
            "The template uses variables that do not exist: "
            + ", ".join(checked.unknown)
            + ". The help page lists the ones you can use."
        )
    render.render_in_child(data, demo, timeout=timeout)
    return Validated(sorted(checked.variables))


def upload_template(
    user: User,
    kind: LetterKind,
    filename: str,
    data: bytes,
    *,
    make_default: bool,
    now: datetime,
    timeout: float = DEFAULT_TIMEOUT,
) -> LetterTemplate:
    """Validate and store an uploaded template as the next version of its kind."""
    if not filename.lower().endswith(".docx"):
        raise ServiceError("Upload a Word document (.docx).", "file")
    try:
        checked = validate_template(data, kind, timeout=timeout)
    except LetterError as exc:
        raise ServiceError(f"{filename}: {exc.message}", "file") from None
    version = (
        db.session.scalar(
            sa.select(sa.func.max(LetterTemplate.version)).where(
                LetterTemplate.organization_id == user.organization_id,
                LetterTemplate.kind == kind,
            )
        )
        or 0
    ) + 1
    template = LetterTemplate(
        organization_id=user.organization_id,
        kind=kind,
        version=version,
        filename=filename[-255:],
        size=len(data),
        data=data,
        variables=checked.variables,
        uploaded_by_id=user.id,
        uploaded_at=now,
    )
    db.session.add(template)
    db.session.flush()
    audit.record(user, "letters.template", template, summary=f"{kind.value} v{version} uploaded")
    if make_default:
        set_default(user, kind, template)
    return template


def set_default(user: User, kind: LetterKind, template: LetterTemplate | None) -> None:
    """Make `template` the default of its kind (None: the built-in one)."""
    if template is not None and template.kind != kind:
        raise ServiceError("That template is for another kind of letter.", "template")
    db.session.execute(
        sa.update(LetterTemplate)
        .where(
            LetterTemplate.organization_id == user.organization_id,
            LetterTemplate.kind == kind,
            LetterTemplate.is_default.is_(True),
        )
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )
    db.session.flush()
    if template is not None:
        template.is_default = True
        db.session.flush()
    audit.record(
        user,
        "letters.default",
        user,
        summary=f"{kind.value} default: {template.label if template else BUILTIN_LABEL}",
    )


# ---- batches ------------------------------------------------------------------------------------


def enqueue_batch(user: User, campaigns: Iterable[Campaign], kind: LetterKind):
    """A background job generating `kind` letters for the campaigns (flushed)."""
    from ..jobs.runner import enqueue

    ids = [c.id for c in campaigns]
    if not ids:
        raise ServiceError("Tick at least one campaign.", "campaigns")
    if len(ids) > MAX_BATCH:
        raise ServiceError(f"At most {MAX_BATCH} campaigns at a time.", "campaigns")
    return enqueue(
        user.organization_id, "batch_letters", {"campaign_ids": ids, "kind": kind.value}, user.id
    )


def run_batch(job, ctx) -> dict[str, Any]:
    """The batch job: render every campaign's letter (progress per campaign), then store them
    all; a campaign that cannot have one is listed with the reason, the others go on."""
    from zoneinfo import ZoneInfo

    from ..accounts.scoping import scoped
    from ..jobs.handlers import JobFailed

    user = db.session.get(User, job.created_by_id) if job.created_by_id else None
    if user is None or not user.active or user.organization_id != job.organization_id:
        raise JobFailed("The person who asked for these letters can no longer make them.")
    try:
        kind = LetterKind(job.payload.get("kind"))
    except ValueError:
        raise JobFailed("Unknown kind of letter.") from None
    ids = [int(i) for i in job.payload.get("campaign_ids", [])]
    campaigns = {
        c.id: c for c in db.session.scalars(scoped(Campaign, user).where(Campaign.id.in_(ids)))
    }
    timeout = float(ctx.app.config.get("LETTER_RENDER_TIMEOUT", DEFAULT_TIMEOUT))
    prepared, skipped = [], []
    now = ctx.now()
    for done, campaign_id in enumerate(ids):
        ctx.progress(done, len(ids))
        campaign = campaigns.get(campaign_id)
        if campaign is None:
            skipped.append({"campaign_id": campaign_id, "reason": "not found"})
            continue
        today = now.astimezone(ZoneInfo(campaign.practice.time_zone or "America/New_York")).date()
        try:
            prepared.append(
                (today, prepare_letter(user, campaign, kind, today=today, timeout=timeout))
            )
        except ServiceError as exc:
            skipped.append({"campaign_id": campaign_id, "reason": str(exc)})
    ctx.progress(len(ids), len(ids))
    letters = [store_letter(user, p, today=today, now=now) for today, p in prepared]
    db.session.flush()
    return {"letter_ids": [letter.id for letter in letters], "skipped": skipped, "kind": kind.value}


def zip_letters(letters: Iterable[Letter]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for letter in letters:
            archive.writestr(letter.filename, letter.data)
    return out.getvalue()


__all__ = ["DOCX_MIMETYPE", "LetterError", "LetterKind"]
