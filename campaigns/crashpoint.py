"""A test-only hook that kills this process in the middle of a unit of work.

With `FEECAMPAIGNS_CRASH_AFTER_ROWS=N` in the environment, the process sends itself SIGKILL
(no cleanup, no rollback: as if the machine lost power or the OOM killer struck) once its
database statements have written N rows. tests/web/test_crash_consistency.py uses it to show
that an import confirm and a response save are all or nothing. Unset, as in every real
deployment, nothing is installed.
"""

from __future__ import annotations

import os
import signal
import threading

import sqlalchemy as sa

WRITES = ("INSERT", "UPDATE", "DELETE")


def install(after_rows: int) -> None:
    """Count the rows written by every engine of this process; die at `after_rows`."""
    written = 0
    lock = threading.Lock()

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        nonlocal written
        if not statement.lstrip().upper().startswith(WRITES):
            return
        with lock:
            written += len(parameters) if executemany else max(cursor.rowcount, 1)
            if written >= after_rows:
                os.kill(os.getpid(), signal.SIGKILL)

    sa.event.listen(sa.engine.Engine, "after_cursor_execute", count)
