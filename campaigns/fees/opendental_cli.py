"""`flask import-opendental`: read an Open Dental database, show the preview, confirm."""

from __future__ import annotations

import os
from datetime import date

import click
from flask import Flask
from flask.cli import with_appcontext

from ..accounts.models import Practice
from ..accounts.services import ServiceError
from ..extensions import db
from ..modelbase import utcnow
from .importers.opendental import MAX_MONTHS, OpenDentalData, OpenDentalError, read_opendental
from .opendental_import import Choices, confirm, preview, relevant_carriers, suggest_choices

PASSWORD_VARIABLE = "OPENDENTAL_PASSWORD"  # noqa: S105 - a variable name, not a password


def register(app: Flask) -> None:
    """Add the command to the app's CLI (called from campaigns.cli.init_cli)."""
    app.cli.add_command(import_opendental_command)


def _pairs(values: tuple[str, ...], what: str) -> dict[int, int | None]:
    """('5=12', '6=skip') -> {5: 12, 6: None}."""
    result: dict[int, int | None] = {}
    for value in values:
        left, sep, right = value.partition("=")
        try:
            key = int(left)
            target = None if right.strip().lower() == "skip" else int(right)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(f"'{value}' is not {what}=ID or {what}=skip.")
        result[key] = target
    return result


@click.command("import-opendental")
@click.option(
    "--url",
    required=True,
    help="mysql+pymysql://USER@HOST[:PORT]/DATABASE (no password: it comes from "
    f"{PASSWORD_VARIABLE} or a prompt).",
)
@click.option("--practice", "practice_id", type=int, required=True, help="Practice id.")
@click.option(
    "--months",
    type=click.IntRange(1, MAX_MONTHS),
    default=12,
    show_default=True,
    help="Full calendar months of code mix before this month.",
)
@click.option("--provider", type=int, help="ProvNum whose fee schedule is the office's.")
@click.option("--clinic", type=int, default=0, show_default=True, help="ClinicNum (0: defaults).")
@click.option(
    "--schedule",
    "schedule_maps",
    multiple=True,
    metavar="FEESCHED=CONTRACT_ID|skip",
    help="Override the automatic match of a fee schedule (repeatable).",
)
@click.option(
    "--carrier",
    "carrier_maps",
    multiple=True,
    metavar="CARRIERNUM=PAYER_ID|skip",
    help="Override the automatic match of a carrier (repeatable).",
)
@click.option("--no-office", is_flag=True, help="Do not import the office fee schedule.")
@click.option(
    "--effective-from",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Effective date of the new schedule versions (default: today).",
)
@click.option("--today", type=click.DateTime(["%Y-%m-%d"]), help="The date the period ends before.")
@click.option("--yes", is_flag=True, help="Confirm without asking.")
@with_appcontext
def import_opendental_command(
    url: str,
    practice_id: int,
    months: int,
    provider: int | None,
    clinic: int,
    schedule_maps: tuple[str, ...],
    carrier_maps: tuple[str, ...],
    no_office: bool,
    effective_from,
    today,
    yes: bool,
) -> None:
    """Import fee schedules, office fees and code mix from an Open Dental database.

    Nothing is written to Open Dental: the connection is read-only. The password is never
    stored; it is read from OPENDENTAL_PASSWORD or asked for.
    """
    schedules = _pairs(schedule_maps, "FEESCHED")
    carriers = _pairs(carrier_maps, "CARRIERNUM")
    practice = db.session.get(Practice, practice_id)
    if practice is None:
        raise click.ClickException(f"There is no practice {practice_id}.")
    password = os.environ.get(PASSWORD_VARIABLE)
    if password is None:
        password = click.prompt(
            "Open Dental database password", hide_input=True, default="", show_default=False
        )
    day = today.date() if today else date.today()
    try:
        data = read_opendental(
            url, password, months=months, today=day, office_provider=provider, clinic=clinic
        )
    except OpenDentalError as exc:
        raise click.ClickException(exc.message) from None

    choices = suggest_choices(practice, data)
    _apply(choices, schedules, carriers, no_office, data)
    summary = preview(practice, data, choices)
    for line in summary.lines():
        click.echo(line)
    if not summary.anything:
        raise click.ClickException("Nothing matched: nothing to import.")
    start = effective_from.date() if effective_from else date.today()
    click.echo(f"New schedule versions take effect on {start.isoformat()}.")
    if not yes:
        click.confirm(f"Import this into practice {practice.name}?", abort=True)
    try:
        result = confirm(None, practice, data, choices, start, utcnow())
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    except Exception:
        db.session.rollback()
        raise
    click.echo(result.message())


def _apply(
    choices: Choices,
    schedules: dict[int, int | None],
    carriers: dict[int, int | None],
    no_office: bool,
    data: OpenDentalData,
) -> None:
    """The user's overrides win over the automatic matches."""
    known_scheds = {s.fee_sched for s in data.schedules}
    for sched, contract_id in schedules.items():
        if sched not in known_scheds:
            raise click.ClickException(f"FeeSched {sched} is not a PPO fee schedule in use.")
        choices.schedules[sched] = contract_id
        choices.notes[f"feesched:{sched}"] = "skipped as asked"
    shown = set(relevant_carriers(data))
    for carrier_num, payer_id in carriers.items():
        if carrier_num not in shown:
            raise click.ClickException(
                f"Carrier {carrier_num} has no PPO fee schedule in use and no code mix in the "
                "period: there is nothing to import for it."
            )
        choices.carriers[carrier_num] = payer_id
        choices.notes[f"carrier:{carrier_num}"] = "skipped as asked"
    if no_office:
        choices.office = False
