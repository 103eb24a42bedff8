"""A process killed in the middle of an import confirm or a response save leaves the database
with all of it or none of it: a real process (tests/web/crash_worker.py) is killed with
SIGKILL once it has written N rows (campaigns/crashpoint.py), then the same work is run again
to the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date

import sqlalchemy as sa

from campaigns.accounts.models import User
from campaigns.fees.models import FeeLine, FeeSchedule, ImportBatch, ImportStatus
from campaigns.negotiations.models import Campaign, CampaignCode, Step
from tests.conftest import database

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CODES = 300  # T1000 .. T1299 in the office fee file


def _work(kind: str, url: str, object_id: int, user_id: int, crash_after: int | None):
    env = dict(os.environ)
    env.pop("FEECAMPAIGNS_CRASH_AFTER_ROWS", None)
    if crash_after is not None:
        env["FEECAMPAIGNS_CRASH_AFTER_ROWS"] = str(crash_after)
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "tests.web.crash_worker", kind, url, str(object_id), str(user_id)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _owner(s, email: str) -> int:
    return s.scalar(sa.select(User.id).where(User.email == email))


def test_an_import_confirm_killed_half_way_writes_nothing_and_then_completes(
    app, world, database_url
):
    data = "Code,Fee\n" + "".join(f"T{1000 + i},{50 + i}.25\n" for i in range(CODES))
    with database(app) as s:
        batch = s.get(ImportBatch, world.a.batch_ids[0])
        batch.data, batch.size = data.encode(), len(data)
        batch_id = batch.id
        owner = _owner(s, world.a.owner)
        schedules, lines = (
            s.scalar(sa.select(sa.func.count(FeeSchedule.id))),
            s.scalar(sa.select(sa.func.count(FeeLine.id))),
        )

    killed = _work("import", database_url, batch_id, owner, crash_after=CODES // 2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert "committed" not in killed.stdout
    with database(app) as s:
        assert s.get(ImportBatch, batch_id).status == ImportStatus.UPLOADED
        assert s.scalar(sa.select(sa.func.count(FeeSchedule.id))) == schedules
        assert s.scalar(sa.select(sa.func.count(FeeLine.id))) == lines

    done = _work("import", database_url, batch_id, owner, crash_after=None)
    assert done.returncode == 0, done.stderr
    with database(app) as s:
        assert s.get(ImportBatch, batch_id).status == ImportStatus.CONFIRMED
        assert s.scalar(sa.select(sa.func.count(FeeSchedule.id))) == schedules + 1
        assert s.scalar(sa.select(sa.func.count(FeeLine.id))) == lines + CODES
        # T1299's fee was 50 + 299 = $349.25
        assert (
            s.scalar(
                sa.select(FeeLine.amount_cents)
                .join(FeeSchedule, FeeSchedule.id == FeeLine.schedule_id)
                .where(FeeLine.code == "T1299")
                .order_by(FeeSchedule.id.desc())
                .limit(1)
            )
            == 34925
        )


def test_a_response_save_killed_half_way_records_no_answer_and_then_all(app, world, database_url):
    with database(app) as s:
        owner_id = _owner(s, world.a.owner)
        campaign = s.get(Campaign, world.a.campaign_ids[0])  # T1110 a target asked at $90.00
        campaign.step = Step.RESPONSE
        campaign.submitted_on = date(2026, 10, 15)
        for i in range(40):  # 40 more target codes: T2000 .. T2039, asked $10 over $60 + i
            campaign.codes.append(
                CampaignCode(
                    organization_id=campaign.organization_id,
                    code=f"T{2000 + i}",
                    count=10,
                    allowed_cents=6000 + 100 * i,
                    office_cents=9000 + 100 * i,
                    is_target=True,
                    asked_cents=7000 + 100 * i,
                )
            )
        s.flush()
        campaign_id, version = campaign.id, campaign.version

    killed = _work("response", database_url, campaign_id, owner_id, crash_after=20)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with database(app) as s:
        rows = s.scalars(sa.select(CampaignCode).where(CampaignCode.campaign_id == campaign_id))
        assert [r.code for r in rows if r.granted_cents is not None] == []
        assert s.get(Campaign, campaign_id).version == version
        assert s.get(Campaign, campaign_id).responded_on is None

    done = _work("response", database_url, campaign_id, owner_id, crash_after=None)
    assert done.returncode == 0, done.stderr
    with database(app) as s:
        granted = dict(
            s.execute(
                sa.select(CampaignCode.code, CampaignCode.granted_cents).where(
                    CampaignCode.campaign_id == campaign_id, CampaignCode.is_target.is_(True)
                )
            ).all()
        )
        assert len(granted) == 41  # T1110 and the 40 added
        assert granted["T1110"] == 9000
        assert granted["T2039"] == 7000 + 3900
        assert s.get(Campaign, campaign_id).responded_on == date(2026, 11, 20)
