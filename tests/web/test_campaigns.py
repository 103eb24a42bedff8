"""Campaigns through the web as a manager: starting from the analysis, the board, the steps,
inline asks, freezing at submission, the response and closing, locking, the activity log and
its attachments, and what viewers and other organisations get.

`maple` is one practice (Maple Street Dental) with an office schedule, three contracts and a
9-month code mix for the payer priced by Acme PPO; every expected figure is computed below.
The views' clock starts at NOW ("today" at the practice, America/Chicago, is Nov 16, 2026, the
day a campaign opens) and the tests move it on (`clock.day(...)`) as the weeks of a campaign pass.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from html import unescape
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from campaigns.accounts.models import Role
from campaigns.extensions import db
from campaigns.fees.models import CodeVolume, FeeLine, FeeSchedule, ImportBatch, ScheduleKind
from campaigns.negotiations import services, views
from campaigns.negotiations.models import (
    Activity,
    Attachment,
    Campaign,
    CampaignCode,
    Outcome,
    Status,
    Step,
)
from campaigns.payers.models import NetworkKind
from tests.conftest import database, html_text, login
from tests.factories import (
    PASSWORD,
    ContractFactory,
    FeeScheduleFactory,
    NetworkFactory,
    OrganizationFactory,
    PayerFactory,
    PracticeFactory,
    UserFactory,
    _tenant,
)

NOW = datetime(2026, 11, 16, 17, 0, tzinfo=UTC)  # 11:00 AM in Chicago, Nov 16, 2026

# ---- the Maple Street Dental data -----------------------------------------------------------
#
# Office fees U: T0120 $80.00  T1110 $120.00  T2391 $200.00  T4910 $150.00 (T9310 none)
# Contract schedules (effective Jan 1, 2026):
#   Acme PPO   T0120 $50.00  T1110 $70.00   T2391 $120.00  T4910 $100.00  T9310 $45.00
#   Bolt PPO   T0120 $60.00  T1110 $90.00   T2391 $150.00  T4910 $100.00
#   Crest PPO  T0120 $64.00  T1110 $100.00  T2391 $160.00  T4910 $100.00
# Code mix (Acme Dental, priced by Acme PPO): one row per code for Feb 1 - Oct 31, 2026, the
# last full months with data before Nov 16: 9 whole months, annual factor 12/9 = 4/3:
#   T0120 27 -> V 36;  T1110 30 -> V 40;  T2391 9 -> V 12;  T4910 7 -> V 28/3 = 9.333...
# For Acme, E = A (every A is below U); peer M = mean of Bolt's and Crest's E:
#   T0120 (60 + 64)/2 = 62.00; T1110 (90 + 100)/2 = 95.00; T2391 (150 + 160)/2 = 155.00;
#   T4910 100.00 (no gap); T9310 no peer.
# Opportunity V x (M - E): T1110 40 x 25 = 1,000.00; T0120 36 x 12 = 432.00;
#   T2391 12 x 35 = 420.00; T4910 0 -> total 1,852.00, 80% = 1,481.60: the running total
#   1,000 -> 1,432 -> 1,852 first reaches it at T2391, so the 80% codes are T1110, T0120, T2391.
# Suggested ask min(U, max(E x 1.05, M)): T1110 max(73.50, 95) = 95.00; T0120 max(52.50, 62) =
#   62.00; T2391 max(126.00, 155) = 155.00 (T4910 105.00, but not an 80% code).
# Asked value V x (ask - E): 1,000.00 + 432.00 + 420.00 = $1,852.00.
# Weighted raise (1,000 + 432 + 420) / (40 x 70 + 36 x 50 + 12 x 120 = 6,040) = 30.66% -> 30.7%.

OFFICE = {"T0120": 8000, "T1110": 12000, "T2391": 20000, "T4910": 15000}
ACME = {"T0120": 5000, "T1110": 7000, "T2391": 12000, "T4910": 10000, "T9310": 4500}
BOLT = {"T0120": 6000, "T1110": 9000, "T2391": 15000, "T4910": 10000}
CREST = {"T0120": 6400, "T1110": 10000, "T2391": 16000, "T4910": 10000}
COUNTS = {"T0120": 27, "T1110": 30, "T2391": 9, "T4910": 7}
TARGET_ASKS = {"T0120": 6200, "T1110": 9500, "T2391": 15500}


def schedule(practice, kind, lines: dict[str, int], contract=None, label="", **kwargs):
    made = FeeScheduleFactory(
        practice=practice,
        kind=kind,
        contract_id=contract.id if contract else None,
        label=label or kind.value,
        effective_from=kwargs.pop("effective_from", date(2026, 1, 1)),
        **kwargs,
    )
    made.lines = [FeeLine(code=c, amount_cents=v) for c, v in lines.items()]
    return made


def build_maple() -> SimpleNamespace:
    org = OrganizationFactory(name="Maple Group")
    practice = PracticeFactory(org=org, name="Maple Street Dental", re_review_months=18)
    manager = UserFactory(org=org, email="manager@maple.test", name="Manny Manager")
    second = UserFactory(org=org, email="second@maple.test", name="Rita Second")
    viewer = UserFactory(org=org, email="viewer@maple.test", role=Role.VIEWER, name="Vera View")
    acme_payer = PayerFactory(org=org, name="Acme Dental")
    bolt_payer = PayerFactory(org=org, name="Bolt Mutual")
    crest_payer = PayerFactory(org=org, name="Crest Health")
    contracts = {}
    for name, payer in (("Acme", acme_payer), ("Bolt", bolt_payer), ("Crest", crest_payer)):
        network = NetworkFactory(
            org=org, name=f"{name} PPO", kind=NetworkKind.DIRECT, owner_payer_id=payer.id
        )
        # renewal far away: the review date is the practice's 18 months
        contracts[name] = ContractFactory(
            practice=practice, network=network, renewal_date=date(2030, 1, 1), notice_days=90
        )
    db.session.flush()
    schedule(practice, ScheduleKind.OFFICE, OFFICE, label="Office fees")
    baseline = schedule(
        practice, ScheduleKind.CONTRACT, ACME, contracts["Acme"], label="Acme schedule"
    )
    schedule(practice, ScheduleKind.CONTRACT, BOLT, contracts["Bolt"], label="Bolt schedule")
    schedule(practice, ScheduleKind.CONTRACT, CREST, contracts["Crest"], label="Crest schedule")
    for code, count in COUNTS.items():
        db.session.add(
            CodeVolume(
                organization_id=org.id,
                practice_id=practice.id,
                payer_id=acme_payer.id,
                code=code,
                period_start=date(2026, 2, 1),
                period_end=date(2026, 10, 31),
                count=count,
            )
        )
    other = _tenant("Beta Dental", ("East Office",))  # another organisation, with a campaign
    db.session.flush()
    return SimpleNamespace(
        practice_id=practice.id,
        acme=contracts["Acme"].id,
        bolt=contracts["Bolt"].id,
        baseline_id=baseline.id,
        manager=manager.email,
        second=second.email,
        viewer=viewer.email,
        other_campaign=other.campaign_ids[0],
        other_attachment=other.attachment_ids[0],
    )


class Clock:
    """The views' clock: 11:00 AM in Chicago on the day set."""

    def __init__(self) -> None:
        self.now = NOW

    def day(self, iso: str) -> None:
        self.now = datetime.combine(date.fromisoformat(iso), NOW.timetz())


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(views, "utcnow", lambda: clock.now)
    return clock


