"""Letters end to end with real files: the default templates rendered for a campaign and read
back with python-docx (and, with LibreOffice, as a PDF read with pdfplumber), uploads refused
for each way a template can be bad, batches run through the job runner, and the PDF button
without LibreOffice. Figures are computed by hand in the comments."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date

import docx
import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from campaigns.extensions import db
from campaigns.jobs.models import Job, JobStatus
from campaigns.letters.context import LetterKind
from campaigns.letters.models import Letter, LetterTemplate
from campaigns.letters.services import builtin_template
from campaigns.negotiations.models import Activity, ActivityKind, Campaign, Step
from campaigns.negotiations.services import _evidence
from tests.conftest import database, html_text, login, require

PRACTICE = "Smith & Jones Dental"


@pytest.fixture
def campaign_id(app, world) -> int:
    """Organisation A's first campaign with a practice name with an '&', identifiers, and two
    target codes over a 12-month period (V = the count):
    T0120: 40 x $52.00 = $2,080.00 now, 40 x $55.55 = $2,222.00 asked, +6.8%
    T1110: 120 x $81.50 = $9,780.00 now, 120 x $90.00 = $10,800.00 asked, +10.4%
    totals $11,860.00 -> $13,022.00 (+$1,162.00), volume 160,
    weighted change 1,162 / 11,860 = 9.797% -> +9.8%."""
    with database(app) as s:
        campaign = s.get(Campaign, world.a.campaign_ids[0])
        campaign.practice.name = PRACTICE
        campaign.practice.tin = "84-1234567"
        campaign.practice.npi = "1234567893"
        campaign.step = Step.SUBMIT
        campaign.response_due_on = date(2026, 12, 15)
        for row in campaign.codes:
            if row.code == "T0120":
                row.is_target, row.asked_cents = True, 5555
        return campaign.id


def _text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(parts)


def _generate(client, campaign_id: int, kind: str) -> Letter:
    response = client.post(f"/letters/campaigns/{campaign_id}", data={"kind": kind})
    assert response.status_code == 303, html_text(response)[:300]
    with database(client.application) as s:
        letter = s.scalar(
            sa.select(Letter)
            .where(Letter.campaign_id == campaign_id, Letter.kind == kind)
            .order_by(Letter.id.desc())
        )
        s.expunge(letter)
        return letter


def test_fee_increase_letter_has_the_practice_the_codes_table_and_the_totals(
    app, client, world, campaign_id
):
    login(client, world.a.manager)
    letter = _generate(client, campaign_id, "fee_increase")
    assert (letter.version, letter.template_label) == (1, "built-in")
    download = client.get(f"/letters/{letter.id}.docx")
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    text = _text(download.data)
    assert PRACTICE in text
    assert "T0120 |  | $52.00 | $55.55 | +6.8% | 40" in text
    assert "T1110 |  | $81.50 | $90.00 | +10.4% | 120" in text
    assert "Total | 2 codes, a year at this volume | $11,860.00 | $13,022.00 | +9.8% | 160" in text
    assert "$1,162.00 a year" in text
    assert "84-1234567" in text
    assert "1234567893" in text
    assert "December 15, 2026" in text  # the reply-by date
    assert "January 1, 2024" in text  # the contract's effective date
    assert "Few providers" in text  # the leverage fact kept for the letter
    assert "Manny Manager" in text  # the signer
    with database(app) as s:
        logged = s.scalars(
            sa.select(Activity).where(
                Activity.campaign_id == campaign_id, Activity.kind == ActivityKind.LETTER
            )
        ).all()
        assert [a.id for a in logged] == [letter.activity_id]
        assert "version 1" in logged[0].summary
        campaign = s.get(Campaign, campaign_id)
        campaign.submitted_on, campaign.sent_how = date(2026, 10, 20), "email"
        assert _evidence(campaign, Step.SUBMIT) == (
            "sent 2026-10-20 by email; letter: fee increase request v1"
        )
    assert _generate(client, campaign_id, "fee_increase").version == 2  # versions are kept


def test_a_fact_left_out_of_the_letter_is_not_in_it(app, client, world, campaign_id):
    with database(app) as s:
        s.get(Campaign, campaign_id).facts[0].in_letter = False
    login(client, world.a.manager)
    text = _text(
        client.get(f"/letters/{_generate(client, campaign_id, 'fee_increase').id}.docx").data
    )
    assert "Few providers" not in text
    assert "Why our office matters" not in text


def test_a_practice_without_tin_or_npi_gets_letters_without_empty_identifiers(
    app, client, world, campaign_id
):
    with database(app) as s:
        campaign = s.get(Campaign, campaign_id)
        campaign.practice.npi = ""  # both are optional on the practice form
        campaign.submitted_on = date(2026, 10, 20)
    login(client, world.a.manager)
    letter = _text(
        client.get(f"/letters/{_generate(client, campaign_id, 'fee_increase').id}.docx").data
    )
    assert "TIN 84-1234567\n" in letter  # the letterhead, without "· NPI "
    assert "took effect on January 1, 2024; our TIN is 84-1234567." in letter
    assert "NPI" not in letter
    with database(app) as s:
        s.get(Campaign, campaign_id).practice.tin = ""
    for kind in ("fee_increase", "follow_up"):
        text = _text(client.get(f"/letters/{_generate(client, campaign_id, kind).id}.docx").data)
        assert "TIN" not in text
        assert "NPI" not in text


def test_schedule_request_and_follow_up_letters_render(app, client, world, campaign_id):
    login(client, world.a.owner)
    request_text = _text(
        client.get(f"/letters/{_generate(client, campaign_id, 'schedule_request').id}.docx").data
    )
    assert PRACTICE in request_text
    assert "National provider identifier (NPI) | 1234567893" in request_text
    assert world.a.network_name in request_text
    with database(app) as s:
        s.get(Campaign, campaign_id).submitted_on = date(2026, 10, 20)
    follow = _text(
        client.get(f"/letters/{_generate(client, campaign_id, 'follow_up').id}.docx").data
    )
    assert "our request of October 20, 2026" in follow
    assert "2 procedure codes, an adjustment worth $1,162.00 a year" in follow
    assert "T0120, T1110" in follow


def test_a_closed_campaign_gets_no_new_letter(app, client, world, campaign_id):
    from campaigns.negotiations.models import Outcome, Status

    with database(app) as s:
        campaign = s.get(Campaign, campaign_id)
        campaign.status, campaign.outcome = Status.CLOSED, Outcome.WITHDRAWN
    login(client, world.a.manager)
    response = client.post(f"/letters/campaigns/{campaign_id}", data={"kind": "fee_increase"})
    assert response.status_code == 303
    assert "closed" in html_text(client.get(f"/campaigns/{campaign_id}"))
    with database(app) as s:
        assert (
            s.scalar(sa.select(sa.func.count(Letter.id)).where(Letter.campaign_id == campaign_id))
            == 1  # the world's own letter only
        )


def test_the_campaign_page_lists_letters_and_viewers_get_no_generate_button(
    app, client, world, campaign_id
):
    login(client, world.a.viewer)
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    assert 'id="letters"' in page
    assert f"/letters/{world.a.letter_ids[0]}.docx" in page
    assert "Generate the Word letter" not in page
    assert (
        client.post(f"/letters/campaigns/{campaign_id}", data={"kind": "fee_increase"}).status_code
        == 403
    )


def test_help_page_lists_every_variable_with_an_example_and_the_defaults(client, world):
    login(client, world.a.viewer)
    page = html_text(client.get("/letters/help"))
    assert "practice.name" in page
    assert "Smith &amp; Jones Family Dentistry" in page
    assert "totals.increase_annual" in page
    assert "row.requested" in page
    for kind in LetterKind:
        assert client.get(f"/letters/built-in/{kind.value}.docx").data == builtin_template(kind)


# ---- PDF --------------------------------------------------------------------------------------


@pytest.mark.libreoffice
def test_pdf_of_the_fee_increase_letter_has_the_same_text(app, client, world, campaign_id):
    import shutil

    import pdfplumber

    require(shutil.which("soffice") is not None, "soffice (LibreOffice)")
    login(client, world.a.manager)
    letter = _generate(client, campaign_id, "fee_increase")
    response = client.get(f"/letters/{letter.id}.pdf")
    assert response.status_code == 200, html_text(response)[:300]
    assert response.mimetype == "application/pdf"
    with pdfplumber.open(io.BytesIO(response.data)) as document:
        text = "\n".join(page.extract_text() or "" for page in document.pages)
        assert len(document.pages) <= 2
    assert PRACTICE in text
    assert re.search(r"T1110.*\$81\.50.*\$90\.00.*\+10\.4%.*120", text)
    assert "$11,860.00" in text
    assert "$13,022.00" in text
    with database(app) as s:
        assert s.get(Letter, letter.id).pdf == response.data  # kept: no second conversion


def test_without_libreoffice_the_pdf_button_says_what_to_install(
    app, client, world, campaign_id, monkeypatch
):
    monkeypatch.setenv("PATH", "/nonexistent")
    login(client, world.a.manager)
    letter = _generate(client, campaign_id, "schedule_request")
    page = html_text(client.get(f"/campaigns/{campaign_id}"))
    assert "PDF unavailable" in page
    assert "install it" in page
    response = client.get(f"/letters/{letter.id}.pdf")
    assert response.status_code == 503
    assert "libreoffice-writer" in html_text(response)


# ---- uploads -----------------------------------------------------------------------------------


def _docx(*paragraphs: str) -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _upload(client, data: bytes, kind: str = "fee_increase", name: str = "ours.docx"):
    # encoded in memory: the test client's own encoding spools a large body to a temporary
    # file that it never closes (a ResourceWarning, an error under filterwarnings)
    fields = MultiDict({"kind": kind, "make_default": "y"})
    fields.add("file", FileStorage(io.BytesIO(data), filename=name))
    boundary, body = encode_multipart(fields)
    return client.post(
        "/letters/templates",
        data=body,
        content_type=f'multipart/form-data; boundary="{boundary}"',
    )


def _templates(app) -> list[tuple[str, int, bool]]:
    with app.app_context():
        return [
            (t.filename, t.version, t.is_default)
            for t in db.session.scalars(
                sa.select(LetterTemplate)
                .where(LetterTemplate.kind == LetterKind.FEE_INCREASE)
                .order_by(LetterTemplate.version)
            )
        ]


def test_a_good_template_is_stored_as_the_next_version_and_used(app, client, world, campaign_id):
    login(client, world.a.manager)
    good = _docx(
        "Dear {{ network.name }},", "From {{ practice.name }}: {{ totals.increase_annual }}"
    )
    assert _upload(client, good).status_code == 303
    assert _upload(client, good, name="second.docx").status_code == 303
    assert _templates(app) == [("ours.docx", 1, False), ("second.docx", 2, True)]
    letter = _generate(client, campaign_id, "fee_increase")
    assert letter.template_label == "second.docx (version 2)"
    text = _text(client.get(f"/letters/{letter.id}.docx").data)
    assert f"From {PRACTICE}: $1,162.00" in text
    with database(app) as s:  # back to the built-in one; the uploads stay
        first = s.scalar(
            sa.select(LetterTemplate).where(
                LetterTemplate.version == 1, LetterTemplate.kind == LetterKind.FEE_INCREASE
            )
        )
        first_id = first.id
    assert (
        client.post(
            "/letters/defaults", data={"kind": "fee_increase", "template": str(first_id)}
        ).status_code
        == 303
    )
    assert _templates(app) == [("ours.docx", 1, True), ("second.docx", 2, False)]
    client.post("/letters/defaults", data={"kind": "fee_increase", "template": "builtin"})
    assert _templates(app) == [("ours.docx", 1, False), ("second.docx", 2, False)]


def _zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * (60 * 1024 * 1024))
    return out.getvalue()


BAD = {
    "broken jinja": (_docx("Dear {{ network.name "), "Jinja syntax error"),
    "unknown variables": (
        _docx("{{ practice.nmae }} {{ secret_plan }}"),
        "variables that do not exist: practice.nmae, secret_plan",
    ),
    "attribute walking": (
        _docx("{{ ''.__class__.__mro__[1].__subclasses__() }}"),
        "letters may not do",
    ),
    "include": (_docx("{% include 'base.html' %}"), "letters cannot load other templates"),
    "import": (_docx("{% import 'macros.html' as m %}"), "letters cannot load other templates"),
    "huge range": (_docx("{% for i in range(10**9) %}x{% endfor %}"), "loops too far"),
    "runaway loops": (
        _docx("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"),
        "took longer than 2 seconds",
    ),
    "memory": (_docx("{{ 'x' * 2000000000 }}"), "too much"),
    "not a docx": (b"%PDF-1.4 not a word file", "not a Word document"),
    "zip bomb": (_zip_bomb(), "unpacks to more than 30 MB"),
    "too large": (b"PK" + b"\0" * (2 * 1024 * 1024 + 10), "larger than 2 MB"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_template_is_refused_with_a_message_and_nothing_stored(
    app, client, world, case, monkeypatch
):
    monkeypatch.setitem(app.config, "LETTER_RENDER_TIMEOUT", 2)
    data, message = BAD[case]
    login(client, world.a.manager)
    response = _upload(client, data)
    assert response.status_code == 422
    page = html_text(response)
    assert message in page, page[page.find("field-error") - 200 :][:600]
    assert "Traceback" not in page
    assert _templates(app) == []


def test_viewers_cannot_upload(client, world):
    login(client, world.a.viewer)
    assert _upload(client, _docx("{{ practice.name }}")).status_code == 403


# ---- batches ----------------------------------------------------------------------------------


def test_batch_generates_a_letter_per_campaign_in_the_background_as_a_zip(
    app, client, world, campaign_id
):
    from campaigns.jobs.runner import run_pending

    login(client, world.a.owner)
    ids = world.a.campaign_ids
    response = client.post(
        "/letters/batch", data={"kind": "fee_increase", "campaigns": [str(i) for i in ids]}
    )
    assert response.status_code == 303
    status_url = response.headers["Location"]
    job_id = int(status_url.rstrip("/").rsplit("/", 1)[-1])
    waiting = client.get(status_url, htmx=True).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in waiting
    assert "<progress" in waiting
    with app.app_context():
        assert run_pending("test-worker") >= 1
        db.session.remove()
    with database(app) as s:
        job = s.get(Job, job_id)
        assert job.status == JobStatus.DONE, job.message
        assert job.progress_done == job.progress_total == 2
        letter_ids = job.result["letter_ids"]
    done = html_text(client.get(status_url, htmx=True))
    assert "2 letter(s) ready" in done
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/letters/batch/{job_id}/letters.zip").data))
    assert len(archive.namelist()) == 2
    texts = [_text(archive.read(name)) for name in sorted(archive.namelist())]
    assert any(PRACTICE in t and "$13,022.00" in t for t in texts)
    assert any(world.a.practice_names[1] in t for t in texts)
    with database(app) as s:
        assert len(letter_ids) == 2
        assert (
            s.scalar(
                sa.select(sa.func.count(Activity.id)).where(Activity.kind == ActivityKind.LETTER)
            )
            == 2
        )
    # a manager limited to the first practice downloads only its letter
    client.post("/logout")
    login(client, world.a.manager1)
    limited = zipfile.ZipFile(io.BytesIO(client.get(f"/letters/batch/{job_id}/letters.zip").data))
    assert len(limited.namelist()) == 1
