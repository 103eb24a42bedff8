"""Command-line commands: `flask seed-demo`, `flask create-user`, `flask scheduler`,
`flask backup`."""

from __future__ import annotations

import sys
from datetime import date

import click
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from flask.cli import with_appcontext

from .accounts.models import Organization, Role
from .accounts.services import ServiceError, create_user, password_problem
from .extensions import db
from .fees.opendental_cli import register as register_opendental


def init_cli(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(scheduler_command)
    app.cli.add_command(backup_command)
    register_opendental(app)  # flask import-opendental


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Only seed when the database has no organisation.")
@click.option(
    "--today",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Date the demo volumes end before (default: today).",
)
@with_appcontext
def seed_demo_command(if_empty: bool, today) -> None:
    """Create the demo organisation 'Demo Dental Group' (deterministic, idempotent)."""
    from .demo import DEMO_PASSWORD, DEMO_USERS, seed_demo

    if if_empty and db.session.scalar(sa.select(sa.func.count(Organization.id))):
        click.echo("The database already has data; demo not seeded.")
        return
    created = seed_demo(today.date() if today else date.today())
    db.session.commit()
    if created:
        click.echo("Seeded the demo organisation 'Demo Dental Group'.")
    else:
        click.echo("The demo organisation already exists; nothing changed.")
    click.echo(f"Demo sign-ins (demo only), password '{DEMO_PASSWORD}':")
    for email, _name, role in DEMO_USERS:
        click.echo(f"  {email:<22} {role.value}")


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--organization", "organization_name", required=True, help="Created when it does not exist yet."
)
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.OWNER.value,
    show_default=True,
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def create_user_command(
    email: str, name: str, organization_name: str, role: str, password_stdin: bool
) -> None:
    """Create a user, for example the first owner of a new organisation."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password, email)
    if problem:
        raise click.ClickException(problem)
    try:
        email = validate_email(
            email.strip(), check_deliverability=False, test_environment=True
        ).normalized
    except EmailNotValidError as exc:
        raise click.ClickException(f"The email address is not valid: {exc}") from None
    organization_name = organization_name.strip()
    org = db.session.scalar(sa.select(Organization).where(Organization.name == organization_name))
    if org is None:
        org = Organization(name=organization_name)
        db.session.add(org)
        db.session.flush()
    try:
        user = create_user(
            None, org, email=email, name=name, role=Role(role), password=password, must_change=False
        )
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Created {user.role.value} {user.email} in '{org.name}'.")


@click.command("scheduler")
@click.option(
    "--once", is_flag=True, help="Run every task once (if no other scheduler works) and exit."
)
@with_appcontext
def scheduler_command(once: bool) -> None:
    """Run the scheduler process: background jobs (and later reminders), one per installation.

    Start it beside the web server (`make run` does). A second one waits idle and takes over
    when the first stops. Ctrl-C or SIGTERM stops it.
    """
    from .scheduler import configure_logging, run_scheduler

    configure_logging()
    run_scheduler(current_app._get_current_object(), once=once)  # type: ignore[attr-defined]


@click.command("backup")
@click.argument("target", type=click.Path(dir_okay=False, writable=True))
@click.option("--overwrite", is_flag=True, help="Replace TARGET if it exists.")
@with_appcontext
def backup_command(target: str, overwrite: bool) -> None:
    """Write a consistent copy of the database to TARGET while the app runs (SQLite: a copy
    of the file; PostgreSQL: a pg_dump custom-format archive)."""
    from pathlib import Path

    from .backup import BackupError, backup

    try:
        result = backup(db.engine.url, Path(target), overwrite=overwrite)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Backed up {result.tables} tables to {result.path} ({result.size:,} bytes).")
