"""Run one unit of work in a process of its own, as the app would, and commit:
`python -m tests.web.crash_worker import|response DATABASE_URL ID USER_ID`. With
FEECAMPAIGNS_CRASH_AFTER_ROWS set, the process is killed part-way (campaigns/crashpoint.py)."""

from __future__ import annotations

import sys
from datetime import date
from decimal import Decimal

from campaigns.accounts.models import User
from campaigns.extensions import db
from campaigns.fees.imports import ImportOptions, confirm_schedule
from campaigns.fees.models import ImportBatch
from campaigns.modelbase import utcnow
from campaigns.negotiations import services
from campaigns.negotiations.models import Campaign
from tests.conftest import make_app


def main(kind: str, url: str, object_id: int, user_id: int) -> None:
    app = make_app(url)
    with app.app_context():
        user = db.session.get(User, user_id)
        if kind == "import":
            options = ImportOptions(
                mapping={"code": 0, "amount": 1}, prefix="T", effective_from=date(2026, 3, 1)
            )
            confirm_schedule(user, db.session.get(ImportBatch, object_id), options, None, utcnow())
        else:
            campaign = db.session.get(Campaign, object_id)
            granted = {r.code: Decimal(r.asked_cents) / 100 for r in campaign.codes if r.is_target}
            services.save_response(
                user,
                campaign,
                granted,
                responded_on=date(2026, 11, 20),
                version=campaign.version,
                now=utcnow(),
            )
        db.session.commit()
        db.engine.dispose()
    print("committed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
