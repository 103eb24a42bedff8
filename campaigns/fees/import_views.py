"""Import pages: upload, preview with the column mapping, confirm, cancel, history, undo."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import abort, current_app, flash, request, url_for
from flask_login import current_user

from ..accounts.access import EDIT, READ, roles
from ..accounts.models import Practice
from ..accounts.scoping import get_or_404, scoped, visible_practices
from ..accounts.services import ServiceError
from ..extensions import db
from ..modelbase import utcnow
from ..payers.models import Contract, Network
from ..web import redirect_to, render_page
from . import bp
from .imports import (
    DUPLICATE_RULES,
    INLINE_AGGREGATE_BYTES,
    ROLES,
    ImportOptions,
    cancel_import,
    confirm_schedule,
    confirm_volumes,
    count_volumes,
    make_preview,
    match_carriers,
    start_import,
    undo_import,
    undo_references,
)
from .models import ImportBatch, ImportKind, ImportStatus

KIND_LABELS = {
    ImportKind.CONTRACT: "A contract's fee schedule (a network's allowed amounts)",
    ImportKind.OFFICE: "The practice's office fees",
    ImportKind.BENCHMARK: "Benchmark percentiles (each fee column becomes a benchmark)",
    ImportKind.VOLUMES: "Code mix: how often each code was billed to each payer",
}
ROLE_LABELS = {
    "code": "Procedure code",
    "description": "Description",
    "amount": "Amount",
    "count": "Count",
    "carrier": "Carrier / payer",
    "date": "Date of service",
}
PER_PAGE = 30


def _contracts(practice_id: int | None = None) -> list[Contract]:
    stmt = (
        scoped(Contract)
        .join(Network, Network.id == Contract.network_id)
        .where(Contract.archived_at.is_(None))
        .order_by(Network.name)
    )
    if practice_id is not None:
        stmt = stmt.where(Contract.practice_id == practice_id)
    return list(db.session.scalars(stmt))


@bp.route("/imports/new", methods=["GET", "POST"])
@roles(*EDIT)
def import_new():
    errors: dict[str, str] = {}
    if request.method == "POST":
        practice = None
        if request.form.get("practice_id"):
            practice = get_or_404(Practice, request.form["practice_id"])
        else:
            errors["practice_id"] = "Choose the practice."
        try:
            kind = ImportKind(request.form.get("kind", ""))
        except ValueError:
            kind = None
            errors["kind"] = "Choose what the file holds."
        contract = None
        if request.form.get("contract_id"):
            contract = get_or_404(Contract, request.form["contract_id"])
            if practice is not None and contract.practice_id != practice.id:
                errors["contract_id"] = "That contract belongs to another practice."
        upload = request.files.get("file")
        if kind and not errors:
            try:
                batch = start_import(
                    current_user,
                    practice,
                    kind,
                    upload.filename if upload else "",
                    upload.read() if upload else b"",
                    current_app.config["MAX_CONTENT_LENGTH"],
                    utcnow(),
                    contract=contract if kind == ImportKind.CONTRACT else None,
                )
            except ServiceError as exc:
                db.session.rollback()
                errors[exc.field or "file"] = str(exc)
            else:
                if kind == ImportKind.VOLUMES:
                    count_volumes(batch, current_user.id, _inline_limit())
                db.session.commit()
                return redirect_to(url_for("fees.import_preview", batch_id=batch.id))
    return render_page(
        "fees/import_new.html",
        practices=visible_practices(),
        contracts=_contracts(),
        kinds=KIND_LABELS,
        errors=errors,
        form=request.form,
        status=422 if errors else 200,
    )


def _inline_limit() -> int:
    return current_app.config.get("VOLUME_INLINE_BYTES", INLINE_AGGREGATE_BYTES)


def _options_from_form(batch: ImportBatch) -> tuple[ImportOptions, dict[str, str]]:
    """The preview form's choices; problems come back next to their field."""
    options = ImportOptions.from_json(batch.options)
    errors: dict[str, str] = {}
    form = request.form
    mapping = {}
    for role in ROLES:
        raw = form.get(f"col_{role}", "")
        if raw.isdigit():
            mapping[role] = int(raw)
    options.mapping = mapping
    options.amounts = sorted({int(v) for v in form.getlist("col_amounts") if v.isdigit()})
    options.sheet = form.get("sheet") or None
    raw_header = form.get("header_row", "").strip()
    options.header_row = int(raw_header) - 1 if raw_header.isdigit() and int(raw_header) else None
    options.prefix = (form.get("prefix") or "D").strip().upper()[:1] or "D"
    if not options.prefix.isalpha():
        errors["prefix"] = "The prefix is one letter."
        options.prefix = "D"
    options.decimal_comma = {"yes": True, "no": False}.get(form.get("decimal_comma", ""))
    options.duplicates = form.get("duplicates", "first")
    if options.duplicates not in DUPLICATE_RULES:
        errors["duplicates"] = "Choose first, highest or lowest."
        options.duplicates = "first"
    options.label = (form.get("label") or "").strip()[:120]
    raw_date = form.get("effective_from", "")
    try:
        options.effective_from = date.fromisoformat(raw_date) if raw_date else None
    except ValueError:
        errors["effective_from"] = "Enter a date."
    if batch.kind == ImportKind.CONTRACT:
        raw = form.get("contract_id", "")
        options.contract_id = int(raw) if raw.isdigit() else None
    return options, errors


