"""The import flow: upload -> preview -> the user's choices -> confirm in one transaction ->
undo. Nothing is written to schedules or volumes before confirm; the upload waits as a capped
blob that confirm, cancel or a day's age deletes."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from .. import audit
from ..accounts.models import Practice, User
from ..accounts.services import ServiceError
from ..codes import category
from ..extensions import db
from ..payers.models import Contract
from .importers import ColumnsNotFound, ImportPreview, UnreadableFile, detect_format, preview_file
from .models import (
    FeeLine,
    FeeSchedule,
    ImportBatch,
    ImportKind,
    ImportStatus,
    MappingProfile,
    ProcedureCode,
    ScheduleKind,
)

UPLOAD_LIFETIME = timedelta(days=1)
ROLES = ("code", "description", "amount", "count", "carrier", "date")
DUPLICATE_RULES = ("first", "highest", "lowest")


@dataclass
class ImportOptions:
    """What the user chose on the preview page; stored on the batch between requests."""

    mapping: dict[str, int] = field(default_factory=dict)  # role -> column (0-based)
    amounts: list[int] = field(default_factory=list)  # benchmark: every percentile column
    sheet: str | None = None
    header_row: int | None = None  # 0-based
    prefix: str = "D"
    decimal_comma: bool | None = None  # None: detect
    duplicates: str = "first"
    effective_from: date | None = None
    contract_id: int | None = None
    label: str = ""

    def to_json(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["effective_from"] = self.effective_from.isoformat() if self.effective_from else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ImportOptions:
        data = dict(data or {})
        if data.get("effective_from"):
            data["effective_from"] = date.fromisoformat(data["effective_from"])
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def parser_mapping(self) -> dict[str, object] | None:
        """The mapping for the parsers, or None to let them detect the columns."""
        if not self.mapping:
            return None
        mapping: dict[str, object] = dict(self.mapping)
        if self.amounts:
            mapping["amounts"] = list(self.amounts)
        return mapping


@dataclass
class PreviewResult:
    """A preview, or why there is none (with a sample of rows to map columns by hand)."""

    preview: ImportPreview | None
    error: str | None = None
    sample: list[list[str]] = field(default_factory=list)
    profile_applied: bool = False


def start_import(
    user: User,
    practice: Practice,
    kind: ImportKind,
    filename: str,
    data: bytes,
    max_bytes: int,
    now: datetime,
    contract: Contract | None = None,
) -> ImportBatch:
    """Keep an upload for preview; refuse what cannot be a schedule or code-mix file."""
    name = (filename or "").strip().replace("\\", "/").rsplit("/", 1)[-1][:255]
    if not name:
        raise ServiceError("Choose a file to upload.", "file")
    if not data:
        raise ServiceError(f"{name} is empty: it has no rows to import.", "file")
    if len(data) > max_bytes:
        raise ServiceError(
            f"{name} is {len(data) / 1_048_576:.1f} MB; the limit is "
            f"{max_bytes / 1_048_576:.0f} MB.",
            "file",
        )
    try:
        found = detect_format(name, data)
    except UnreadableFile as exc:
        raise ServiceError(str(exc), "file") from None
    if found == "xlsx" and not _has_workbook(data):
        raise ServiceError(
            f"{name} is not an Excel workbook. Upload a CSV, Excel (.xlsx) or PDF file.", "file"
        )
    if kind == ImportKind.CONTRACT and contract is None:
        raise ServiceError("Choose the contract this schedule belongs to.", "contract_id")
    options = ImportOptions(effective_from=now.date())
    if contract is not None:
        options.contract_id = contract.id
        options.label = f"{contract.network.name} fee schedule"
    elif kind == ImportKind.OFFICE:
        options.label = "Office fees"
    batch = ImportBatch(
        organization_id=user.organization_id,
        practice_id=practice.id,
        kind=kind,
        filename=name,
        size=len(data),
        data=data,
        options=options.to_json(),
        created_by_id=user.id,
    )
    db.session.add(batch)
    db.session.flush()
    return batch


def _has_workbook(data: bytes) -> bool:
    """Whether a zip upload has Excel parts; a Word or other Office zip has none. A damaged zip
    counts as a workbook here: the preview says what is wrong with it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return any(name.startswith("xl/") for name in archive.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError):
        return True


def _profile_source(batch: ImportBatch, options: ImportOptions, preview: ImportPreview | None):
    if batch.kind == ImportKind.CONTRACT and options.contract_id:
        return f"contract:{options.contract_id}"
    if preview is not None and preview.header:
        digest = hashlib.sha256("\x1f".join(preview.header).lower().encode()).hexdigest()[:32]
        return f"layout:{batch.kind.value}:{digest}"
    return None


