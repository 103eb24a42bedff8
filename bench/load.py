"""Load (issue 8, "Load"): the app under gunicorn on PostgreSQL with group-scale data and many
simulated users, each waiting between actions as a person does.

    .venv/bin/python bench/load.py [--db URL] [--users 50] [--seconds 60] [--workers 2]

The script builds a fresh PostgreSQL schema (the real migrations, the group-scale data of
bench/analysis.py, and one campaign per simulated user in the build step for its ask edits
and one in the response step for its response saves), starts gunicorn with `--workers`
workers from the repository's configuration file on a free loopback port, and then:

1. think-time run: `--users` users, each signed in with its own session, loop for
   `--seconds` seconds over a realistic mix (below), waiting 1-3 s (uniform) between actions;
   the server time of every request is recorded by endpoint (wall time at the client);
2. saturation: `--saturation-users` users with no think time for `--saturation-seconds`,
   once on the same mix and once on the simplest logged-in page (GET /settings), giving the
   throughput in requests/s of each, measured in the same run.

The mix, per action: the campaign board 20%, a campaign page 25%, the scorecard 10%, the
default code matrix 10%, a contract detail 10%, the target list 5%, an inline ask edit (htmx
POST) 10%, a response save (page, then POST) 10%. Before the timed run every worker has
been asked once for each analysis page (a fresh worker computes the analysis once per data
version; the figure for that first request is bench/analysis.py's "uncached" one).

Targets: p95 <= 200 ms for each endpoint in the think-time run, and no errors (any answer
other than the expected one, or a connection error). Loopback only; bounded in time and
count. The last line is `BENCH load ... ok=true|false`.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.analysis import (  # noqa: E402
    EMAIL,
    PASSWORD,
    Size,
    build,
    fresh_database,
    load_average,
    make_app,
)
from campaigns.accounts.models import User  # noqa: E402
from campaigns.extensions import db  # noqa: E402
from campaigns.negotiations import services  # noqa: E402
from campaigns.negotiations.models import Campaign, Step  # noqa: E402
from campaigns.payers.models import Contract  # noqa: E402

TARGET_P95_MS = 200.0
DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MIX = (
    ("board", 20),
    ("campaign", 25),
    ("scorecard", 10),
    ("matrix", 10),
    ("contract", 10),
    ("targets", 5),
    ("ask", 10),
    ("response", 10),
)
ANALYSIS_PAGES = ("/analysis/", "/analysis/matrix", "/analysis/targets")


# ---- data ------------------------------------------------------------------------------------


@dataclass
class Pair:
    """One simulated user's own campaigns: one to edit asks on, one to record answers on."""

    build_id: int
    build_code: str
    build_allowed_cents: int
    build_office_cents: int
    response_id: int
    response_code: str
    contract_id: int
    asked_cents: int = 0  # the stored ask of build_code, as the user last saw it


