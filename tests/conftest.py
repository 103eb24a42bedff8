"""Test setup: one migrated database per run (SQLite file or a PostgreSQL schema), emptied
after every test; a test client that sends the CSRF token like a browser; the markers' rules.

TEST_DATABASE_URL picks the database (default: a SQLite file in a temporary folder). Pure and
browser tests run only on the SQLite run unless TEST_ALL=1. With CI=true, a test that needs a
missing service or program fails instead of skipping.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, session
from flask.testing import FlaskClient
from flask_wtf.csrf import generate_csrf
from hypothesis import settings

from campaigns import create_app
from campaigns.extensions import db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
IS_SQLITE = not TEST_DATABASE_URL or TEST_DATABASE_URL.startswith("sqlite")
IS_POSTGRES = TEST_DATABASE_URL.startswith("postgresql")
IN_CI = os.environ.get("CI", "").lower() == "true"
RUN_ONCE_HERE = IS_SQLITE or os.environ.get("TEST_ALL") == "1"
TESTS = Path(__file__).parent

# Under CI property tests are derandomised: the same examples every run, so a red run is
# reproducible and the run time is stable.
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=100)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if IN_CI else "dev")


def require(available: bool, what: str) -> None:
    """Skip a test whose service or program is missing; under CI=true that fails the run."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"missing under CI: {what}")
    pytest.skip(f"missing: {what}")


def pytest_collection_modifyitems(config, items):
    """Mark by folder; keep pure/browser tests to one run, and postgres and sqlite tests to
    their own database (deselected elsewhere, never skipped)."""
    selected, deselected = [], []
    for item in items:
        path = Path(str(item.fspath))
        if TESTS / "unit" in path.parents:
            item.add_marker(pytest.mark.pure)
        if TESTS / "browser" in path.parents:
            item.add_marker(pytest.mark.browser)
        once = item.get_closest_marker("pure") or item.get_closest_marker("browser")
        if (
            (once and not RUN_ONCE_HERE)
            or (item.get_closest_marker("postgres") and not IS_POSTGRES)
            or (item.get_closest_marker("sqlite") and not IS_SQLITE)
        ):
            deselected.append(item)
        else:
            selected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


# ---- the database -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> Iterator[str]:
    """A fresh, empty database for this run: a SQLite file, or a PostgreSQL schema."""
    if IS_SQLITE:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    if not IS_POSTGRES:
        pytest.exit(f"unsupported TEST_DATABASE_URL {TEST_DATABASE_URL!r}", returncode=2)
    schema = f"test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(TEST_DATABASE_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in TEST_DATABASE_URL else "?"
    try:
        yield f"{TEST_DATABASE_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_app(database_url: str, **overrides) -> Flask:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_SSL_STRICT": False,
        "PROPAGATE_TEST_ERRORS": True,
        # Fast hashes keep the suite quick; production uses Werkzeug's default (scrypt).
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture(scope="session")
def migrated_app(database_url) -> Iterator[Flask]:
    """The app on a database brought up by the real migrations (never create_all)."""
    from flask_migrate import upgrade

    app = make_app(database_url)
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()  # close pooled connections before the schema is dropped


def empty_all_tables() -> None:
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def app(migrated_app) -> Iterator[Flask]:
    """The migrated app; every table is emptied after the test."""
    yield migrated_app
    with migrated_app.app_context():
        db.session.remove()
        empty_all_tables()


@contextmanager
def database(app: Flask):
    """`with database(app) as s:` a session in its own app context, committed at the end."""
    with app.app_context():
        yield db.session
        db.session.commit()


# ---- the client ---------------------------------------------------------------------------


class BrowserLikeClient(FlaskClient):
    """Sends the CSRF token on every state-changing request, as the pages' htmx does.

    `csrf=False` sends none; `htmx=True` adds the HX-Request header.
    """

    def csrf_token(self) -> str:
        with self.session_transaction() as sess:
            raw = sess.setdefault("csrf_token", hashlib.sha1(os.urandom(64)).hexdigest())  # noqa: S324 - same token shape as Flask-WTF
        with self.application.test_request_context():
            session["csrf_token"] = raw
            return generate_csrf()

    def open(self, *args, csrf: bool = True, htmx: bool = False, **kwargs):
        method = (kwargs.get("method") or "GET").upper()
        headers = dict(kwargs.pop("headers", None) or {})
        if htmx:
            headers.setdefault("HX-Request", "true")
        if csrf and method not in {"GET", "HEAD", "OPTIONS"}:
            headers.setdefault("X-CSRFToken", self.csrf_token())
        return super().open(*args, headers=headers, **kwargs)


@pytest.fixture
def client(app) -> FlaskClient:
    app.test_client_class = BrowserLikeClient
    return app.test_client()


def login(client: FlaskClient, email: str, password: str = "correct-horse-battery"):
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return response


@pytest.fixture
def world(app):
    """Two organisations, each with two practices, users of every role, payers, networks,
    contracts and routes (tests/factories.py `build_world`)."""
    from tests.factories import build_world

    with database(app):
        return build_world()


def html_text(response) -> str:
    """The response body with tags removed and white space folded, for 'the user sees' checks."""
    text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", text)


def chromium_path() -> str | None:
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
