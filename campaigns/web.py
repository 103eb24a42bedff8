"""Page-or-fragment rendering for htmx, redirects that htmx follows, and event triggers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Response, make_response, redirect, render_template, request, url_for


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


@dataclass(frozen=True)
class Pager:
    """One page of a list that is cut into pages of `per_page`, read from `?<arg>=`."""

    number: int
    pages: int
    per_page: int
    total: int
    arg: str = "page"
    #: the page that lists the items, when the request is another one (a form's POST)
    endpoint: str | None = None

    @classmethod
    def read(
        cls, total: int, per_page: int, arg: str = "page", endpoint: str | None = None
    ) -> Pager:
        """The page the request asks for, kept between the first and the last."""
        pages = max(1, -(-total // per_page))
        number = min(max(1, request.args.get(arg, 1, type=int)), pages)
        return cls(number, pages, per_page, total, arg, endpoint)

    @property
    def first(self) -> int:
        """The 0-based index of the page's first item."""
        return (self.number - 1) * self.per_page

    @property
    def last(self) -> int:
        """The 1-based position of the page's last item (for 'items 51-100 of 400')."""
        return min(self.total, self.first + self.per_page)

    def of(self, items: Sequence) -> Sequence:
        return items[self.first : self.first + self.per_page]

    def url(self, number: int) -> str:
        """This page's address with another page number, every other argument kept."""
        args = request.args.to_dict(flat=False)
        args[self.arg] = [str(number)]
        return url_for(self.endpoint or request.endpoint, **(request.view_args or {}), **args)
