"""Page-or-fragment rendering for htmx, redirects that htmx follows, and event triggers."""

from __future__ import annotations

import json

from flask import Response, make_response, redirect, render_template, request


def is_htmx() -> bool:
    """An htmx request that is not a history restore (that one needs the whole page)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render_page(
    template: str, partial: str | None = None, *, status: int = 200, **context
) -> Response:
    """The full page, or only `partial` when htmx asks; responses vary on HX-Request."""
    name = partial if partial and is_htmx() else template
    response = make_response(render_template(name, **context), status)
    response.vary.add("HX-Request")
    return response


def local_path(target: str | None, default: str) -> str:
    """`target` when it is a path on this site (a `next` from a form or a link), else
    `default`: never another site (`//host`, a backslash and absolute URLs are refused)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def redirect_to(location: str) -> Response:
    """A redirect; for htmx an HX-Redirect so the whole page navigates."""
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 204)
        response.headers["HX-Redirect"] = location
        return response
    return redirect(location, code=303)


def trigger(response: Response, event: str, detail: object | None = None) -> Response:
    """Fire an htmx event on the client (listeners use hx-trigger='event from:body')."""
    existing = response.headers.get("HX-Trigger")
    events = json.loads(existing) if existing else {}
    events[event] = detail if detail is not None else True
    response.headers["HX-Trigger"] = json.dumps(events)
    return response
