"""Speed of the analysis (issue 4, "Speed"): engine, service load and the analysis pages.

    .venv/bin/python bench/analysis.py [--scale 1] [--db sqlite|URL] [--runs 5] [--profile]

For each size (the group scale times --scale, then twice that) the script builds a fresh
database migrated by the real migrations, fills it with generated group-scale data by bulk
inserts, and measures (median of up to --runs runs, fewer when a figure exceeds its time
budget):

* engine: campaigns.benchmark.engine.analyse_practice for every practice, nothing cached;
* service: load_analysis for all practices, nothing cached, without the engine's share;
* pages, as a manager seeing all practices, with the Flask test client in this process:
  GET /analysis/ (scorecard), /analysis/matrix (default page, top 50 codes),
  /analysis/matrix?all=1 (full matrix), /analysis/contracts/<id> (contract detail), and the
  baseline GET /settings (the simplest logged-in page) measured in the same run; each
  page once as users mostly meet it (the analysis already computed for the current data
  version) and once uncached (the first request after a data change: the cache emptied).

Group scale: 10 practices, 40 networks (32 direct, 8 leased each pricing 2 payers: 48 payers),
a contract per practice x network, 800 fictional T-codes, an office schedule per practice,
3 contract schedule versions a year apart (each with every code), pricing routes for every
payer, and 12 months of volumes (each practice bills 200 codes to each payer, sparse months).
"Double the size" doubles the codes (and the codes billed per payer), so fee lines and
volume rows double and every page, the one-practice contract detail included, has twice
the work; `--double practices` doubles the practices (and so the contracts), `--double
networks` the networks and payers (so the contracts of each practice), instead.

Targets: every page <= 300 ms at group scale, and each page's time at double size <= 2.2x
(checked on the cached figures; the uncached ones are printed beside them).
The last line is `BENCH analysis ... ok=true|false`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import pstats
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402

import campaigns.models  # noqa: E402,F401  (every model first, in the app's own import order)
from campaigns import create_app  # noqa: E402
from campaigns.accounts.models import Organization, Practice, Role, User  # noqa: E402
from campaigns.accounts.services import create_user  # noqa: E402
from campaigns.benchmark import engine, service  # noqa: E402
from campaigns.codes import category  # noqa: E402
from campaigns.extensions import db  # noqa: E402
from campaigns.fees.models import (  # noqa: E402
    CodeVolume,
    FeeLine,
    FeeSchedule,
    ProcedureCode,
    ScheduleKind,
)
from campaigns.payers.models import Contract, Network, NetworkKind, Payer, PricingRoute  # noqa: E402

TARGET_MS = 300.0
TARGET_DOUBLING = 2.2
EMAIL = "bench-manager@bench.test"
PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway user in a throwaway database
CHUNK = 50_000

# ---- sizes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    practices: int = 10
    direct_networks: int = 32
    leased_networks: int = 8  # each prices 2 payers that have no network of their own
    codes: int = 800
    billed_codes: int = 200  # codes each practice bills to each payer in the year
    versions: int = 3
    months: int = 12

    @property
    def networks(self) -> int:
        return self.direct_networks + self.leased_networks

    @property
    def payers(self) -> int:
        return self.direct_networks + 2 * self.leased_networks

    def label(self) -> str:
        return (
            f"{self.practices} practices, {self.networks} networks, {self.payers} payers, "
            f"{self.practices * self.networks} contracts, {self.codes} codes"
        )


def sizes(scale: float, double: str) -> tuple[Size, Size]:
    base = Size()

    def scaled(factor: float) -> Size:
        if double == "practices":
            return Size(practices=max(1, round(base.practices * factor)))
        if double == "networks":
            return Size(
                direct_networks=max(1, round(base.direct_networks * factor)),
                leased_networks=max(1, round(base.leased_networks * factor)),
            )
        return Size(
            codes=max(10, round(base.codes * factor)),
            billed_codes=max(3, round(base.billed_codes * factor)),
        )

    return scaled(scale), scaled(2 * scale)


# ---- the database --------------------------------------------------------------------------


@contextmanager
def fresh_database(db_arg: str) -> Iterator[str]:
    """A new empty database: a SQLite file in a temporary folder, or a PostgreSQL schema."""
    if db_arg == "sqlite":
        folder = tempfile.mkdtemp(prefix="bench-analysis-")
        try:
            yield f"sqlite:///{folder}/bench.db"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    if not db_arg.startswith("postgresql"):
        raise SystemExit(f"--db takes 'sqlite' or a postgresql URL, not {db_arg!r}")
    schema = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(db_arg)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in db_arg else "?"
    try:
        yield f"{db_arg}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def make_app(url: str) -> Flask:
    from flask_migrate import upgrade

    from tests.conftest import BrowserLikeClient

    app = create_app(
        {
            "SECRET_KEY": "bench-secret-key",
            "SQLALCHEMY_DATABASE_URI": url,
            "WTF_CSRF_SSL_STRICT": False,
            "PROPAGATE_EXCEPTIONS": True,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    app.test_client_class = BrowserLikeClient
    with app.app_context():
        upgrade()
    return app


# ---- data ----------------------------------------------------------------------------------


def month_starts(today: date, months: int) -> list[date]:
    """The first days of the `months` full calendar months before today's month."""
    first = today.replace(day=1)
    starts = []
    for _ in range(months):
        first = (first - timedelta(days=1)).replace(day=1)
        starts.append(first)
    return sorted(starts)


