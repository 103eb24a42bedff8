"""Payers, networks, contracts with their terms, pricing routes and contacts."""

from flask import Blueprint

bp = Blueprint("payers", __name__)

from . import views  # noqa: E402,F401
