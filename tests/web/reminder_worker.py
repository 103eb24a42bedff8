"""A delivery process for tests/web/test_reminder_processes.py: waits for the start file, then
runs the deliver job a few times at the given `now` (no scheduler lock: two of these compete
for the same reminders, which only the claims keep apart)."""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from pathlib import Path


def main() -> None:
    go, now, name = Path(sys.argv[1]), datetime.fromisoformat(sys.argv[2]), sys.argv[3]
    from campaigns import create_app
    from campaigns.reminders import jobs

    app = create_app({"SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"]})
    with app.app_context():
        from campaigns.extensions import db

        db.session.execute(db.text("SELECT 1"))  # connected before the start
        while not go.exists():
            time.sleep(0.002)
        for _ in range(3):
            print(name, jobs.deliver(now, name), flush=True)


if __name__ == "__main__":
    main()