def _batch_contract(batch: ImportBatch, options: ImportOptions) -> Contract | None:
    if batch.kind != ImportKind.CONTRACT or not options.contract_id:
        return None
    contract = get_or_404(Contract, options.contract_id)
    if contract.practice_id != batch.practice_id:
        abort(404)
    return contract


def _volumes_page(
    batch: ImportBatch,
    options: ImportOptions,
    errors: dict[str, str],
    status: int = 200,
    chosen: dict | None = None,
):
    """The code-mix preview: the counts (or the progress of counting), the carriers to match
    to payers, and the period when the file has no dates."""
    from ..jobs.models import Job, JobStatus
    from ..payers.models import Payer

    summary = batch.summary or {}
    aggregate = summary.get("aggregate")
    count_error = summary.get("aggregate_error")
    job = None
    if aggregate is None and summary.get("job_id"):
        job = db.session.get(Job, summary["job_id"])
        if job is not None and job.status == JobStatus.FAILED:
            # say why instead of a progress bar whose poll would redirect here for ever
            count_error = count_error or f"The file could not be counted: {job.message}"
            job = None
    carriers = [c for c, _n in aggregate["carriers"]] if aggregate else []
    suggested = match_carriers(batch.organization_id, carriers) if aggregate else {}
    payers = db.session.scalars(
        scoped(Payer).where(Payer.archived_at.is_(None)).order_by(Payer.name)
    ).all()
    header = aggregate["header"] if aggregate else []
    columns = [(i, name or f"column {i + 1}") for i, name in enumerate(header)]
    undated = bool(aggregate) and any(m is None for _c, _code, m, _n in aggregate["counts"])
    by_code: dict[str, int] = {}
    for _carrier, code, _month, count in (aggregate or {}).get("counts", []):
        by_code[code] = by_code.get(code, 0) + count
    top_codes = sorted(by_code.items(), key=lambda kv: (-kv[1], kv[0]))[:PER_PAGE]
    return render_page(
        "fees/import_preview.html",
        "fees/_import_volumes.html",
        batch=batch,
        options=options,
        aggregate=aggregate,
        job=job,
        carriers=aggregate["carriers"] if aggregate else [],
        suggested=suggested,
        chosen=chosen or {},
        payers=payers,
        columns=columns,
        undated=undated,
        top_codes=top_codes,
        code_count=len(by_code),
        errors=errors,
        role_labels=ROLE_LABELS,
        kind_label=KIND_LABELS[batch.kind],
        count_error=count_error,
        form=request.form,
        status=status,
    )


@bp.route("/imports/<int:batch_id>/progress")
@roles(*READ)
def import_progress(batch_id: int):
    """Polled by the page while the scheduler process counts a large file."""
    from ..jobs.models import Job, JobStatus

    batch = get_or_404(ImportBatch, batch_id)
    job_id = (batch.summary or {}).get("job_id")
    job = db.session.get(Job, job_id) if job_id else None
    if job is None or job.organization_id != batch.organization_id:
        abort(404)
    if job.status in (JobStatus.DONE, JobStatus.FAILED):  # a failure shows on the preview
        return redirect_to(url_for("fees.import_preview", batch_id=batch.id))
    return render_page("fees/_import_progress.html", batch=batch, job=job)


def _preview_page(
    batch: ImportBatch, options: ImportOptions, errors: dict[str, str], status: int = 200
):
    if batch.kind == ImportKind.VOLUMES:
        return _volumes_page(batch, options, errors, status)
    result = make_preview(batch, options) if batch.status == ImportStatus.UPLOADED else None
    columns: list[tuple[int, str]] = []
    if result and result.preview is not None:
        header = result.preview.header
        width = max([len(header)] + [len(r.cells) for r in result.preview.rejected[:50]])
        columns = [
            (i, header[i] if i < len(header) and header[i] else f"column {i + 1}")
            for i in range(width)
        ]
    elif result and result.sample:
        width = max(len(r) for r in result.sample)
        columns = [(i, f"column {i + 1}") for i in range(width)]
    page = max(1, request.args.get("page", 1, type=int))
    return render_page(
        "fees/import_preview.html",
        "fees/_import_preview.html",
        batch=batch,
        options=options,
        result=result,
        errors=errors,
        columns=columns,
        contracts=_contracts(batch.practice_id),
        role_labels=ROLE_LABELS,
        kind_label=KIND_LABELS[batch.kind],
        page=page,
        per_page=PER_PAGE,
        references=undo_references(batch) if batch.status == ImportStatus.CONFIRMED else [],
        status=status,
    )