@pytest.fixture
def maple(app, clock):
    with database(app):
        return build_maple()


@pytest.fixture
def manager(client, maple):
    login(client, maple.manager)
    return client


def other_client(app, email: str):
    """A second browser, signed in as `email`."""
    browser = app.test_client()
    login(browser, email, PASSWORD)
    return browser


def seen(response) -> str:
    return unescape(html_text(response))


def version_on(page) -> str:
    """The version the page's forms carry (what a browser posts back)."""
    match = re.search(r'name="version" value="(\d+)"', page.get_data(as_text=True))
    assert match, page.get_data(as_text=True)[:1500]
    return match[1]


def request_key_on(page) -> str:
    match = re.search(r'name="request_key" value="([^"]+)"', page.get_data(as_text=True))
    assert match
    return match[1]


def campaign_url(cid: int, action: str = "") -> str:
    return f"/campaigns/{cid}" + (f"/{action}" if action else "")


def start(client, contract_id: int, key: str | None = None):
    if key is None:
        key = request_key_on(client.get(f"/campaigns/new?contract={contract_id}"))
    return client.post(
        "/campaigns/new",
        data={"contract": str(contract_id), "suggestions": "y", "request_key": key},
    )


def started_id(response) -> int:
    assert response.status_code == 303, seen(response)[:1500]
    match = re.search(r"/campaigns/(\d+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match[1])


def post(client, cid: int, action: str, data: dict, **kwargs):
    """A campaign page form, with the version the page shows right now."""
    version = version_on(client.get(campaign_url(cid)))
    return client.post(campaign_url(cid, action), data={"version": version} | data, **kwargs)


def move(client, cid: int, to: Step):
    return post(client, cid, "move", {"to": to.value}, follow_redirects=True)


def stored(app, cid: int) -> Campaign:
    with database(app) as s:
        campaign = s.get(Campaign, cid)
        s.expunge(campaign)
        return campaign


def code_rows(app, cid: int) -> dict[str, tuple]:
    with database(app) as s:
        rows = s.scalars(sa.select(CampaignCode).where(CampaignCode.campaign_id == cid)).all()
        return {
            r.code: (
                r.count,
                r.allowed_cents,
                r.office_cents,
                r.peer_cents,
                r.suggested_cents,
                r.is_target,
                r.asked_cents,
                r.granted_cents,
            )
            for r in rows
        }


def count(app, model, *where) -> int:
    with database(app) as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def submitted(client, clock, maple) -> int:
    """A campaign on Acme PPO opened Nov 16, its schedule received Nov 20, taken through steps
    1-4 and submitted on Nov 24 (figures frozen)."""
    cid = started_id(start(client, maple.acme))
    clock.day("2026-11-20")
    saved = post(
        client,
        cid,
        "details",
        {"schedule_requested_on": "2026-11-16", "schedule_received_on": "2026-11-20"},
    )
    assert saved.status_code == 303, seen(saved)[:1500]
    for step in (Step.BENCHMARK, Step.BUILD, Step.SUBMIT):
        assert f"is now in {step.label}" in seen(move(client, cid, step))
    clock.day("2026-11-24")
    saved = post(client, cid, "details", {"submitted_on": "2026-11-24", "sent_how": "email"})
    assert saved.status_code == 303, seen(saved)[:1500]
    assert "is now in Record response" in seen(move(client, cid, Step.RESPONSE))
    return cid


# ---- start ----------------------------------------------------------------------------------


def test_start_takes_the_80_percent_codes_and_their_suggested_asks(app, manager, maple):
    cid = started_id(start(manager, maple.acme))

    rows = code_rows(app, cid)
    # (count, A, U, M, suggested, target, asked, granted), from the data's comments
    assert rows == {
        "T0120": (27, 5000, 8000, 6200, 6200, True, 6200, None),
        "T1110": (30, 7000, 12000, 9500, 9500, True, 9500, None),
        "T2391": (9, 12000, 20000, 15500, 15500, True, 15500, None),
        "T4910": (7, 10000, 15000, 10000, 10500, False, None, None),
        "T9310": (0, 4500, None, None, None, False, None, None),
    }
    campaign = stored(app, cid)
    assert (campaign.step, campaign.status, campaign.opened_on) == (
        Step.REQUEST,
        Status.OPEN,
        date(2026, 11, 16),
    )
    assert campaign.baseline_schedule_id == maple.baseline_id
    assert (campaign.period_start, campaign.period_end) == (date(2026, 2, 1), date(2026, 10, 31))
    page = manager.get(campaign_url(cid))
    assert page.status_code == 200
    total = re.search(r'id="asked-total">([^<]+)<', page.get_data(as_text=True))
    assert total[1] == "$1,852.00"  # 1,000.00 + 432.00 + 420.00
    assert "3 target codes; weighted raise 30.7%" in seen(page)  # 1,852 / 6,040


def test_a_second_start_for_the_contract_is_refused_with_a_link_to_the_open_one(
    app, manager, maple
):
    cid = started_id(start(manager, maple.acme))

    again = start(manager, maple.acme)

    assert again.status_code == 422
    assert "already has an open campaign" in seen(again)
    assert f'href="/campaigns/{cid}"' in again.get_data(as_text=True)
    assert count(app, Campaign, Campaign.contract_id == maple.acme) == 1


def test_a_double_posted_start_form_opens_one_campaign(app, manager, maple):
    key = request_key_on(manager.get(f"/campaigns/new?contract={maple.acme}"))

    first = started_id(start(manager, maple.acme, key))
    second = started_id(start(manager, maple.acme, key))

    assert first == second
    assert count(app, Campaign, Campaign.contract_id == maple.acme) == 1


def test_the_board_shows_the_card_with_its_yearly_asked_value(manager, maple):
    cid = started_id(start(manager, maple.acme))

    board = manager.get("/campaigns/")

    assert board.status_code == 200
    card = re.search(
        rf'<article[^>]*id="card-{cid}">(.*?)</article>', board.get_data(as_text=True), re.S
    )
    assert card, board.get_data(as_text=True)[:2000]
    text = unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", card[1])))
    assert "Acme PPO" in text
    assert f"Maple Street Dental · #{cid}" in text
    assert "$1,852.00 /yr asked" in text  # the three targets' rows, see the data's comments


def test_a_long_board_column_shows_the_longest_waiting_first_and_opens_whole(
    manager, maple, clock, monkeypatch
):
    monkeypatch.setattr(views, "CARDS_PER_COLUMN", 1)
    older = started_id(start(manager, maple.acme))
    clock.day("2026-11-17")
    newer = started_id(start(manager, maple.bolt))

    board = manager.get("/campaigns/").get_data(as_text=True)
    # both in the first step: the one waiting since Nov 16 is shown, a link opens the column
    assert f'id="card-{older}"' in board
    assert f'id="card-{newer}"' not in board
    assert "Show all 2 in" in unescape(board)
    assert '<span class="badge">2</span>' in board  # the column's count stays whole

    whole = manager.get("/campaigns/?show=request").get_data(as_text=True)
    assert f'id="card-{older}"' in whole
    assert f'id="card-{newer}"' in whole
    assert "Show the first 1" in whole


# ---- steps ----------------------------------------------------------------------------------


def test_moves_are_refused_while_a_step_is_incomplete_and_back_after_submission(
    app, manager, clock, maple
):
    cid = started_id(start(manager, maple.acme))

    refused = move(manager, cid, Step.BENCHMARK)
    assert (
        "Request schedule is not complete: Enter the date the current schedule was received."
        in seen(refused)
    )
    assert stored(app, cid).step == Step.REQUEST

    clock.day("2026-11-20")
    post(manager, cid, "details", {"schedule_received_on": "2026-11-20"})
    for step in (Step.BENCHMARK, Step.BUILD, Step.SUBMIT):
        assert f"is now in {step.label}" in seen(move(manager, cid, step))

    refused = move(manager, cid, Step.RESPONSE)
    assert (
        "Submit is not complete: Enter the date the request was sent. "
        "Enter how the request was sent." in seen(refused)
    )
    campaign = stored(app, cid)
    assert (campaign.step, campaign.frozen_at) == (Step.SUBMIT, None)

    clock.day("2026-11-24")
    post(manager, cid, "details", {"submitted_on": "2026-11-24", "sent_how": "email"})
    assert "is now in Record response" in seen(move(manager, cid, Step.RESPONSE))
    campaign = stored(app, cid)
    assert campaign.frozen_at is not None
    assert campaign.response_due_on == date(2026, 12, 24)  # sent Nov 24 + the first 30 days

    back = move(manager, cid, Step.SUBMIT)
    assert (
        "The request is submitted and its figures are frozen; the campaign cannot go back "
        "to an earlier step." in seen(back)
    )
    assert stored(app, cid).step == Step.RESPONSE


# ---- inline asks ----------------------------------------------------------------------------


def ask(client, cid: int, code: str, asked: str, was: str):
    return client.post(
        campaign_url(cid, f"codes/{code}/ask"), data={"asked": asked, "was": was}, htmx=True
    )


def asked_total(fragment) -> str:
    return re.search(r'id="asked-total">([^<]+)<', fragment.get_data(as_text=True))[1]


def test_an_inline_ask_updates_the_row_and_the_total(app, manager, maple):
    cid = started_id(start(manager, maple.acme))

    fragment = ask(manager, cid, "T2391", "160.00", "15500")

    assert fragment.status_code == 200
    assert fragment.get_data(as_text=True).lstrip().startswith('<section id="codes"')
    # T2391 12 x (160.00 - 120.00) = 480.00; total 432.00 + 1,000.00 + 480.00 = 1,912.00
    assert asked_total(fragment) == "$1,912.00"
    assert code_rows(app, cid)["T2391"][6] == 16000


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ("120.00", "The ask for T2391 must be above its current allowed amount ($120.00)."),
        ("119.99", "The ask for T2391 must be above its current allowed amount ($120.00)."),
        (
            "200.01",
            "The ask for T2391 is above the office fee ($200.00): the payer pays at most the "
            "office fee.",
        ),
    ],
)
def test_an_ask_not_above_the_allowed_or_above_the_office_fee_is_refused(
    app, manager, maple, asked, message
):
    cid = started_id(start(manager, maple.acme))

    fragment = ask(manager, cid, "T2391", asked, "15500")

    assert fragment.status_code == 422
    assert message in seen(fragment)
    assert asked_total(fragment) == "$1,852.00"  # unchanged
    assert code_rows(app, cid)["T2391"][6] == 15500