def make_campaigns(app, users: int, today: date) -> list[Pair]:
    """Two campaigns per user on distinct contracts, through the real services: one left in
    the build step with a target code, one moved on to the response step."""
    now = datetime.now(UTC)
    pairs = []
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == EMAIL))
        contracts = db.session.scalars(sa.select(Contract).order_by(Contract.id)).all()
        if len(contracts) < 2 * users:
            raise SystemExit(f"{users} users need {2 * users} contracts; the data has fewer")
        chosen = contracts[:: max(1, len(contracts) // (2 * users))][: 2 * users]
        made = []
        for contract in chosen:
            campaign = services.start_campaign(user, contract, today=today, now=now)
            campaign.schedule_received_on = today - timedelta(days=20)
            # a target code with room for asks: above the allowed amount, up to the office fee
            roomy = [
                r
                for r in campaign.codes
                if r.allowed_cents and r.office_cents and r.office_cents > r.allowed_cents + 1000
            ]
            target = next((r for r in roomy if r.is_target), roomy[0])
            target.is_target = True
            target.asked_cents = target.allowed_cents + 500
            for step in (Step.BENCHMARK, Step.BUILD):
                services.move(user, campaign, step, version=campaign.version, today=today, now=now)
                db.session.flush()
            made.append((campaign, target))
        for index in range(users):
            build_campaign, build_target = made[2 * index]
            answer, answer_target = made[2 * index + 1]
            answer.submitted_on = today - timedelta(days=10)
            answer.sent_how = "email"
            for step in (Step.SUBMIT, Step.RESPONSE):
                services.move(user, answer, step, version=answer.version, today=today, now=now)
                db.session.flush()
            pairs.append(
                Pair(
                    build_campaign.id,
                    build_target.code,
                    build_target.allowed_cents,
                    build_target.office_cents,
                    answer.id,
                    answer_target.code,
                    build_campaign.contract_id,
                    build_target.asked_cents,
                )
            )
        db.session.commit()
        open_count = db.session.scalar(sa.select(sa.func.count()).select_from(Campaign))
    print(f"   {open_count} campaigns made ({users} in the build step, {users} answering)")
    return pairs


# ---- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(url: str, workers: int, port: int) -> subprocess.Popen:
    env = dict(
        os.environ,
        DATABASE_URL=url,
        SECRET_KEY="bench-load-secret",  # noqa: S106 - a throwaway server on loopback
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=str(workers),
    )
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "-c",
            "python:campaigns.gunicorn_conf",
            "--access-logfile",
            "/dev/null",
            "app:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn stopped: {server.stderr.read()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start listening within 60 s")


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


# ---- a simulated user ------------------------------------------------------------------------

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
ALERT = re.compile(r'role="alert"[^>]*>([^<]+)<')
VERSION_FIELD = re.compile(r'name="version" value="(\d+)"')


class Session:
    """One browser: a keep-alive connection, its cookies and its CSRF token."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}
        self.token = ""

    def request(
        self, method: str, path: str, form: dict | None = None, htmx: bool = False
    ) -> tuple[int, str, float]:
        headers = {"Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["X-CSRFToken"] = self.token
        if htmx:
            headers["HX-Request"] = "true"
        started = time.perf_counter()
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                text = response.read().decode("utf-8", "replace")
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()  # a keep-alive connection the server closed: open anew
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
                started = time.perf_counter()
        elapsed = (time.perf_counter() - started) * 1000
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        found = CSRF_META.search(text)
        if found:
            self.token = found.group(1)
        return response.status, text, elapsed

    def sign_in(self) -> None:
        status, _text, _ms = self.request("GET", "/login")
        if status != 200 or not self.token:
            raise SystemExit(f"GET /login answered {status}")
        status, _text, _ms = self.request(
            "POST", "/login", {"email": EMAIL, "password": PASSWORD, "csrf_token": self.token}
        )
        if status != 303:
            raise SystemExit(f"sign-in answered {status}")


@dataclass
class Recorder:
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, endpoint: str, ms: float, ok: bool, what: str) -> None:
        with self.lock:
            self.times[endpoint].append(ms)
            if not ok:
                self.errors[endpoint] += 1
                if len(self.examples) < 10:
                    self.examples.append(what)


class SimulatedUser:
    def __init__(self, port: int, pair: Pair, rng: random.Random, recorder: Recorder):
        self.session = Session(port)
        self.pair, self.rng, self.recorder = pair, rng, recorder
        self.room = pair.build_office_cents - pair.build_allowed_cents
        self.answer_cents = 0

    def _call(self, endpoint, method, path, form=None, htmx=False, expect=(200,)) -> str:
        try:
            status, text, ms = self.session.request(method, path, form, htmx)
        except (OSError, http.client.HTTPException) as exc:
            self.recorder.note(endpoint, 30_000.0, False, f"{method} {path}: {exc!r}")
            return ""
        alert = ALERT.search(text)
        said = alert.group(1) if alert else text[:200]
        self.recorder.note(endpoint, ms, status in expect, f"{method} {path}: {status} {said!r}")
        return text

    def act(self, action: str) -> None:
        p = self.pair
        if action == "board":
            self._call("board", "GET", "/campaigns/")
        elif action == "campaign":
            self._call("campaign", "GET", f"/campaigns/{p.build_id}")
        elif action == "scorecard":
            self._call("scorecard", "GET", "/analysis/")
        elif action == "matrix":
            self._call("matrix", "GET", "/analysis/matrix")
        elif action == "contract":
            self._call("contract", "GET", f"/analysis/contracts/{p.contract_id}")
        elif action == "targets":
            self._call("targets", "GET", "/analysis/targets")
        elif action == "simple":
            self._call("simple", "GET", "/settings")
        elif action == "ask":
            # a cent more each time (every save is a real change), within (allowed, office]
            asked = p.build_allowed_cents + 1 + (p.asked_cents % self.room)
            self._call(
                "ask",
                "POST",
                f"/campaigns/{p.build_id}/codes/{p.build_code}/ask",
                {"asked": f"{asked / 100:.2f}", "was": p.asked_cents},
                htmx=True,
            )
            p.asked_cents = asked
        elif action == "response":
            page = self._call("campaign", "GET", f"/campaigns/{p.response_id}")
            version = VERSION_FIELD.search(page)
            self.answer_cents += 1
            self._call(
                "response",
                "POST",
                f"/campaigns/{p.response_id}/response",
                {
                    f"granted-{p.response_code}": f"{100 + self.answer_cents / 100:.2f}",
                    "version": version.group(1) if version else "",
                },
                htmx=True,
                expect=(200, 204),
            )


def run_users(
    port: int,
    pairs: list[Pair],
    seconds: float,
    think: tuple[float, float] | None,
    mix: tuple[tuple[str, int], ...],
    seed: int,
) -> tuple[Recorder, float]:
    recorder = Recorder()
    users = [
        SimulatedUser(port, pair, random.Random(seed + i), recorder) for i, pair in enumerate(pairs)
    ]
    for user in users:
        user.session.sign_in()
    actions = [name for name, _ in mix]
    weights = [weight for _, weight in mix]
    start = time.monotonic()
    stop_at = start + seconds

    def loop(user: SimulatedUser) -> None:
        if think:  # spread the users' first actions over the first think time
            time.sleep(user.rng.uniform(0, think[1]))
        while time.monotonic() < stop_at:
            user.act(user.rng.choices(actions, weights)[0])
            if think:
                time.sleep(user.rng.uniform(*think))

    threads = [threading.Thread(target=loop, args=(u,), daemon=True) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    return recorder, time.monotonic() - start


def solo_times(port: int, pair: Pair) -> dict[str, float]:
    """Each action of the mix, and the simplest page, alone: the cost of one request."""
    recorder = Recorder()
    user = SimulatedUser(port, pair, random.Random(1), recorder)
    user.session.sign_in()
    for name in [*(n for n, _ in MIX), "simple"]:
        for _ in range(7):
            user.act(name)
    # a response save also opens the campaign page first; its POST is recorded as "response"
    return {name: statistics.median(values) for name, values in recorder.times.items()}


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def warm(port: int, pairs: list[Pair], workers: int) -> None:
    """Each analysis page once per worker (gunicorn hands connections out to its workers;
    enough new connections reach every one of them)."""
    for _ in range(4 * workers):
        session = Session(port)
        session.sign_in()
        for path in (*ANALYSIS_PAGES, f"/analysis/contracts/{pairs[0].contract_id}"):
            status, _text, _ms = session.request("GET", path)
            if status != 200:
                raise SystemExit(f"warming: GET {path} answered {status}")
        for pair in pairs:
            session.request("GET", f"/analysis/contracts/{pair.contract_id}")
        session.conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=DEFAULT_DB, help="a PostgreSQL URL (test database)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--saturation-users", type=int, default=8)
    parser.add_argument("--saturation-seconds", type=float, default=15.0)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = group scale")
    args = parser.parse_args()

    today = date.today()
    print(
        f"load benchmark: {args.users} users for {args.seconds:.0f} s, gunicorn "
        f"{args.workers} workers; {os.cpu_count()} CPUs, load average {load_average()}"
    )
    with fresh_database(args.db) as url:
        app = make_app(url)
        size = Size(
            codes=max(10, round(800 * args.scale)), billed_codes=max(3, round(200 * args.scale))
        )
        built = build(app, size, today)
        print(f"== {size.label()}; built in {built.seconds:.1f}s")
        pairs = make_campaigns(app, args.users, today)
        with app.app_context():
            db.engine.dispose()
        port = free_port()
        server = start_gunicorn(url, args.workers, port)
        try:
            started = time.perf_counter()
            warm(port, pairs, args.workers)
            print(f"   warmed every worker in {time.perf_counter() - started:.1f}s")

            solo = solo_times(port, pairs[0])
            print("\n== one user alone, each action 7 times (median ms, server and client):")
            print("   " + ", ".join(f"{k} {v:.1f}" for k, v in solo.items()))
            print(
                "   the mix costs "
                f"{sum(solo[name] * weight for name, weight in MIX) / 100:.1f} ms a request alone"
            )

            recorder, elapsed = run_users(port, pairs, args.seconds, (1.0, 3.0), MIX, seed=8)
            total = sum(len(v) for v in recorder.times.values())
            errors = sum(recorder.errors.values())
            print(
                f"\n== think-time run: {total} requests in {elapsed:.0f} s "
                f"({total / elapsed:.1f}/s), {errors} errors; load average {load_average()}"
            )
            print(f"{'endpoint':<10} {'count':>6} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
            worst = 0.0
            p95s = {}
            for endpoint, _weight in MIX:
                values = recorder.times.get(endpoint, [])
                if not values:
                    continue
                p95s[endpoint] = p95(values)
                worst = max(worst, p95s[endpoint])
                print(
                    f"{endpoint:<10} {len(values):>6} {statistics.median(values):>10.1f} "
                    f"{p95s[endpoint]:>8.1f} {max(values):>8.1f}"
                )
            for example in recorder.examples:
                print(f"   error: {example}")

            pairs_for_saturation = pairs[: args.saturation_users]
            mix_rec, mix_s = run_users(
                port, pairs_for_saturation, args.saturation_seconds, None, MIX, seed=80
            )
            simple_rec, simple_s = run_users(
                port,
                pairs_for_saturation,
                args.saturation_seconds,
                None,
                (("simple", 1),),
                seed=90,
            )
            mix_count = sum(len(v) for v in mix_rec.times.values())
            simple_count = sum(len(v) for v in simple_rec.times.values())
            mix_rps, simple_rps = mix_count / mix_s, simple_count / simple_s
            sat_errors = sum(mix_rec.errors.values()) + sum(simple_rec.errors.values())
            print(
                f"\n== saturation, {args.saturation_users} users without think time: mix "
                f"{mix_rps:.1f} requests/s, GET /settings {simple_rps:.1f} requests/s "
                f"(mix = {mix_rps / simple_rps:.2f}x the simplest page), {sat_errors} errors"
            )
        finally:
            stop(server)
            if server.stderr:
                tail = server.stderr.read()[-1500:]
                if "Traceback" in tail:
                    print(f"gunicorn log tail:\n{tail}")

    ok = worst <= TARGET_P95_MS and errors == 0
    figures = " ".join(f"p95_{name}_ms={value:.1f}" for name, value in p95s.items())
    print(
        f"BENCH load {figures} errors={errors} sat_mix_rps={mix_rps:.1f} "
        f"sat_simple_rps={simple_rps:.1f} target=p95<={TARGET_P95_MS:.0f}ms,errors=0 "
        f"ok={'true' if ok else 'false'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
