"""Campaigns through the pages and services, on the real database.

The practice is test_whatif's: office fees T0120 $80, T1110 $120; Acme PPO allows $49 / $70,
Bolt PPO $60 / $100; Acme's payer bills 24 x T0120 and 36 x T1110 a year (12 full months,
Nov 2025 to Oct 2026), so on Acme V = 24 and 36 and the peer medians are Bolt's $60 / $100.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from io import BytesIO

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage
from werkzeug.test import stream_encode_multipart

from campaigns.accounts.models import Role, User
from campaigns.fees.imports import undo_import
from campaigns.fees.models import FeeLine, FeeSchedule, ImportBatch, ImportKind, ImportStatus
from campaigns.modelbase import utcnow
from campaigns.negotiations import services
from campaigns.negotiations.models import (
    Activity,
    Attachment,
    Campaign,
    CampaignCode,
    Outcome,
    Status,
    Step,
)
from campaigns.payers.models import Contract
from tests.browser.test_whatif import build
from tests.conftest import database, html_text, login
from tests.factories import UserFactory

MANAGER = "billing@maple.example"
TODAY = date(2026, 11, 20)


def _start(app, acme: int, **kwargs) -> int:
    with database(app) as s:
        user = s.scalar(sa.select(User).where(User.email == MANAGER))
        contract = s.get(Contract, acme)
        campaign = services.start_campaign(user, contract, today=TODAY, now=utcnow(), **kwargs)
        s.commit()
        return campaign.id


def _codes(app, campaign_id: int) -> dict[str, tuple]:
    with database(app) as s:
        rows = s.scalars(sa.select(CampaignCode).where(CampaignCode.campaign_id == campaign_id))
        return {
            r.code: (r.count, r.allowed_cents, r.office_cents, r.is_target, r.asked_cents)
            for r in rows
        }


def _act(app, campaign_id: int, fn, **kwargs):
    """Run a service on the campaign as the manager, at its current version, and commit."""
    with database(app) as s:
        user = s.scalar(sa.select(User).where(User.email == MANAGER))
        campaign = s.get(Campaign, campaign_id)
        result = fn(user, campaign, version=campaign.version, now=utcnow(), **kwargs)
        s.commit()
        return result


def _submitted(app, campaign_id: int) -> None:
    """Through every step to Record response, sent on Nov 25 by email."""
    _act(
        app,
        campaign_id,
        services.save_details,
        values={"schedule_received_on": date(2026, 11, 20), "submitted_on": date(2026, 11, 25)},
    )
    _act(app, campaign_id, services.save_details, values={"sent_how": "email"})
    for step in (Step.BENCHMARK, Step.BUILD, Step.SUBMIT, Step.RESPONSE):
        _act(app, campaign_id, services.move, to=step, today=TODAY)


def test_start_prefills_the_eighty_percent_codes_at_their_suggested_asks(app):
    acme = build(app)
    campaign_id = _start(app, acme)
    # Opportunity: T1110 36 x (100 - 70) = 1,080; T0120 24 x (60 - 49) = 264; 80% of 1,344
    # is reached by T1110 alone. Its ask: min(U 120, max(70 x 1.05, M 100)) = 100.00.
    assert _codes(app, campaign_id) == {
        "T0120": (24, 4900, 8000, False, None),
        "T1110": (36, 7000, 12000, True, 10000),
    }
    with database(app) as s:
        campaign = s.get(Campaign, campaign_id)
        assert (campaign.period_start, campaign.period_end) == (
            date(2025, 11, 1),
            date(2026, 10, 31),
        )
        assert services.totals(campaign).asked_value == Decimal("1080.00")
        facts = {f.kind.value: (f.value, f.in_letter) for f in campaign.facts}
        # Acme's annual allowed 24 x 49 + 36 x 70 = 3,696 is all of the practice's: 100.00%.
        # No scarce-category procedure: the fact counts for the rating but stays out of the
        # letter (telling the network "about 0 procedures" weakens the request).
        assert facts == {"volume": (10000, True), "service_mix": (0, False)}


def test_a_second_start_is_refused_and_links_the_open_campaign(app, client):
    acme = build(app)
    login(client, MANAGER)
    form = {"contract": str(acme), "suggestions": "y", "request_key": "key-1"}
    first = client.post("/campaigns/new", data=form)
    assert first.status_code == 303
    again = client.post("/campaigns/new", data=form)  # the same form twice: the same campaign
    assert again.status_code == 303
    assert again.headers["Location"] == first.headers["Location"]
    other = client.post("/campaigns/new", data={**form, "request_key": "key-2"})
    assert other.status_code == 422
    opened = first.headers["Location"].rsplit("/", 1)[-1]
    assert f"already has an open campaign (#{opened})" in html_text(other)
    assert f'href="/campaigns/{opened}"' in other.get_data(as_text=True)
    with database(app) as s:
        assert s.scalar(sa.select(sa.func.count(Campaign.id))) == 1


def test_moves_need_complete_steps_and_cannot_go_back_after_submission(app, client):
    acme = build(app)
    campaign_id = _start(app, acme)
    login(client, MANAGER)

    def move(to: str):
        with database(app) as s:
            version = s.get(Campaign, campaign_id).version
        response = client.post(
            f"/campaigns/{campaign_id}/move", data={"to": to, "version": version}
        )
        assert response.status_code == 303
        return html_text(client.get(response.headers["Location"]))

    assert (
        "Request schedule is not complete: Enter the date the current schedule was received."
        in move("benchmark")
    )
    assert "Complete Request schedule first: a campaign moves one step at a time." in move("build")
    _act(app, campaign_id, services.save_details, values={"schedule_received_on": TODAY})
    assert f"Campaign #{campaign_id} is now in Benchmark." in move("benchmark")
    move("build")
    move("submit")
    assert (
        "Submit is not complete: Enter the date the request was sent. "
        "Enter how the request was sent." in move("response")
    )
    _act(
        app,
        campaign_id,
        services.save_details,
        values={"submitted_on": TODAY, "sent_how": "portal"},
    )
    assert f"Campaign #{campaign_id} is now in Record response." in move("response")
    assert "its figures are frozen; the campaign cannot go back" in move("submit")
    with database(app) as s:
        campaign = s.get(Campaign, campaign_id)
        assert campaign.step == Step.RESPONSE
        assert campaign.response_due_on == TODAY + timedelta(days=30)  # first follow-up
        assert [r.step for r in campaign.steps_done] == [
            Step.REQUEST,
            Step.BENCHMARK,
            Step.BUILD,
            Step.SUBMIT,
        ]


def test_inline_asks_update_the_total_and_refuse_bad_or_stale_values(app, client):
    acme = build(app)
    campaign_id = _start(app, acme)
    login(client, MANAGER)
    url = f"/campaigns/{campaign_id}/codes/T1110/ask"
    ok = client.post(url, data={"asked": "95.00", "was": "10000"}, htmx=True)
    assert ok.status_code == 200
    assert re.search(r'id="asked-total">\$900\.00<', ok.get_data(as_text=True))  # 36 x 25
    low = client.post(url, data={"asked": "70.00", "was": "9500"}, htmx=True)
    assert low.status_code == 422
    assert "must be above its current allowed amount ($70.00)" in html_text(low)
    high = client.post(url, data={"asked": "120.01", "was": "9500"}, htmx=True)
    assert "is above the office fee ($120.00)" in html_text(high)
    stale = client.post(url, data={"asked": "99.00", "was": "10000"}, htmx=True)
    assert stale.status_code == 422
    assert "The ask for T1110 was changed to $95.00 by" in html_text(stale)
    assert _codes(app, campaign_id)["T1110"][4] == 9500


def test_frozen_figures_do_not_follow_a_later_schedule(app):
    acme = build(app)
    campaign_id = _start(app, acme)
    _submitted(app, campaign_id)
    before = _codes(app, campaign_id)
    with database(app) as s:
        practice_id = s.get(Contract, acme).practice_id
        newer = FeeSchedule(
            organization_id=s.get(Contract, acme).organization_id,
            practice_id=practice_id,
            kind="contract",
            contract_id=acme,
            label="Acme 2026b",
            effective_from=date(2026, 6, 1),
        )
        newer.lines = [
            FeeLine(code="T0120", amount_cents=5500),
            FeeLine(code="T1110", amount_cents=7500),
        ]
        s.add(newer)
        s.commit()
    with database(app) as s:
        campaign = s.get(Campaign, campaign_id)
        user = s.scalar(sa.select(User).where(User.email == MANAGER))
        with pytest.raises(services.ServiceError, match="frozen"):
            services.refresh_figures(
                user, campaign, version=campaign.version, today=TODAY, now=utcnow()
            )
    assert _codes(app, campaign_id) == before


def test_a_partial_response_closes_into_a_full_copy_with_the_gain_and_review_date(app):
    acme = build(app)
    campaign_id = _start(app, acme)
    _act(app, campaign_id, lambda u, c, version, now: services.set_targets(u, c, ["T0120"], True))
    _submitted(app, campaign_id)
    # T1110 granted as asked (100), T0120 asked 60 (its suggestion) but given 52: partial.
    _act(
        app,
        campaign_id,
        services.save_response,
        granted={"T1110": Decimal("100.00"), "T0120": Decimal("52.00")},
        responded_on=date(2026, 12, 1),
    )
    with database(app) as s:
        campaign = s.get(Campaign, campaign_id)
        totals = services.totals(campaign)
        # 36 x (100 - 70) = 1,080.00 + 24 x (52 - 49) = 72.00 -> 1,152.00
        assert totals.realised_gain == Decimal("1152.00")
        assert totals.outcome == "partial"
        user = s.scalar(sa.select(User).where(User.email == MANAGER))
        with pytest.raises(services.ServiceError, match="say why the outcome is 'yes'"):
            services.close_campaign(
                user,
                campaign,
                version=campaign.version,
                today=TODAY,
                now=utcnow(),
                effective_on=date(2027, 1, 1),
                override=Outcome.YES,
            )
    schedule = _act(
        app,
        campaign_id,
        services.close_campaign,
        today=date(2026, 12, 2),
        effective_on=date(2027, 1, 1),
    )
    with database(app) as s:
        campaign = s.get(Campaign, campaign_id)
        assert (campaign.status, campaign.outcome) == (Status.CLOSED, Outcome.PARTIAL)
        new = s.get(FeeSchedule, campaign.result_schedule_id)
        assert new.effective_from == date(2027, 1, 1)
        assert {line.code: line.amount_cents for line in new.lines} == {
            "T0120": 5200,
            "T1110": 10000,
        }
        assert new.contract_id == acme
        # re-review 12 months after closing unless the contract's renewal comes first
        contract = s.get(Contract, acme)
        expected = date(2027, 12, 2)
        for d in (contract.renewal_date, contract.notice_deadline):
            if d is not None and date(2026, 12, 2) < d < expected:
                expected = d
        assert campaign.next_review_on == expected
    assert schedule is not None


def test_a_reduced_code_counts_against_the_gain(app):
    acme = build(app)
    campaign_id = _start(app, acme)
    _submitted(app, campaign_id)
    # T1110 (asked 100) given 72; T0120 (not asked) cut from 49 to 40:
    # 36 x (72 - 70) = 72.00 and 24 x (40 - 49) = -216.00 -> -144.00: outcome no.
    _act(
        app,
        campaign_id,
        services.save_response,
        granted={"T1110": Decimal("72.00"), "T0120": Decimal("40.00")},
        responded_on=None,
    )
    with database(app) as s:
        totals = services.totals(s.get(Campaign, campaign_id))
        assert totals.realised_gain == Decimal("-144.00")
        assert totals.outcome == "no"


def test_a_stale_form_is_refused_and_overwrites_nothing(app, client):
    acme = build(app)
    campaign_id = _start(app, acme)
    with database(app) as s:
        UserFactory(
            organization_id=s.get(Contract, acme).organization_id,
            email="second@maple.example",
            role=Role.MANAGER,
            name="Sam Second",
        )
        loaded = s.get(Campaign, campaign_id).version
    other = client.application.test_client()
    login(other, "second@maple.example")
    saved = other.post(
        f"/campaigns/{campaign_id}/details", data={"notes": "first", "version": loaded}
    )
    assert saved.status_code == 303
    login(client, MANAGER)
    stale = client.post(
        f"/campaigns/{campaign_id}/details", data={"notes": "second", "version": loaded}
    )
    assert stale.status_code == 422
    assert "This campaign was changed by Sam Second at" in html_text(stale)
    assert "nothing was saved" in html_text(stale)
    with database(app) as s:
        assert s.get(Campaign, campaign_id).notes == "first"


def test_attachments_upload_download_and_limits(app, client):
    acme = build(app)
    campaign_id = _start(app, acme)
    login(client, MANAGER)
    url = f"/campaigns/{campaign_id}/activities"
    pdf = b"%PDF-1.4 a letter"
    response = client.post(
        url,
        data={
            "kind": "letter",
            "happened_on": "2026-11-25",
            "summary": "Request sent",
            "request_key": "k1",
            "files": (BytesIO(pdf), "request.pdf"),
        },
    )
    assert response.status_code == 303
    again = client.post(  # the same form twice: one activity
        url,
        data={
            "kind": "letter",
            "happened_on": "2026-11-25",
            "summary": "Request sent",
            "request_key": "k1",
            "files": (BytesIO(pdf), "request.pdf"),
        },
    )
    assert again.status_code == 303
    with database(app) as s:
        assert s.scalar(sa.select(sa.func.count(Activity.id))) == 1
        attachment_id = s.scalar(sa.select(Attachment.id))
    download = client.get(f"/campaigns/attachments/{attachment_id}")
    assert download.data == pdf
    assert download.headers["Content-Disposition"] == "attachment; filename*=UTF-8''request.pdf"
    exe = client.post(
        url,
        data={
            "kind": "note",
            "happened_on": "2026-11-26",
            "request_key": "k2",
            "files": (BytesIO(b"MZ"), "tool.exe"),
        },
    )
    assert exe.status_code == 422
    assert "tool.exe: this type of file cannot be attached" in html_text(exe)
    # A body this large is spooled to an unclosed temporary file by the test client (which
    # warns, and warnings are errors): encode it in memory here instead.
    body, length, boundary = stream_encode_multipart(
        {
            "kind": "note",
            "happened_on": "2026-11-26",
            "request_key": "k3",
            "files": FileStorage(
                BytesIO(b"x" * (services.MAX_ATTACHMENT_BYTES + 1)), filename="big.pdf"
            ),
        },
        threshold=2 * services.MAX_ATTACHMENT_BYTES,
    )
    big = client.post(
        url,
        input_stream=body,
        content_length=length,
        content_type=f'multipart/form-data; boundary="{boundary}"',
    )
    assert big.status_code == 422
    assert "big.pdf is larger than 10 MB." in html_text(big)
    with database(app) as s:
        assert s.scalar(sa.select(sa.func.count(Activity.id))) == 1
        assert s.scalar(sa.select(sa.func.count(Attachment.id))) == 1


def test_an_import_whose_schedule_is_a_baseline_cannot_be_undone(app):
    acme = build(app)
    with database(app) as s:
        contract = s.get(Contract, acme)
        user = s.scalar(sa.select(User).where(User.email == MANAGER))
        batch = ImportBatch(
            organization_id=contract.organization_id,
            practice_id=contract.practice_id,
            kind=ImportKind.CONTRACT,
            status=ImportStatus.CONFIRMED,
            filename="acme.csv",
        )
        s.add(batch)
        s.flush()
        baseline = s.scalar(sa.select(FeeSchedule).where(FeeSchedule.contract_id == acme))
        baseline.import_batch_id = batch.id
        s.commit()
        batch_id = batch.id
    campaign_id = _start(app, acme)
    with database(app) as s:
        user = s.scalar(sa.select(User).where(User.email == MANAGER))
        with pytest.raises(
            services.ServiceError,
            match=f"campaign #{campaign_id} uses a schedule version it wrote as its baseline",
        ):
            undo_import(user, s.get(ImportBatch, batch_id), utcnow())
        s.rollback()
        assert s.get(ImportBatch, batch_id).status == ImportStatus.CONFIRMED


def test_a_viewer_reads_the_campaign_but_cannot_change_it(app, client):
    acme = build(app)
    campaign_id = _start(app, acme)
    with database(app) as s:
        UserFactory(
            organization_id=s.get(Contract, acme).organization_id,
            email="viewer@maple.example",
            role=Role.VIEWER,
        )
    login(client, "viewer@maple.example")
    page = client.get(f"/campaigns/{campaign_id}")
    assert page.status_code == 200
    assert "$1,080.00" in html_text(page)
    assert 'name="asked"' not in page.get_data(as_text=True)
    assert client.post(f"/campaigns/{campaign_id}/details", data={"notes": "x"}).status_code == 403
