"""Every page an owner can open, in a real browser under the real Content-Security-Policy:
no console error (a CSP violation is one), no script error, and stored text that looks like
HTML stays text everywhere it is shown.

The pages come from the access matrix (tests/web/test_access_matrix.py), which fails for a
route it has no URL for; so a new page is crawled here as soon as it exists. Before the crawl
every name, note, description, summary and file name of the organisation gets a payload
appended that would add an element with a known id if it were ever rendered as HTML."""

from __future__ import annotations

import sqlalchemy as sa

from campaigns.extensions import db
from tests.conftest import database, login
from tests.web.test_access_matrix import cases

PROBE_ID = "xss-probe"
PAYLOAD = f'<b id="{PROBE_ID}">&amp;"\'</b>'
TEXT_COLUMNS = ("name", "notes", "summary", "statement", "description", "filename", "person")


def poison_every_text(org_id: int) -> int:
    """Append PAYLOAD to every text column above of every row of the organisation."""
    changed = 0
    for table in db.metadata.sorted_tables:
        if "organization_id" not in table.c:
            continue
        for name in TEXT_COLUMNS:
            column = table.c.get(name)
            if column is None or not isinstance(column.type, sa.String):
                continue
            room = (column.type.length or 10_000) - len(PAYLOAD)
            result = db.session.execute(
                sa.update(table)
                .where(table.c.organization_id == org_id, sa.func.length(column) <= room)
                .values({name: column + PAYLOAD})
            )
            changed += result.rowcount
    return changed


def html_pages(app, client, world) -> list[str]:
    """The owner's GET URLs that answer an HTML page (downloads and feeds are not pages)."""
    login(client, world.a.owner)
    urls = []
    for case in cases(app, world.a):
        if "GET" not in case.methods or case.endpoint in ("static", "accounts.logout"):
            continue
        response = client.get(case.url)
        if response.status_code == 200 and response.mimetype == "text/html":
            urls.append(case.url)
    client.get("/logout")
    return urls


def test_every_page_has_no_console_error_and_shows_stored_html_as_text(
    app, client, world, watched, live_server
):
    with database(app):
        assert poison_every_text(world.a.org_id) > 20
    urls = html_pages(app, client, world)
    assert len(urls) > 40, urls  # the crawl reaches the app, not only the sign-in page

    page = watched.page
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(world.a.owner)
    page.get_by_label("Password").fill(world.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/")

    problems = []
    shown_as_text = 0
    for url in urls:
        before = len(watched.errors)
        response = page.goto(f"{live_server}{url}", wait_until="load")
        if response is None or response.status != 200:
            problems.append(f"{url}: answered {response and response.status}")
            continue
        if page.locator(f"#{PROBE_ID}").count():
            problems.append(f"{url}: stored text was rendered as HTML")
        if PAYLOAD in page.inner_text("body"):
            shown_as_text += 1
        problems += [f"{url}: {e}" for e in watched.errors[before:]]
    watched.shot("last-page")

    assert problems == [], "\n".join(problems)
    assert shown_as_text > 20  # the payload is on the pages, as text
    assert watched.failed == []
