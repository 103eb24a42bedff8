"""Letter pages: templates and their help, generating a campaign's letter, downloads (Word,
PDF), batches. Views parse the form, call a service, commit once and render."""

from __future__ import annotations

from urllib.parse import quote

import sqlalchemy as sa
from flask import Response, abort, current_app, flash, request, url_for
from flask_login import current_user

from ..accounts.access import EDIT, READ, roles
from ..accounts.scoping import get_or_404, scoped
from ..accounts.services import ServiceError
from ..extensions import db
from ..jobs.models import Job
from ..jobs.runner import job_status
from ..modelbase import utcnow
from ..negotiations.models import Campaign, Status
from ..negotiations.views import practice_today
from ..web import redirect_to, render_page
from . import bp, pdf, services
from .context import LetterKind, variables
from .models import Letter, LetterTemplate
from .render import DOCX_MIMETYPE, MAX_TEMPLATE_BYTES, LetterError

KINDS = "<any(schedule_request, fee_increase, follow_up):kind>"


def _timeout() -> float:
    return float(current_app.config.get("LETTER_RENDER_TIMEOUT", services.DEFAULT_TIMEOUT))


def _file(data: bytes, filename: str, mimetype: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = "attachment; filename*=UTF-8''" + quote(
        filename, safe=""
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _kind(raw: str | None, errors: dict[str, str]) -> LetterKind | None:
    try:
        return LetterKind(raw or "")
    except ValueError:
        errors["kind"] = "Choose the kind of letter."
        return None


def _index(errors: dict[str, str] | None = None, status: int = 200):
    templates = db.session.scalars(
        scoped(LetterTemplate).order_by(LetterTemplate.kind, LetterTemplate.version.desc())
    ).all()
    campaigns = db.session.scalars(
        scoped(Campaign).where(Campaign.status == Status.OPEN).order_by(Campaign.id)
    ).all()
    jobs = db.session.scalars(
        scoped(Job).where(Job.kind == "batch_letters").order_by(Job.id.desc()).limit(5)
    ).all()
    return render_page(
        "letters/index.html",
        kinds=list(LetterKind),
        templates={k: [t for t in templates if t.kind == k] for k in LetterKind},
        campaigns=campaigns,
        jobs=jobs,
        errors=errors or {},
        can_edit=current_user.role.value != "viewer",
        max_mb=MAX_TEMPLATE_BYTES // (1024 * 1024),
        status=status,
    )


@bp.route("/")
@roles(*READ)
def index():
    return _index()


@bp.route("/help")
@roles(*READ)
def help_page():
    return render_page("letters/help.html", variables=variables(), kinds=list(LetterKind))


@bp.route(f"/built-in/{KINDS}.docx")
@roles(*READ)
def builtin(kind: str):
    return _file(services.builtin_template(LetterKind(kind)), f"{kind}.docx", DOCX_MIMETYPE)


@bp.route("/templates", methods=["POST"])
@roles(*EDIT)
def upload():
    errors: dict[str, str] = {}
    kind = _kind(request.form.get("kind"), errors)
    upload = request.files.get("file")
    if not upload or not upload.filename:
        errors["file"] = "Choose the Word document (.docx) to upload."
    if errors:
        return _index(errors, 422)
    data = upload.read(MAX_TEMPLATE_BYTES + 1)  # one byte past the limit, so it says so
    upload.close()
    try:
        template = services.upload_template(
            current_user,
            kind,
            upload.filename,
            data,
            make_default=request.form.get("make_default") == "y",
            now=utcnow(),
            timeout=_timeout(),
        )
    except ServiceError as exc:
        db.session.rollback()
        return _index({exc.field or "file": str(exc)}, 422)
    db.session.commit()
    flash(f"{template.label} is stored for the {kind.label.lower()} letter.", "success")
    return redirect_to(url_for("letters.index"))


@bp.route("/templates/<int:template_id>")
@roles(*READ)
def template_download(template_id: int):
    template = get_or_404(LetterTemplate, template_id)
    return _file(template.data, template.filename, DOCX_MIMETYPE)


@bp.route("/defaults", methods=["POST"])
@roles(*EDIT)
def choose_default():
    errors: dict[str, str] = {}
    kind = _kind(request.form.get("kind"), errors)
    if errors:
        return _index(errors, 422)
    raw = request.form.get("template", "")
    template = get_or_404(LetterTemplate, raw) if raw and raw != "builtin" else None
    try:
        services.set_default(current_user, kind, template)
    except ServiceError as exc:
        db.session.rollback()
        return _index({"default": str(exc)}, 422)
    db.session.commit()
    flash(
        f"The {kind.label.lower()} letter now uses "
        f"{template.label if template else 'the built-in template'}.",
        "success",
    )
    return redirect_to(url_for("letters.index"))


# ---- a campaign's letters --------------------------------------------------------------------


@bp.route("/campaigns/<int:campaign_id>", methods=["POST"])
@roles(*EDIT)
def generate(campaign_id: int):
    campaign = get_or_404(Campaign, campaign_id)
    back = url_for("campaigns.detail", campaign_id=campaign.id) + "#letters"
    errors: dict[str, str] = {}
    kind = _kind(request.form.get("kind"), errors)
    if errors:
        flash(errors["kind"], "error")
        return redirect_to(back)
    try:
        letter = services.generate_letter(
            current_user,
            campaign,
            kind,
            today=practice_today(campaign.practice),
            now=utcnow(),
            timeout=_timeout(),
        )
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect_to(back)
    db.session.commit()
    flash(f"{kind.label} letter, version {letter.version}, is ready to download.", "success")
    return redirect_to(back)


@bp.route("/<int:letter_id>.docx")
@roles(*READ)
def download(letter_id: int):
    letter = get_or_404(Letter, letter_id)
    return _file(letter.data, letter.filename, DOCX_MIMETYPE)


@bp.route("/<int:letter_id>.pdf")
@roles(*READ)
def download_pdf(letter_id: int):
    letter = get_or_404(Letter, letter_id)
    if letter.pdf is None:
        try:
            made = pdf.docx_to_pdf(letter.data)
        except LetterError as exc:
            return render_page(
                "letters/pdf_missing.html", message=exc.message, letter=letter, status=503
            )
        # the PDF is kept: a second download costs no conversion
        db.session.execute(sa.update(Letter).where(Letter.id == letter.id).values(pdf=made))
        db.session.commit()
        return _file(made, letter.filename.removesuffix(".docx") + ".pdf", "application/pdf")
    return _file(letter.pdf, letter.filename.removesuffix(".docx") + ".pdf", "application/pdf")


@bp.app_template_global()
def campaign_letters(campaign: Campaign) -> dict:
    """The letters section of the campaign page: its letters, the kinds, whether PDF works."""
    return {
        "letters": services.campaign_letters(campaign),
        "kinds": list(LetterKind),
        "pdf_hint": None if pdf.soffice() else pdf.INSTALL_HINT,
    }


# ---- batches --------------------------------------------------------------------------------


def _campaigns_chosen(raw_ids: list[str]) -> list[Campaign]:
    """The ticked campaigns in the order ticked, read in one query; any id the user may not
    see (or not a number) answers 404, as one campaign's page would."""
    try:
        ids = list(dict.fromkeys(int(i) for i in raw_ids))
    except ValueError:
        abort(404)
    found = {c.id: c for c in db.session.scalars(scoped(Campaign).where(Campaign.id.in_(ids)))}
    if len(found) != len(ids):
        abort(404)
    return [found[i] for i in ids]


@bp.route("/batch", methods=["POST"])
@roles(*EDIT)
def batch():
    errors: dict[str, str] = {}
    kind = _kind(request.form.get("kind"), errors)
    chosen = _campaigns_chosen(request.form.getlist("campaigns"))
    if errors:
        return _index(errors, 422)
    try:
        job = services.enqueue_batch(current_user, chosen, kind)
    except ServiceError as exc:
        db.session.rollback()
        return _index({exc.field or "campaigns": str(exc)}, 422)
    db.session.commit()
    return redirect_to(url_for("letters.batch_status", job_id=job.id))


def _batch_job(job_id: int) -> Job:
    job = get_or_404(Job, job_id)
    if job.kind != "batch_letters":
        abort(404)
    return job


@bp.route("/batch/<int:job_id>")
@roles(*READ)
def batch_status(job_id: int):
    job = _batch_job(job_id)
    return render_page(
        "letters/batch.html", "letters/_batch_progress.html", job=job, status_=job_status(job)
    )


@bp.route("/batch/<int:job_id>/letters.zip")
@roles(*READ)
def batch_download(job_id: int):
    job = _batch_job(job_id)
    ids = [int(i) for i in (job.result or {}).get("letter_ids", [])]
    if not ids:
        abort(404)
    letters = db.session.scalars(scoped(Letter).where(Letter.id.in_(ids)).order_by(Letter.id))
    return _file(services.zip_letters(letters), f"letters-{job.id}.zip", "application/zip")
