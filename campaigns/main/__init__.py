"""The dashboard, the settings hub, health check, and the honest placeholders of later features."""

from flask import Blueprint

bp = Blueprint("main", __name__)

from . import views  # noqa: E402,F401
