"""Fee schedules and their versions, office fees, code volumes."""

from flask import Blueprint

bp = Blueprint("fees", __name__, url_prefix="/fees")

from . import import_views, opendental_views, views  # noqa: E402,F401
