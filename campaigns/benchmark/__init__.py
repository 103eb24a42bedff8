"""The analysis: which contracts and codes cost the practice money."""

from flask import Blueprint

bp = Blueprint("analysis", __name__, url_prefix="/analysis")

from . import views  # noqa: E402,F401