@bp.route("/imports/<int:batch_id>")
@roles(*READ)
def import_preview(batch_id: int):
    batch = get_or_404(ImportBatch, batch_id)
    return _preview_page(batch, ImportOptions.from_json(batch.options), {})


@bp.route("/imports/<int:batch_id>/preview", methods=["POST"])
@roles(*EDIT)
def import_update(batch_id: int):
    """Re-read the file with the user's mapping and choices (nothing is written)."""
    batch = get_or_404(ImportBatch, batch_id)
    options, errors = _options_from_form(batch)
    _batch_contract(batch, options)
    if batch.status == ImportStatus.UPLOADED:
        batch.options = options.to_json()
        if batch.kind == ImportKind.VOLUMES and not errors:
            if batch.data is None:
                errors["mapping"] = (
                    "The file was deleted once counted (it may hold patient "
                    "columns); upload it again to choose other columns."
                )
            else:
                batch.summary = {}
                count_volumes(batch, current_user.id, _inline_limit())
        db.session.commit()
    return _preview_page(batch, options, errors, status=422 if errors else 200)


@bp.route("/imports/<int:batch_id>/confirm", methods=["POST"])
@roles(*EDIT)
def import_confirm(batch_id: int):
    batch = get_or_404(ImportBatch, batch_id)
    options, errors = _options_from_form(batch)
    contract = _batch_contract(batch, options)
    if batch.kind == ImportKind.VOLUMES:
        return _confirm_volumes(batch, options, errors)
    if not errors:
        try:
            schedules = confirm_schedule(current_user, batch, options, contract, utcnow())
        except ServiceError as exc:
            db.session.rollback()
            batch = get_or_404(ImportBatch, batch_id)
            errors[exc.field or "confirm"] = str(exc)
        else:
            db.session.commit()
            flash(f"Imported {batch.summary['codes']} codes from {batch.filename}.", "success")
            return redirect_to(url_for("fees.schedule", schedule_id=schedules[0].id))
    return _preview_page(batch, options, errors, status=422)


def _confirm_volumes(batch: ImportBatch, options: ImportOptions, errors: dict[str, str]):
    aggregate = (batch.summary or {}).get("aggregate") or {}
    chosen: dict[str | None, int | None] = {}
    for index, (carrier, _count) in enumerate(aggregate.get("carriers", [])):
        raw = request.form.get(f"carrier-{index}", "")
        if raw == "skip":
            chosen[carrier] = None
        elif raw.isdigit():
            chosen[carrier] = int(raw)
    period = None
    start, end = request.form.get("period_start", ""), request.form.get("period_end", "")
    if start or end:
        try:
            period = (date.fromisoformat(start), date.fromisoformat(end))
        except ValueError:
            errors["period"] = "Enter the first and the last day the file covers."
    if not errors:
        try:
            summary = confirm_volumes(current_user, batch, chosen, period, utcnow())
        except ServiceError as exc:
            db.session.rollback()
            batch = get_or_404(ImportBatch, batch.id)
            errors[exc.field or "confirm"] = str(exc)
        else:
            db.session.commit()
            flash(
                f"Imported {summary['procedures']} procedures over {summary['codes']} codes "
                f"from {batch.filename}.",
                "success",
            )
            return redirect_to(url_for("fees.imports"))
    return _volumes_page(
        batch,
        options,
        errors,
        status=422,
        chosen={
            i: request.form.get(f"carrier-{i}", "")
            for i in range(len(aggregate.get("carriers", [])))
        },
    )


@bp.route("/imports/<int:batch_id>/cancel", methods=["POST"])
@roles(*EDIT)
def import_cancel(batch_id: int):
    batch = get_or_404(ImportBatch, batch_id)
    try:
        cancel_import(current_user, batch)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc), "warning")
    else:
        db.session.commit()
        flash(f"The import of {batch.filename} is cancelled; the file is deleted.", "info")
    return redirect_to(url_for("fees.imports"))


@bp.route("/imports/<int:batch_id>/undo", methods=["POST"])
@roles(*EDIT)
def import_undo(batch_id: int):
    batch = get_or_404(ImportBatch, batch_id)
    try:
        undo_import(current_user, batch, utcnow())
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc), "warning")
    else:
        db.session.commit()
        flash(f"The import of {batch.filename} is undone.", "success")
    return redirect_to(url_for("fees.imports"))


@bp.route("/imports")
@roles(*READ)
def imports():
    page = max(1, request.args.get("page", 1, type=int))
    stmt = scoped(ImportBatch).order_by(ImportBatch.created_at.desc(), ImportBatch.id.desc())
    # without the ORDER BY: PostgreSQL refuses ordering a count by a column it does not group
    total = db.session.scalar(stmt.with_only_columns(sa.func.count(ImportBatch.id)).order_by(None))
    rows = db.session.scalars(stmt.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return render_page(
        "fees/imports.html",
        batches=rows,
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        kinds=KIND_LABELS,
    )