def test_an_ask_from_a_stale_page_names_who_changed_it_and_saves_nothing(app, manager, maple):
    cid = started_id(start(manager, maple.acme))
    rita = other_client(app, maple.second)
    assert ask(rita, cid, "T2391", "160.00", "15500").status_code == 200

    stale = ask(manager, cid, "T2391", "170.00", "15500")  # the page still showed $155.00

    assert stale.status_code == 422
    text = seen(stale)
    assert "The ask for T2391 was changed to $160.00 by Rita Second at" in text
    assert "Reload to see it; nothing was saved." in text
    assert code_rows(app, cid)["T2391"][6] == 16000


# ---- frozen figures -------------------------------------------------------------------------


def import_schedule(client, maple, contract_id: int, csv: bytes, effective: str) -> int:
    """Upload and confirm a contract schedule through the import pages; the batch id."""
    uploaded = client.post(
        "/fees/imports/new",
        data={
            "practice_id": str(maple.practice_id),
            "kind": "contract",
            "contract_id": str(contract_id),
            "file": (io.BytesIO(csv), "acme.csv"),
        },
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 303, seen(uploaded)[:1500]
    batch_id = int(re.search(r"/fees/imports/(\d+)$", uploaded.headers["Location"])[1])
    form = {
        "col_code": "0",
        "col_description": "1",
        "col_amount": "2",
        "header_row": "",
        "prefix": "T",
        "decimal_comma": "",
        "duplicates": "first",
        "label": "Acme schedule",
        "effective_from": effective,
        "contract_id": str(contract_id),
    }
    confirmed = client.post(f"/fees/imports/{batch_id}/confirm", data=form)
    assert confirmed.status_code == 303, seen(confirmed)[:1500]
    return batch_id


NEW_ACME_CSV = (
    b"Code,Description,Max Allowance\n"
    b"T0120,Recall exam,$55.00\n"
    b"T1110,Adult cleaning,$75.00\n"
    b"T2391,Back filling,$125.00\n"
    b"T4910,Gum maintenance,$101.00\n"
)


def test_the_frozen_figures_do_not_change_when_a_new_version_is_imported(
    app, manager, clock, maple
):
    cid = submitted(manager, clock, maple)
    before = code_rows(app, cid)
    baseline = stored(app, cid).baseline_schedule_id

    batch_id = import_schedule(manager, maple, maple.acme, NEW_ACME_CSV, "2026-11-01")
    with database(app) as s:
        assert s.scalar(sa.select(sa.func.count()).where(FeeSchedule.import_batch_id == batch_id))

    page = manager.get(campaign_url(cid))
    refresh = manager.post(
        campaign_url(cid, "refresh"), data={"version": version_on(page)}, follow_redirects=True
    )
    assert "The request is submitted: its target codes and asks are frozen." in seen(refresh)
    assert code_rows(app, cid) == before
    assert stored(app, cid).baseline_schedule_id == baseline == maple.baseline_id
    page = manager.get(campaign_url(cid))
    assert re.search(r'id="asked-total">([^<]+)<', page.get_data(as_text=True))[1] == "$1,852.00"


# ---- the response and closing ---------------------------------------------------------------


def record_partial_response(client, cid: int):
    """T1110 as asked, T0120 lower ($58.00), T2391 declined, and T4910 (not asked) cut to
    $98.45."""
    return post(
        client,
        cid,
        "response",
        {
            "granted-T0120": "58.00",
            "granted-T1110": "",
            "granted-T2391": "120.00",
            "quick": "asked:T1110",
            "extra_code": "T4910",
            "extra_amount": "98.45",
            "responded_on": "2026-12-14",
        },
    )


def test_a_partial_response_closes_partial_with_a_full_copy_of_the_baseline(
    app, manager, clock, maple
):
    cid = submitted(manager, clock, maple)
    clock.day("2026-12-14")

    saved = record_partial_response(manager, cid)
    assert saved.status_code == 303, seen(saved)[:2000]
    page = manager.get(campaign_url(cid))
    html = page.get_data(as_text=True)
    # T1110 40 x (95.00 - 70.00) = 1,000.00; T0120 36 x (58.00 - 50.00) = 288.00; T2391 0.00;
    # T4910 28/3 x (98.45 - 100.00) = -43.40/3 = -14.4666... -> -14.47;
    # total 1,000.00 + 288.00 + 0.00 - 14.47 = 1,273.53
    assert re.search(r'id="realised-total">([^<]+)<', html)[1] == "$1,273.53"
    assert re.search(r'id="derived-outcome">([^<]+)<', html)[1] == "partial"
    assert code_rows(app, cid)["T4910"][7] == 9845

    clock.day("2026-12-15")
    closed = post(manager, cid, "close", {"effective_on": "2027-01-01"}, follow_redirects=True)

    assert f"Campaign #{cid} is closed: partial." in seen(closed)
    assert "The granted amounts are a new schedule version from Jan 1, 2027." in seen(closed)
    campaign = stored(app, cid)
    assert (campaign.status, campaign.outcome, campaign.override_reason) == (
        Status.CLOSED,
        Outcome.PARTIAL,
        "",
    )
    assert campaign.responded_on == date(2026, 12, 14)
    assert campaign.closed_on == date(2026, 12, 15)
    # the practice reviews every 18 months; renewal (Jan 1, 2030) and notice (Oct 3, 2029)
    # come later: Dec 15, 2026 + 18 months = Jun 15, 2028
    assert campaign.next_review_on == date(2028, 6, 15)
    assert campaign.new_fees_effective_on == date(2027, 1, 1)
    with database(app) as s:
        new = s.get(FeeSchedule, campaign.result_schedule_id)
        lines = {line.code: line.amount_cents for line in new.lines}
        assert (new.kind, new.contract_id, new.effective_from) == (
            ScheduleKind.CONTRACT,
            maple.acme,
            date(2027, 1, 1),
        )
        assert new.id != maple.baseline_id
    # every line of the baseline, with the granted amounts applied; T9310 copied unchanged
    assert lines == ACME | {"T0120": 5800, "T1110": 9500, "T2391": 12000, "T4910": 9845}
    with database(app) as s:
        baseline = {
            line.code: line.amount_cents for line in s.get(FeeSchedule, maple.baseline_id).lines
        }
    assert baseline == ACME  # the baseline itself is untouched
    assert services.totals(stored_with_codes(app, cid)).realised_gain == Decimal("1273.53")


def stored_with_codes(app, cid: int) -> Campaign:
    with database(app) as s:
        campaign = s.get(Campaign, cid)
        _ = (campaign.codes, campaign.practice)
        s.expunge_all()
        return campaign


def test_an_override_needs_a_reason_which_is_kept(app, manager, clock, maple):
    cid = submitted(manager, clock, maple)
    clock.day("2026-12-14")
    record_partial_response(manager, cid)
    schedules = count(app, FeeSchedule)

    refused = post(manager, cid, "close", {"effective_on": "2027-01-01", "outcome": "yes"})

    assert refused.status_code == 422
    assert "The response gives 'partial'; say why the outcome is 'yes'." in seen(refused)
    campaign = stored(app, cid)
    assert (campaign.status, campaign.outcome) == (Status.OPEN, None)
    assert count(app, FeeSchedule) == schedules

    reason = "Acme confirmed the T0120 raise rises to $62.00 next year"
    closed = post(
        manager,
        cid,
        "close",
        {"effective_on": "2027-01-01", "outcome": "yes", "reason": reason},
        follow_redirects=True,
    )

    assert f"Campaign #{cid} is closed: yes." in seen(closed)
    campaign = stored(app, cid)
    assert (campaign.status, campaign.outcome, campaign.override_reason) == (
        Status.CLOSED,
        Outcome.YES,
        reason,
    )
    assert count(app, FeeSchedule) == schedules + 1


# ---- optimistic locking ---------------------------------------------------------------------


def test_a_save_from_a_stale_page_names_who_changed_it_and_overwrites_nothing(app, manager, maple):
    cid = started_id(start(manager, maple.acme))
    rita = other_client(app, maple.second)
    mine = version_on(manager.get(campaign_url(cid)))
    hers = version_on(rita.get(campaign_url(cid)))
    assert mine == hers

    first = manager.post(campaign_url(cid, "details"), data={"version": mine, "notes": "Mine"})
    assert first.status_code == 303

    second = rita.post(campaign_url(cid, "details"), data={"version": hers, "notes": "Hers"})

    assert second.status_code == 422
    text = seen(second)
    # the save happened at NOW: 11:00 AM Central Standard Time
    assert (
        "This campaign was changed by Manny Manager at Nov 16, 2026 11:00 AM CST after you "
        "opened it. Reload the page to see the changes; nothing was saved." in text
    )
    campaign = stored(app, cid)
    assert campaign.notes == "Mine"
    assert campaign.updated_by_id is not None
    assert str(campaign.version) != hers


# ---- the activity log and attachments -------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def log_activity(client, cid: int, files=(), key: str | None = None, summary="Called Acme"):
    page = client.get(campaign_url(cid))
    data = {
        "kind": "call",
        "happened_on": "2026-11-13",
        "person": "Pat at provider relations",
        "summary": summary,
        "request_key": key or request_key_on(page),
    }
    fields = MultiDict(data)
    for name, body in files:
        fields.add("files", FileStorage(io.BytesIO(body), filename=name))
    # encoded in memory: the test client's own encoding spools a large body to a temporary
    # file that it never closes (a ResourceWarning, an error under filterwarnings)
    boundary, body = encode_multipart(fields)
    return client.post(
        campaign_url(cid, "activities"),
        data=body,
        content_type=f'multipart/form-data; boundary="{boundary}"',
    )


def test_an_attachment_downloads_byte_identical_as_an_attachment(app, manager, maple):
    cid = started_id(start(manager, maple.acme))

    logged = log_activity(manager, cid, files=[("letter.pdf", PDF)])

    assert logged.status_code == 303, seen(logged)[:1500]
    page = manager.get(campaign_url(cid))
    link = re.search(
        r'href="(/campaigns/attachments/\d+)"[^>]*>letter\.pdf<', page.get_data(as_text=True)
    )
    assert link, page.get_data(as_text=True)[-3000:]
    download = manager.get(link[1])
    assert download.status_code == 200
    assert download.data == PDF
    assert download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"] == "attachment; filename*=UTF-8''letter.pdf"


@pytest.mark.parametrize(
    ("name", "size", "message"),
    [
        (
            "setup.exe",
            100,
            "setup.exe: this type of file cannot be attached; use PDF, Word, Excel, CSV, text, "
            "email (.eml) or an image (PNG, JPEG).",
        ),
        ("big.pdf", services.MAX_ATTACHMENT_BYTES + 1, "big.pdf is larger than 10 MB."),
    ],
    ids=["exe", "too-large"],
)
def test_a_refused_file_writes_nothing(app, manager, maple, name, size, message):
    cid = started_id(start(manager, maple.acme))
    activities, attachments = count(app, Activity), count(app, Attachment)

    refused = log_activity(manager, cid, files=[(name, b"x" * size)])

    assert refused.status_code == 422
    assert message in seen(refused)
    assert (count(app, Activity), count(app, Attachment)) == (activities, attachments)


def test_a_file_at_the_size_limit_is_kept(app, manager, maple):
    cid = started_id(start(manager, maple.acme))

    logged = log_activity(manager, cid, files=[("scan.pdf", b"x" * services.MAX_ATTACHMENT_BYTES)])

    assert logged.status_code == 303, seen(logged)[:1500]
    with database(app) as s:
        sizes = s.scalars(sa.select(Attachment.size).where(Attachment.campaign_id == cid)).all()
    assert sizes == [services.MAX_ATTACHMENT_BYTES]


def test_a_double_posted_activity_is_logged_once(app, manager, maple):
    cid = started_id(start(manager, maple.acme))
    key = request_key_on(manager.get(campaign_url(cid)))

    assert log_activity(manager, cid, key=key).status_code == 303
    assert log_activity(manager, cid, key=key).status_code == 303

    assert count(app, Activity, Activity.campaign_id == cid) == 1


# ---- imports that campaigns rely on ---------------------------------------------------------


def test_undoing_the_import_of_a_campaigns_baseline_is_refused_naming_the_campaign(
    app, manager, maple
):
    batch_id = import_schedule(manager, maple, maple.acme, NEW_ACME_CSV, "2026-06-01")
    cid = started_id(start(manager, maple.acme))
    with database(app) as s:
        written = s.scalars(
            sa.select(FeeSchedule.id).where(FeeSchedule.import_batch_id == batch_id)
        ).all()
    assert stored(app, cid).baseline_schedule_id in written  # the newest version on Nov 16

    undo = manager.post(f"/fees/imports/{batch_id}/undo", follow_redirects=True)

    assert (
        f"This import cannot be undone: campaign #{cid} uses a schedule version it wrote as its "
        "baseline" in seen(undo)
    )
    assert count(app, FeeSchedule, FeeSchedule.id.in_(written)) == len(written)
    with database(app) as s:
        assert s.get(ImportBatch, batch_id).status.value == "confirmed"


# ---- viewers and other organisations --------------------------------------------------------

POST_ACTIONS = [
    "move",
    "details",
    "codes/T1110/ask",
    "targets",
    "refresh",
    "response",
    "close",
    "withdraw",
    "rounds",
    "activities",
    "leverage",
]


def test_a_viewer_sees_the_campaign_but_every_post_is_forbidden(app, manager, maple):
    cid = started_id(start(manager, maple.acme))
    before = (stored(app, cid).version, code_rows(app, cid), count(app, Activity))
    viewer = other_client(app, maple.viewer)

    page = viewer.get(campaign_url(cid))

    assert page.status_code == 200
    assert "Acme PPO" in seen(page)
    assert 'name="version"' not in page.get_data(as_text=True)  # no form to change it
    version = str(before[0])
    for action in POST_ACTIONS:
        response = viewer.post(
            campaign_url(cid, action),
            data={"version": version, "to": "benchmark", "notes": "x", "asked": "99.00"},
        )
        assert response.status_code == 403, action
    assert viewer.post("/campaigns/new", data={"contract": str(maple.bolt)}).status_code == 403
    assert (stored(app, cid).version, code_rows(app, cid), count(app, Activity)) == before
    assert count(app, Campaign, Campaign.contract_id == maple.bolt) == 0


def test_another_organisations_campaign_is_not_found(app, manager, maple):
    assert manager.get(campaign_url(maple.other_campaign)).status_code == 404
    assert manager.get(f"/campaigns/attachments/{maple.other_attachment}").status_code == 404
    response = manager.post(
        campaign_url(maple.other_campaign, "details"), data={"version": "1", "notes": "x"}
    )
    assert response.status_code == 404
    assert stored(app, maple.other_campaign).notes == ""


# ---- adding target codes: the suggestions and typed codes ----------------------------------


def offered(page) -> list[str]:
    select = re.search(r'<select id="add-codes".*?</select>', page.get_data(as_text=True), re.S)
    return re.findall(r'<option value="([^"]+)"', select[0])


def test_the_add_list_offers_the_codes_with_most_to_gain_and_any_code_can_be_typed(
    app, manager, maple, monkeypatch
):
    cid = started_id(start(manager, maple.acme))
    # the non-targets: T4910 7 x (105.00 - 100.00) = 35.00 to gain; T9310 nothing to suggest
    assert offered(manager.get(campaign_url(cid))) == ["T4910", "T9310"]
    monkeypatch.setattr(services, "SUGGESTED_CODES", 1)
    page = manager.get(campaign_url(cid))
    assert offered(page) == ["T4910"]
    assert "any of the 2 other codes of the baseline" in seen(page)

    # typed in lower case, with a comma and a repeat: both added once, T4910 at its suggestion
    fragment = post(manager, cid, "targets", {"on": "1", "more_codes": "t9310, T4910 t9310"},
                    htmx=True)  # fmt: skip

    assert fragment.status_code == 200
    rows = code_rows(app, cid)
    assert (rows["T4910"][5:7], rows["T9310"][5:7]) == ((True, 10500), (True, None))
    assert "5 target codes" in seen(fragment)


def test_an_unknown_typed_code_is_named_and_nothing_is_added(app, manager, maple):
    cid = started_id(start(manager, maple.acme))

    response = post(
        manager, cid, "targets", {"on": "1", "more_codes": "T4910, T9999"}, follow_redirects=True
    )

    assert "T9999 is not a code of this campaign's baseline schedule." in seen(response)
    assert code_rows(app, cid)["T4910"][5] is False  # the known code before it was not kept
