"""Settings read from the environment; one Config class, overridable by a mapping in tests."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"


def _secret_key() -> str | None:
    """SECRET_KEY from the environment, else the file `make run` writes under instance/."""
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    path = INSTANCE / "secret_key"
    if path.exists():
        return path.read_text().strip() or None
    return None


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    """Defaults for a single-host install; every value can come from the environment."""

    def __init__(self) -> None:
        self.SECRET_KEY = _secret_key()
        self.SQLALCHEMY_DATABASE_URI = os.environ.get(
            "DATABASE_URL", f"sqlite:///{INSTANCE / 'feecampaigns.db'}"
        )
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        # A page left open all day must still submit: the token lives as long as the session.
        self.WTF_CSRF_TIME_LIMIT = None
        self.WTF_CSRF_SSL_STRICT = _bool("WTF_CSRF_SSL_STRICT", True)
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE")
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.PERMANENT_SESSION_LIFETIME = timedelta(days=7)
        self.PASSWORD_HASH_METHOD = "scrypt"  # noqa: S105 - a method name, not a secret
        self.MAX_CONTENT_LENGTH = int(os.environ.get("MAX_UPLOAD_BYTES", 64 * 1024 * 1024))
        # Code-mix files up to this size are counted in the request; larger ones in the
        # scheduler process, with a progress bar.
        self.VOLUME_INLINE_BYTES = int(os.environ.get("VOLUME_INLINE_BYTES", 2 * 1024 * 1024))
        # PostgreSQL advisory lock key of the single scheduler (one per database).
        self.SCHEDULER_LOCK_KEY = os.environ.get("SCHEDULER_LOCK_KEY", "")
        self.SMTP_HOST = os.environ.get("SMTP_HOST", "")
        self.SMTP_PORT = int(os.environ.get("SMTP_PORT", "587"))
        self.SMTP_USER = os.environ.get("SMTP_USER", "")
        self.SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
        self.SMTP_TLS = os.environ.get("SMTP_TLS", "starttls")  # starttls | ssl | none
        self.SMTP_FROM = os.environ.get("SMTP_FROM", "")
        self.SMTP_REPLY_TO = os.environ.get("SMTP_REPLY_TO", "")
        # Links in emails and calendar events are absolute: the address users open the app at.
        self.APP_BASE_URL = os.environ.get("APP_BASE_URL", "http://127.0.0.1:5000")
        # Login throttling (rows, so it holds across worker processes).
        # How many reverse proxies in front of the app set X-Forwarded-For/-Proto/-Host (0: none,
        # the client connects directly); login throttling needs the real client address.
        self.TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
        # Test-only (campaigns/crashpoint.py): kill the process after this many rows written.
        self.CRASH_AFTER_ROWS = int(os.environ.get("FEECAMPAIGNS_CRASH_AFTER_ROWS", "0"))
        self.LOGIN_MAX_FAILURES_PER_ACCOUNT = 5
        self.LOGIN_MAX_FAILURES_PER_ADDRESS = 20
        self.LOGIN_THROTTLE_WINDOW = timedelta(minutes=15)

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k.isupper()}