def _parse(batch: ImportBatch, options: ImportOptions) -> ImportPreview:
    return preview_file(
        batch.filename,
        batch.data,
        options.parser_mapping(),
        sheet=options.sheet,
        prefix=options.prefix,
        kind="volumes" if batch.kind == ImportKind.VOLUMES else "schedule",
        header_row=options.header_row,
        decimal_comma=options.decimal_comma,
    )


def make_preview(batch: ImportBatch, options: ImportOptions) -> PreviewResult:
    """Parse the upload with the user's options. Without a mapping, a saved mapping profile of
    the same source (the contract, or a PMS layout with the same header) is applied."""
    if batch.data is None:
        return PreviewResult(None, "This upload is no longer available; upload the file again.")
    not_found: ColumnsNotFound | None = None
    try:
        preview = _parse(batch, options)
    except ColumnsNotFound as exc:
        # a header nobody could recognise is exactly what a contract's saved mapping is for
        preview, not_found = None, exc
    except UnreadableFile as exc:
        return PreviewResult(None, str(exc))
    applied = False
    if not options.mapping:
        source = _profile_source(batch, options, preview)
        profile = source and db.session.scalar(
            sa.select(MappingProfile).where(
                MappingProfile.organization_id == batch.organization_id,
                MappingProfile.source == source,
            )
        )
        saved = profile.settings if profile else None
        if (
            saved
            and saved.get("mapping")
            and (preview is None or saved.get("header") == preview.header)
        ):
            trial = ImportOptions.from_json({**options.to_json(), **saved["options"]})
            try:
                mapped = _parse(batch, trial)
            except UnreadableFile:
                pass  # the saved mapping no longer fits; keep the detected one
            else:
                if mapped.header == saved.get("header"):  # the same layout as last time
                    preview = mapped
                    options.mapping, options.amounts = trial.mapping, trial.amounts
                    options.prefix, options.decimal_comma = trial.prefix, trial.decimal_comma
                    options.duplicates = trial.duplicates
                    applied = True
    if preview is None:  # no saved mapping fits either: the user maps the columns by hand
        sample = [list(row) for row in not_found.sample] if not_found else []
        return PreviewResult(None, str(not_found), sample=sample)
    if not options.mapping:  # show the detected columns as the user's starting point
        options.mapping = {role: index for role, index in preview.columns.items() if role in ROLES}
        if batch.kind == ImportKind.BENCHMARK:
            options.amounts = [index for index, _label in preview.amount_columns]
    options.sheet = preview.sheet or options.sheet
    return PreviewResult(preview, profile_applied=applied)