def month_end(start: date) -> date:
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def years_before(d: date, years: int) -> date:
    return d.replace(year=d.year - years, day=min(d.day, 28))


def fictional_codes(count: int, rng: random.Random) -> list[str]:
    """`count` distinct T-codes (T0001..T9999): never a D-code, no CDT content."""
    return [f"T{n:04d}" for n in sorted(rng.sample(range(1, 10000), count))]


def bulk_insert(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    """executemany on SQLite; multi-row VALUES statements on PostgreSQL, whose analysis-version
    triggers run once per statement (an executemany there is one statement per row)."""
    if conn.dialect.name != "postgresql":
        conn.execute(sa.insert(table), rows)
        return
    step = max(1, 20_000 // max(1, len(rows[0])))  # well under the 65,535 bind parameters
    for start in range(0, len(rows), step):
        conn.execute(sa.insert(table).values(rows[start : start + step]))


class Inserter:
    """Bulk inserts in chunks, so memory stays flat at any size."""

    def __init__(self, conn: sa.Connection, table: sa.Table, after: Inserter | None = None):
        self.conn, self.table, self.rows, self.count = conn, table, [], 0
        self.after = after  # rows this table refers to go in first

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.after:
            self.after.flush()
        if self.rows:
            bulk_insert(self.conn, self.table, self.rows)
            self.count += len(self.rows)
            self.rows = []


@dataclass
class Built:
    user_id: int
    contract_id: int  # the contract whose detail page is measured
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def build(app: Flask, size: Size, today: date, seed: int = 4) -> Built:
    """Generate the group: explicit ids, bulk inserts, deterministic for a seed and a day."""
    started = time.perf_counter()
    rng = random.Random(seed)
    with app.app_context():
        org = Organization(name="Bench Dental Group")
        db.session.add(org)
        db.session.flush()
        user = create_user(
            None,
            org,
            email=EMAIL,
            name="Bench Manager",
            role=Role.MANAGER,
            password=PASSWORD,
            must_change=False,
        )
        db.session.commit()
        org_id, user_id = org.id, user.id

        codes = fictional_codes(size.codes, rng)
        # popularity: a few codes are billed a lot, most rarely (procedures a month, all payers)
        ranked = codes[:]
        rng.shuffle(ranked)
        monthly_rate = {code: 240.0 / (i + 1) ** 1.05 for i, code in enumerate(ranked)}
        base_fee = {code: math.exp(rng.uniform(math.log(25), math.log(2800))) for code in codes}
        months = month_starts(today, size.months)
        counts: dict[str, int] = {}

        with db.engine.begin() as conn:

            def insert(table: sa.Table, rows: list[dict]) -> None:
                if rows:
                    bulk_insert(conn, table, rows)
                counts[table.name] = counts.get(table.name, 0) + len(rows)

            insert(
                ProcedureCode.__table__,
                [
                    {
                        "organization_id": org_id,
                        "code": c,
                        "description": f"Bench procedure {c}",
                        "category": category(c),
                    }
                    for c in codes
                ],
            )
            payer_ids = list(range(1, size.payers + 1))
            insert(
                Payer.__table__,
                [
                    {
                        "id": pid,
                        "organization_id": org_id,
                        "name": f"Bench Payer {pid:03d}",
                        "payer_id": f"BP{pid:03d}",
                    }
                    for pid in payer_ids
                ],
            )
            # networks 1..direct: owned by payer n; then leased ones pricing 2 payers each
            network_rows, prices = [], {}
            for n in range(1, size.networks + 1):
                direct = n <= size.direct_networks
                network_rows.append(
                    {
                        "id": n,
                        "organization_id": org_id,
                        "name": f"Bench {'PPO' if direct else 'Leased Network'} {n:03d}",
                        "kind": NetworkKind.DIRECT if direct else NetworkKind.LEASED,
                        "owner_payer_id": n if direct else None,
                    }
                )
                if direct:
                    prices[n] = (n,)
                else:
                    first = size.direct_networks + 2 * (n - size.direct_networks - 1) + 1
                    prices[n] = (first, first + 1)
            insert(Network.__table__, network_rows)
            network_ratio = {n: rng.uniform(0.50, 0.85) for n in prices}

            practice_ids = list(range(1, size.practices + 1))
            insert(
                Practice.__table__,
                [
                    {
                        "id": p,
                        "organization_id": org_id,
                        "name": f"Bench Practice {p:03d}",
                        "time_zone": "America/Chicago",
                    }
                    for p in practice_ids
                ],
            )
            contract_rows, route_rows, contract_of = [], [], {}
            for p in practice_ids:
                for n in prices:
                    cid = len(contract_rows) + 1
                    contract_of[(p, n)] = cid
                    contract_rows.append(
                        {
                            "id": cid,
                            "organization_id": org_id,
                            "practice_id": p,
                            "network_id": n,
                            "effective_date": date(today.year - 4, 1 + n % 12, 1),
                            "renewal_date": date(today.year + 1, 1 + (n * 5) % 12, 1),
                            "notice_days": 90,
                        }
                    )
                    route_rows += [
                        {
                            "organization_id": org_id,
                            "practice_id": p,
                            "payer_id": payer,
                            "network_id": n,
                        }
                        for payer in prices[n]
                    ]
            insert(Contract.__table__, contract_rows)
            insert(PricingRoute.__table__, route_rows)

            schedules = Inserter(conn, FeeSchedule.__table__)
            lines = Inserter(conn, FeeLine.__table__, after=schedules)
            for p in practice_ids:
                level = rng.uniform(0.9, 1.15)
                office = {c: round(base_fee[c] * level) * 100 for c in codes}
                sid = schedules.count + len(schedules.rows) + 1
                schedules.add(
                    {
                        "id": sid,
                        "organization_id": org_id,
                        "practice_id": p,
                        "kind": ScheduleKind.OFFICE,
                        "contract_id": None,
                        "label": "Office fees",
                        "effective_from": years_before(today, 3),
                        "source": "bench",
                    }
                )
                for c in codes:
                    lines.add({"schedule_id": sid, "code": c, "amount_cents": office[c]})
                for n in prices:
                    cid = contract_of[(p, n)]
                    latest = today - timedelta(days=rng.randint(15, 330))
                    current = {
                        c: office[c] * (network_ratio[n] + rng.uniform(-0.08, 0.08)) for c in codes
                    }
                    for v in range(size.versions):  # oldest first, 3% a year lower
                        sid = schedules.count + len(schedules.rows) + 1
                        age = size.versions - 1 - v
                        schedules.add(
                            {
                                "id": sid,
                                "organization_id": org_id,
                                "practice_id": p,
                                "kind": ScheduleKind.CONTRACT,
                                "contract_id": cid,
                                "label": f"Contract {cid} fees",
                                "effective_from": years_before(latest, age),
                                "source": "bench",
                            }
                        )
                        factor = 1 - 0.03 * age
                        for c in codes:
                            lines.add(
                                {
                                    "schedule_id": sid,
                                    "code": c,
                                    "amount_cents": round(current[c] * factor),
                                }
                            )
            lines.flush()
            counts["fee_schedules"], counts["fee_lines"] = schedules.count, lines.count

            volumes = Inserter(conn, CodeVolume.__table__)
            by_rate = sorted(codes, key=lambda c: -monthly_rate[c])
            for p in practice_ids:
                practice_size = rng.uniform(0.6, 1.4)
                shares = [rng.expovariate(1.0) for _ in payer_ids]
                total_share = sum(shares)
                core = by_rate[: size.billed_codes * 3 // 5]  # every payer sees the common codes
                for payer, share in zip(payer_ids, shares, strict=True):
                    rest = rng.sample(by_rate[len(core) :], size.billed_codes - len(core))
                    for c in core + rest:
                        mean = monthly_rate[c] * practice_size * share / total_share
                        for start in months:
                            expected = mean * rng.uniform(0.5, 1.5)
                            count = int(expected) + (rng.random() < expected % 1)
                            if count:
                                volumes.add(
                                    {
                                        "organization_id": org_id,
                                        "practice_id": p,
                                        "payer_id": payer,
                                        "code": c,
                                        "period_start": start,
                                        "period_end": month_end(start),
                                        "count": count,
                                    }
                                )
            volumes.flush()
            counts["code_volumes"] = volumes.count

            if conn.dialect.name == "postgresql":  # explicit ids: move the sequences on
                for table in ("payers", "networks", "practices", "contracts", "fee_schedules"):
                    conn.execute(
                        sa.text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                            f"(SELECT max(id) FROM {table}))"
                        )
                    )
        if db.engine.dialect.name == "sqlite":
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
        else:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE")
    return Built(user_id, contract_of[(1, 1)], counts, time.perf_counter() - started)


# ---- timing --------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    wall: list[float] = field(default_factory=list)  # seconds
    cpu: list[float] = field(default_factory=list)  # this process's CPU seconds
    note: str = ""

    @property
    def ms(self) -> float:
        return statistics.median(self.wall) * 1000

    @property
    def cpu_ms(self) -> float:
        return statistics.median(self.cpu) * 1000


class Deadline(Exception):
    """The run's time limit passed: the figures left are not measured."""


def sample(
    runs: int, budget: float, deadline: float, once: Callable[[], dict[str, tuple[float, float]]]
) -> dict[str, Figure]:
    """Up to `runs` calls of `once` (it returns name -> (wall, cpu) seconds), then the medians.

    The first call warms up (templates compiled, caches filled) and is dropped unless it took
    over a second (then warming up is noise, and repeating a slow page costs minutes). Fewer
    runs once `budget` seconds are spent on the figure; none past the run's `deadline`."""
    figures: dict[str, Figure] = {}
    spent, first = 0.0, True
    while True:
        if time.monotonic() > deadline:
            raise Deadline
        t0 = time.perf_counter()
        result = once()
        spent += time.perf_counter() - t0
        keep = not first or max(w for w, _c in result.values()) > 1.0
        first = False
        if keep:
            for name, (wall, cpu) in result.items():
                figure = figures.setdefault(name, Figure(name))
                figure.wall.append(wall)
                figure.cpu.append(cpu)
        done = len(next(iter(figures.values())).wall) if figures else 0
        if done >= runs or (done and spent >= budget):
            return figures


@contextmanager
def engine_spy() -> Iterator[dict]:
    """Record the engine's inputs and its share (wall, CPU) of each load_analysis call (the
    service runs analyse_practice once per practice it has not cached)."""
    seen: dict = {"engine": (0.0, 0.0), "inputs": []}
    original = engine.analyse_practice

    def spy(practice):
        t0, c0 = time.perf_counter(), time.process_time()
        result = original(practice)
        wall, cpu = seen["engine"]
        seen["engine"] = (wall + time.perf_counter() - t0, cpu + time.process_time() - c0)
        seen["inputs"].append(practice)
        return result

    engine.analyse_practice = spy
    try:
        yield seen
    finally:
        engine.analyse_practice = original


def measure_core(app: Flask, built: Built, today: date, args, deadline: float) -> dict:
    """load_analysis for all practices with nothing cached (the first request after a data
    change); the engine's share is timed inside the same call, the service's is the rest."""
    with app.app_context(), engine_spy() as seen:

        def load() -> dict[str, tuple[float, float]]:
            db.session.remove()  # a fresh session each time, as in a request
            service.analysis_cache().clear()
            seen["engine"], seen["inputs"] = (0.0, 0.0), []
            user = db.session.get(User, built.user_id)
            t0, c0 = time.perf_counter(), time.process_time()
            service.load_analysis(user, None, today)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            e_wall, e_cpu = seen["engine"]
            return {"engine": (e_wall, e_cpu), "service": (wall - e_wall, cpu - e_cpu)}

        figures = sample(args.runs, args.budget, deadline, load)
        inputs = seen["inputs"]
    rows = sum(len(c.allowed) for p in inputs for c in p.contracts)
    figures["engine"].name = "engine (analyse_practice x practices)"
    figures["engine"].note = f"{rows:,} contract x code rows, uncached"
    figures["service"].name = "service load_analysis minus engine"
    figures["service"].note = "uncached"
    return figures


PAGES = (
    ("baseline", "GET /settings (baseline)", "/settings"),
    ("scorecard", "GET /analysis/ (scorecard)", "/analysis/"),
    ("matrix", "GET /analysis/matrix (default page)", "/analysis/matrix"),
    ("matrix_all", "GET /analysis/matrix?all=1 (full, p. 1)", "/analysis/matrix?all=1"),
    ("contract", "GET /analysis/contracts/<id> (detail)", "/analysis/contracts/{cid}"),
    ("targets", "GET /analysis/targets (target list)", "/analysis/targets"),
)
PAGE_KEYS = ("scorecard", "matrix", "matrix_all", "contract", "targets")
COLD_KEYS = tuple(f"cold_{key}" for key in PAGE_KEYS)


def logged_in_client(app: Flask) -> FlaskClient:
    client = app.test_client()  # tests.conftest.BrowserLikeClient: sends the CSRF token
    response = client.post("/login", data={"email": EMAIL, "password": PASSWORD})
    if response.status_code != 303:
        raise SystemExit(f"login failed: {response.status_code}")
    return client


def get(client: FlaskClient, path: str) -> int:
    response = client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"GET {path} answered {response.status_code}")
    return len(response.get_data())


def measure_pages(app: Flask, built: Built, args, deadline: float) -> dict:
    """Each page as users mostly meet it (the analysis cached by an earlier request), then
    cold: the first request after a data change, with this process's cache emptied."""
    client = logged_in_client(app)
    figures = {}
    for cold in (False, True):
        for key, label, path in PAGES:
            if cold and key == "baseline":
                continue
            path = path.format(cid=built.contract_id)
            size = 0
            name = f"cold_{key}" if cold else key

            def once(path=path, name=name, cold=cold) -> dict[str, tuple[float, float]]:
                nonlocal size
                if cold:
                    with app.app_context():
                        service.analysis_cache().clear()
                t0, c0 = time.perf_counter(), time.process_time()
                size = get(client, path)
                return {name: (time.perf_counter() - t0, time.process_time() - c0)}

            runs = max(args.runs, 15) if key == "baseline" else args.runs
            figures.update(sample(runs, args.budget, deadline, once))
            figures[name].name = f"{label}, uncached" if cold else label
            figures[name].note = f"{size / 1024:,.0f} KiB"
    return figures


def profile_engine(inputs: list, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(engine.analyse_group, inputs)
    print_profile(profiler, "engine.analyse_group (all practices)", top)


def profile_pages(app: Flask, built: Built, top: int) -> None:
    """One request of each analysis page under cProfile (several times slower than unprofiled)."""
    client = logged_in_client(app)
    for key, label, path in PAGES:
        if key == "baseline":
            continue
        path = path.format(cid=built.contract_id)
        profiler = cProfile.Profile()
        profiler.runcall(get, client, path)
        print_profile(profiler, label, top)


def print_profile(profiler: cProfile.Profile, label: str, top: int) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    print(f"\n---- profile: {label}, by own time (top {top}) ----")
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    total = next((line.strip() for line in lines if "function calls" in line), "")
    print(total)
    print("\n".join(line for line in lines[start:] if line.strip()), flush=True)


# ---- the run -------------------------------------------------------------------------------


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def peak_mib() -> float:
    """This process's peak resident memory (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_size(args, size: Size, today: date, deadline: float, profile: bool) -> dict:
    figures: dict[str, Figure] = {}
    with fresh_database(args.db) as url:
        app = make_app(url)
        built = build(app, size, today)
        print(
            f"\n== {size.label()}\n   built in {built.seconds:.1f}s: "
            + ", ".join(f"{k} {v:,}" for k, v in built.counts.items()),
            flush=True,
        )
        t0 = time.perf_counter()
        try:
            figures.update(measure_core(app, built, today, args, deadline))
            figures.update(measure_pages(app, built, args, deadline))
        except Deadline:
            print(f"   time limit ({args.max_seconds:.0f}s) passed: the rest is not measured")
        base = figures["baseline"].ms if "baseline" in figures else float("nan")
        print(f"   {'':44s} {'wall ms':>9s} {'x base':>7s} {'cpu ms':>9s} {'runs':>4s}")
        for f in figures.values():
            print(
                f"   {f.name:44s} {f.ms:9.1f} {f.ms / base:7.1f} {f.cpu_ms:9.1f} "
                f"{len(f.wall):4d}  {f.note}",
                flush=True,
            )
        print(f"   measured in {time.perf_counter() - t0:.0f}s; load average {load_average()}")
        if profile:
            with app.app_context(), engine_spy() as seen:
                service.analysis_cache().clear()
                service.load_analysis(db.session.get(User, built.user_id), None, today)
                inputs = seen["inputs"]
            profile_engine(inputs, args.profile_top)
            profile_pages(app, built, args.profile_top)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = group scale (default)")
    parser.add_argument("--db", default="sqlite", help="sqlite (default) or a postgresql URL")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure, median (5)")
    parser.add_argument(
        "--budget", type=float, default=8.0, help="seconds per figure before fewer runs (8)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=600.0, help="stop measuring after this (600)"
    )
    parser.add_argument(
        "--double",
        choices=("codes", "practices", "networks"),
        default="codes",
        help="what doubles (codes)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the engine and each page at --scale"
    )
    parser.add_argument("--profile-top", type=int, default=15, help="profile lines (15)")
    args = parser.parse_args()

    started = time.perf_counter()
    deadline = time.monotonic() + args.max_seconds
    today = date.today()
    small, large = sizes(args.scale, args.double)
    print(
        f"analysis benchmark: scale {args.scale}, database {args.db.split(':')[0]}, doubling "
        f"the {args.double}; {os.cpu_count()} CPUs, load average {load_average()}",
        flush=True,
    )
    one = run_size(args, small, today, deadline, args.profile)
    two = run_size(args, large, today, deadline, False)

    print("\n== doubling: time at double size / time at size (wall; cpu)")
    doubling = {}
    for key in ("engine", "service", *PAGE_KEYS, *COLD_KEYS, "baseline"):
        if key not in one or key not in two:
            print(f"   {key:44s} not measured")
            continue
        doubling[key] = two[key].ms / one[key].ms
        cpu = two[key].cpu_ms / one[key].cpu_ms if one[key].cpu_ms else float("nan")
        print(f"   {one[key].name:44s} {doubling[key]:5.2f}x; {cpu:5.2f}x")
    measured = all(k in one and k in two for k in PAGE_KEYS)
    over = [k for k in PAGE_KEYS if k in one and one[k].ms > TARGET_MS]
    steep = [k for k in PAGE_KEYS if doubling.get(k, 0) > TARGET_DOUBLING]
    worst = max((doubling[k] for k in PAGE_KEYS if k in doubling), default=float("nan"))
    ok = measured and not over and not steep
    print(
        f"\ntargets: each page <= {TARGET_MS:.0f} ms: "
        + (f"missed by {', '.join(over)}" if over else "met" if measured else "not measured")
        + f"; doubling <= {TARGET_DOUBLING}x: "
        + (f"missed by {', '.join(steep)}" if steep else "met" if measured else "not measured")
        + ("" if measured else " (time limit: some pages not measured)")
        + f". Total {time.perf_counter() - started:.0f}s, peak memory {peak_mib():,.0f} MiB."
    )

    def ms(key: str) -> str:
        return f"{one[key].ms:.1f}" if key in one else "nan"

    print(
        f"engine_ms={ms('engine')} service_ms={ms('service')} (all practices, scale {args.scale})"
    )
    print(
        "BENCH analysis "
        f"scorecard_ms={ms('scorecard')} matrix_ms={ms('matrix')} "
        f"matrix_all_ms={ms('matrix_all')} contract_ms={ms('contract')} "
        f"targets_ms={ms('targets')} baseline_ms={ms('baseline')} worst_doubling={worst:.2f} "
        f"cold_scorecard_ms={ms('cold_scorecard')} cold_matrix_ms={ms('cold_matrix')} "
        f"cold_matrix_all_ms={ms('cold_matrix_all')} cold_contract_ms={ms('cold_contract')} "
        f"cold_targets_ms={ms('cold_targets')} "
        f"target={TARGET_MS:.0f}ms,{TARGET_DOUBLING}x ok={'true' if ok else 'false'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
