"""Organisations, practices, users, roles, sign-in and tenancy scoping."""

from flask import Blueprint

bp = Blueprint("accounts", __name__)

from . import views  # noqa: E402,F401  (routes register on bp)