def _claim(batch: ImportBatch, status: ImportStatus) -> None:
    """Move an uploaded batch on exactly once (a double click or a second tab loses)."""
    result = db.session.execute(
        sa.update(ImportBatch)
        .where(ImportBatch.id == batch.id, ImportBatch.status == ImportStatus.UPLOADED)
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ServiceError("This import was already confirmed or cancelled; nothing changed.")
    db.session.refresh(batch)


def _store_descriptions(organization_id: int, descriptions: dict[str, str], codes) -> int:
    """Add the file's codes to the organisation's code table; fill empty descriptions."""
    existing = {
        pc.code: pc
        for pc in db.session.scalars(
            sa.select(ProcedureCode).where(ProcedureCode.organization_id == organization_id)
        )
    }
    added = 0
    for code in sorted(set(codes) | set(descriptions)):
        text = (descriptions.get(code) or "")[:300]
        row = existing.get(code)
        if row is None:
            db.session.add(
                ProcedureCode(
                    organization_id=organization_id,
                    code=code,
                    description=text,
                    category=category(code),
                )
            )
            added += 1
        elif text and not row.description:
            row.description = text
    return added


def _save_profile(batch: ImportBatch, options: ImportOptions, preview: ImportPreview) -> None:
    source = _profile_source(batch, options, preview)
    if source is None:
        return
    settings = {
        "header": preview.header,
        "mapping": options.mapping,
        "options": {
            "mapping": options.mapping,
            "amounts": options.amounts,
            "prefix": options.prefix,
            "decimal_comma": options.decimal_comma,
            "duplicates": options.duplicates,
        },
    }
    profile = db.session.scalar(
        sa.select(MappingProfile).where(
            MappingProfile.organization_id == batch.organization_id, MappingProfile.source == source
        )
    )
    if profile is None:
        db.session.add(
            MappingProfile(organization_id=batch.organization_id, source=source, settings=settings)
        )
    else:
        profile.settings = settings


def confirm_schedule(
    user: User,
    batch: ImportBatch,
    options: ImportOptions,
    contract: Contract | None,
    now: datetime,
) -> list[FeeSchedule]:
    """Write one new schedule version (or one per benchmark column) in this transaction."""
    if batch.kind == ImportKind.VOLUMES:
        raise ValueError("volumes are confirmed by confirm_volumes")
    if batch.status != ImportStatus.UPLOADED:  # a second click; a race is caught by _claim
        raise ServiceError(f"This import was already {batch.status.value}; nothing changed.")
    if options.duplicates not in DUPLICATE_RULES:
        raise ServiceError("Choose how to treat duplicate codes.", "duplicates")
    if options.effective_from is None:
        raise ServiceError("Enter the date the schedule takes effect.", "effective_from")
    if batch.kind == ImportKind.CONTRACT and contract is None:
        raise ServiceError("Choose the contract this schedule belongs to.", "contract_id")
    result = make_preview(batch, options)
    if result.preview is None:
        raise ServiceError(result.error or "The file cannot be read.")
    preview = result.preview
    _claim(batch, ImportStatus.CONFIRMED)
    if batch.kind == ImportKind.BENCHMARK:
        labels = [label for _index, label in preview.amount_columns] or [None]
        targets = [
            (label, f"{options.label} {label}".strip() if label else options.label or "Benchmark")
            for label in labels
        ]
        kind = ScheduleKind.BENCHMARK
    else:
        default = "Office fees"
        if contract is not None:
            default = f"{contract.network.name} fee schedule"
        targets = [(None, options.label.strip() or default)]
        kind = ScheduleKind(batch.kind.value)
    schedules = []
    all_codes: set[str] = set()
    for column, label in targets:
        amounts = preview.resolve(options.duplicates, column=column)
        if not amounts:
            raise ServiceError("No row has both a code and an amount: check the columns.")
        schedule = FeeSchedule(
            organization_id=batch.organization_id,
            practice_id=batch.practice_id,
            kind=kind,
            contract_id=contract.id if contract is not None else None,
            label=label[:200],
            effective_from=options.effective_from,
            source=f"Import of {batch.filename}"[:300],
            created_by_id=user.id,
            import_batch_id=batch.id,
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
        all_codes |= set(amounts)
        schedules.append(schedule)
    added_codes = _store_descriptions(batch.organization_id, preview.descriptions(), all_codes)
    _save_profile(batch, options, preview)
    batch.options = options.to_json()
    batch.summary = {
        "schedule_ids": [s.id for s in schedules],
        "codes": len(all_codes),
        "rows_read": preview.rows_read,
        "rejected": len(preview.rejected),
        "duplicates": len(preview.duplicates),
        "not_covered": len(preview.not_covered),
        "new_codes": added_codes,
    }
    batch.data = None  # the upload is no longer kept
    batch.confirmed_at = now
    audit.record(
        user,
        "imported",
        batch,
        summary=(
            f"{batch.kind.value} schedule from {batch.filename}: {len(all_codes)} codes, "
            f"effective {options.effective_from.isoformat()}"
        ),
        after=batch.summary,
    )
    return schedules


def cancel_import(user: User, batch: ImportBatch) -> None:
    _claim(batch, ImportStatus.CANCELLED)
    batch.data = None
    audit.record(user, "cancelled", batch, summary=f"import of {batch.filename}")


def undo_references(batch: ImportBatch) -> list[str]:
    """Why a confirmed import cannot be undone (what refers to it); empty when it can:
    a campaign whose baseline (or resulting version) is one of the schedules it wrote."""
    from ..negotiations.models import Campaign

    written = sa.select(FeeSchedule.id).where(FeeSchedule.import_batch_id == batch.id)
    campaign_ids = db.session.scalars(
        sa.select(Campaign.id)
        .where(
            sa.or_(
                Campaign.baseline_schedule_id.in_(written),
                Campaign.result_schedule_id.in_(written),
            )
        )
        .order_by(Campaign.id)
    ).all()
    return [
        f"campaign #{cid} uses a schedule version it wrote as its baseline" for cid in campaign_ids
    ]


def undo_import(user: User, batch: ImportBatch, now: datetime) -> None:
    """Remove what a confirmed import wrote, while nothing refers to it."""
    from .models import CodeVolume

    if batch.status != ImportStatus.CONFIRMED:
        raise ServiceError("Only a confirmed import can be undone.")
    reasons = undo_references(batch)
    if reasons:
        raise ServiceError("This import cannot be undone: " + "; ".join(reasons))
    result = db.session.execute(
        sa.update(ImportBatch)
        .where(ImportBatch.id == batch.id, ImportBatch.status == ImportStatus.CONFIRMED)
        .values(status=ImportStatus.UNDONE)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ServiceError("This import was already undone; nothing changed.")
    schedules = db.session.scalars(
        sa.select(FeeSchedule).where(FeeSchedule.import_batch_id == batch.id)
    ).all()
    for schedule in schedules:
        db.session.delete(schedule)
    volumes = db.session.execute(
        sa.delete(CodeVolume).where(CodeVolume.import_batch_id == batch.id)
    ).rowcount
    db.session.refresh(batch)
    audit.record(
        user,
        "undone",
        batch,
        summary=(
            f"import of {batch.filename}: removed {len(schedules)} schedule version(s) and "
            f"{volumes} volume row(s)"
        ),
    )


def expire_uploads(now: datetime) -> int:
    """Delete uploads that waited more than a day for confirm (run by the scheduler)."""
    stale = db.session.execute(
        sa.update(ImportBatch)
        .where(
            ImportBatch.status == ImportStatus.UPLOADED,
            ImportBatch.created_at < now - UPLOAD_LIFETIME,
        )
        .values(status=ImportStatus.CANCELLED, data=None)
        .execution_options(synchronize_session=False)
    )
    return stale.rowcount


# ---- code volumes --------------------------------------------------------------------------

INLINE_AGGREGATE_BYTES = 2 * 1024 * 1024  # larger files are counted by the scheduler process


def aggregate_batch(batch: ImportBatch, progress=None, keep_file: bool = False) -> dict:
    """Count an uploaded volumes file into batch.summary["aggregate"] (the one aggregation,
    run inline for small files and by the background job for large ones). A procedure-level
    file, where patient columns live, is deleted as soon as it is counted."""
    from .importers.volumes import aggregate_volumes

    if batch.data is None:
        raise UnreadableFile("The uploaded file is no longer there; upload it again.")
    options = ImportOptions.from_json(batch.options)
    aggregate = aggregate_volumes(
        batch.data,
        batch.filename,
        mapping=options.parser_mapping(),
        prefix=options.prefix,
        sheet=options.sheet,
        header_row=options.header_row,
        decimal_comma=options.decimal_comma,
        progress=progress,
    )
    summary = aggregate.as_json()
    if aggregate.per_procedure and not keep_file:
        batch.data = None
        summary["file_deleted"] = True
    batch.summary = {**(batch.summary or {}), "aggregate": summary}
    batch.summary.pop("aggregate_error", None)
    return summary


def count_volumes(batch: ImportBatch, user_id: int | None, inline_limit: int) -> None:
    """Count a volumes upload now when it is small, else queue it for the scheduler process
    (the page polls the job and shows its progress)."""
    from ..jobs.runner import enqueue

    if (batch.size or 0) <= inline_limit:
        try:
            aggregate_batch(batch)
        except UnreadableFile as exc:
            batch.summary = {**(batch.summary or {}), "aggregate_error": str(exc)}
        return
    job = enqueue(batch.organization_id, "aggregate_volumes", {"batch_id": batch.id}, user_id)
    batch.summary = {**(batch.summary or {}), "job_id": job.id}


def match_carriers(organization_id: int, carriers: list[str | None]) -> dict[str | None, int]:
    """Carrier name -> payer id, from the aliases the user confirmed before, else an exact
    (case-insensitive) payer name."""
    from ..payers.models import Payer
    from .models import CarrierAlias

    aliases = dict(
        db.session.execute(
            sa.select(CarrierAlias.name, CarrierAlias.payer_id).where(
                CarrierAlias.organization_id == organization_id
            )
        ).all()
    )
    payers = {
        name.strip().lower(): pid
        for pid, name in db.session.execute(
            sa.select(Payer.id, Payer.name).where(
                Payer.organization_id == organization_id, Payer.archived_at.is_(None)
            )
        ).all()
    }
    found: dict[str | None, int] = {}
    for carrier in carriers:
        key = (carrier or "").strip().lower()
        if key and key in aliases:
            found[carrier] = aliases[key]
        elif key and key in payers:
            found[carrier] = payers[key]
    return found


def _month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def confirm_volumes(
    user: User,
    batch: ImportBatch,
    carrier_payers: dict[str | None, int | None],
    period: tuple[date, date] | None,
    now: datetime,
) -> dict:
    """Write the counted volumes: one row per payer, code and month (or the user's period when
    the file has no dates); a newer import replaces older rows of the same practice and payer
    whose period overlaps (DOMAIN.md). `carrier_payers` maps each carrier to a payer id, or
    None to leave that carrier out; a file without a carrier column uses the key None."""
    from ..payers.models import Payer
    from .models import CarrierAlias, CodeVolume

    if batch.status != ImportStatus.UPLOADED:
        raise ServiceError(f"This import was already {batch.status.value}; nothing changed.")
    data = (batch.summary or {}).get("aggregate")
    if not data:
        raise ServiceError("The file has not been counted yet; wait for the progress bar.")
    valid_payers = set(
        db.session.scalars(
            sa.select(Payer.id).where(Payer.organization_id == batch.organization_id)
        )
    )
    for payer_id in carrier_payers.values():
        if payer_id is not None and payer_id not in valid_payers:
            raise ServiceError("Choose payers of your organisation.", "carriers")
    carriers = [c for c, _n in data["carriers"]]
    unmatched = [c for c in carriers if c not in carrier_payers]
    if unmatched:
        names = ", ".join(repr(c) if c else "(no carrier)" for c in unmatched[:5])
        raise ServiceError(f"Choose a payer, or 'leave out', for: {names}.", "carriers")
    if any(month is None for _c, _code, month, _n in data["counts"]):
        if period is None:
            raise ServiceError("The file has no dates: enter the period it covers.", "period")
        if period[0] > period[1]:
            raise ServiceError("The period ends before it starts.", "period")
    _claim(batch, ImportStatus.CONFIRMED)
    rows: dict[tuple[int, str, date, date], int] = {}
    for carrier, code, month, count in data["counts"]:
        payer_id = carrier_payers.get(carrier)
        if payer_id is None or not count:
            continue
        if month is None:
            start, end = period
        else:
            start = date.fromisoformat(month)
            end = _month_end(start)
        key = (payer_id, code, start, end)
        rows[key] = rows.get(key, 0) + count
    if not rows:
        raise ServiceError("Nothing to import: every carrier is left out or no row counted.")
    replaced = 0
    # The file speaks for every month it covers (or for the user's period): for each payer it
    # maps to, older rows overlapping those months are replaced, also where the payer now has
    # none; months outside the file keep their older rows.
    covered = sorted(
        {(k[2], k[3]) for k in rows}
        | {(date.fromisoformat(m), _month_end(date.fromisoformat(m))) for m in data["months"]}
    )
    mapped = {p for p in carrier_payers.values() if p is not None}
    for payer_id, (start, end) in sorted((p, c) for p in mapped for c in covered):
        replaced += db.session.execute(
            sa.delete(CodeVolume).where(
                CodeVolume.practice_id == batch.practice_id,
                CodeVolume.payer_id == payer_id,
                CodeVolume.period_start <= end,
                CodeVolume.period_end >= start,
            )
        ).rowcount
    db.session.execute(
        sa.insert(CodeVolume),
        [
            {
                "organization_id": batch.organization_id,
                "practice_id": batch.practice_id,
                "payer_id": payer_id,
                "code": code,
                "period_start": start,
                "period_end": end,
                "count": count,
                "import_batch_id": batch.id,
            }
            for (payer_id, code, start, end), count in sorted(rows.items())
        ],
    )
    aliases = {
        a.name: a
        for a in db.session.scalars(
            sa.select(CarrierAlias).where(CarrierAlias.organization_id == batch.organization_id)
        )
    }
    for carrier, payer_id in carrier_payers.items():
        key = (carrier or "").strip().lower()[:200]
        if not key or payer_id is None:
            continue
        if key in aliases:  # also a second spelling in this file ("ALPHA" and "Alpha ")
            aliases[key].payer_id = payer_id
        else:
            aliases[key] = CarrierAlias(
                organization_id=batch.organization_id, name=key, payer_id=payer_id
            )
            db.session.add(aliases[key])
    codes = {k[1] for k in rows}
    new_codes = _store_descriptions(batch.organization_id, data.get("descriptions") or {}, codes)
    batch.summary = {
        **batch.summary,
        "codes": len(codes),
        "rows": len(rows),
        "procedures": sum(rows.values()),
        "replaced": replaced,
        "new_codes": new_codes,
    }
    batch.data = None
    batch.confirmed_at = now
    audit.record(
        user,
        "imported",
        batch,
        summary=(
            f"code volumes from {batch.filename}: {sum(rows.values())} procedures, "
            f"{len(codes)} codes, replaced {replaced} older rows"
        ),
    )
    return batch.summary
