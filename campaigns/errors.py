"""Error pages for 400/403/404/405/413/429/500 and an expired form, for pages and htmx alike."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .extensions import db

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Not allowed", "Your role does not allow this. Ask an owner if you need it."),
    404: ("Not found", "There is nothing here, or it is not yours to see."),
    405: ("Not allowed", "This address does not accept that kind of request."),
    413: ("File too large", "The upload is larger than the limit."),
    429: ("Too many requests", "Wait a little, then try again."),
    500: (
        "Something went wrong",
        "Nothing was saved. Try again; if it happens again, tell "
        "your administrator the time it happened.",
    ),
}


def _render(status: int, title: str, message: str):
    if request.headers.get("HX-Request") == "true":
        # htmx: show the message in the page's message area, keep the form as typed.
        body = render_template("errors/_message.html", title=title, message=message)
        return body, status, {"HX-Retarget": "#messages", "HX-Reswap": "innerHTML"}
    return render_template("errors/page.html", status=status, title=title, message=message), status


def init_errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        db.session.rollback()
        return _render(
            400,
            "Form expired",
            "This form is out of date or was sent without its security token. "
            "Reload the page and send it again; nothing was saved.",
        )

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        title, message = MESSAGES.get(error.code, (error.name, error.description))
        return _render(error.code, title, message)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        if app.testing and app.config.get("PROPAGATE_TEST_ERRORS", True):
            raise error
        title, message = MESSAGES[500]
        return _render(500, title, message)
