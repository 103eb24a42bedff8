"""Letters: Word documents for every written step, from built-in or uploaded templates."""

from flask import Blueprint

bp = Blueprint("letters", __name__, url_prefix="/letters")

from . import views  # noqa: E402,F401
