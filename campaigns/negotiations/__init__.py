"""Campaigns: negotiations with networks, their steps, codes, rounds, activity and the board."""

from flask import Blueprint

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

from . import views  # noqa: E402,F401
