"""Reading an Open Dental database (MySQL/MariaDB), read-only: carriers, procedure codes, the
PPO fee schedules in use, the office schedule, fee amounts and the code mix per carrier.

Plain PyMySQL (the importers stay free of Flask and SQLAlchemy). The session is set read-only
and everything is read in one consistent-snapshot transaction that is rolled back; no patient
column is ever selected: procedures are counted in SQL, per carrier, code and month.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pymysql

from campaigns.codes import DEFAULT_PREFIX, normalise_code
from campaigns.money import CENT

SCHEMES = ("mysql+pymysql", "mariadb+pymysql", "mysql", "mariadb")
URL_OPTIONS = ("charset", "unix_socket")
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 300
MAX_CODE_CHARS = 12  # ProcedureCode.code in our database
MAX_CENTS = 10_000_000  # $100,000: above it a fee row is a typo, as in the file importers
MAX_MONTHS = 36
EXAMPLES = 5

# The tables and columns read (DOMAIN.md); checked before any query so a wrong database gets
# a clear message instead of an SQL error.
REQUIRED: dict[str, tuple[str, ...]] = {
    "carrier": ("CarrierNum", "CarrierName", "ElectID"),
    "procedurecode": ("CodeNum", "ProcCode", "Descript"),
    "feesched": ("FeeSchedNum", "Description"),
    "fee": ("FeeNum", "FeeSched", "CodeNum", "Amount", "ClinicNum", "ProvNum"),
    "insplan": ("PlanNum", "CarrierNum", "FeeSched", "PlanType"),
    "provider": ("ProvNum", "FeeSched"),
    "procedurelog": ("ProcNum", "CodeNum", "ProcDate", "ProcStatus", "ClinicNum"),
    "claimproc": ("ProcNum", "ClaimNum"),
    "claim": ("ClaimNum", "PlanNum", "ClaimType"),
}
# Read when present (a real Open Dental has them): they only make the provider list readable.
OPTIONAL: dict[str, tuple[str, ...]] = {"provider": ("Abbr", "IsHidden")}

PROC_COMPLETE = 2
PLAN_TYPE_PPO = "p"
CLAIM_TYPE_PRIMARY = "P"


class OpenDentalError(Exception):
    """Anything that stops the read (address, credentials, missing tables): a readable message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Carrier:
    carrier_num: int
    name: str
    elect_id: str


@dataclass(frozen=True)
class Provider:
    prov_num: int
    label: str  # the provider's abbreviation when the table has one, else "Provider N"
    fee_sched: int  # 0: none
    hidden: bool = False


@dataclass
class Schedule:
    """One Open Dental fee schedule with its amounts resolved by the clinic/default precedence."""

    fee_sched: int
    description: str
    fees: dict[str, int]  # code -> cents
    carrier_nums: list[int] = field(default_factory=list)  # PPO plans' carriers using it
    plans: int = 0  # PPO plans using it
    clinic_fees: int = 0  # codes whose amount came from the clinic's own row


@dataclass
class OpenDentalData:
    """Everything an import needs, as aggregates: no patient-level value is kept."""

    source: str  # "user@host:port/database", never the password
    clinic: int
    months: int
    period_start: date  # first day of the first full month
    period_end: date  # last day of the last full month (the month before `today`'s)
    carriers: dict[int, Carrier]
    codes: dict[str, str]  # code -> Open Dental's description (the practice's own data)
    providers: list[Provider]
    schedules: list[Schedule]  # the PPO schedules in use, by FeeSched number
    office: Schedule | None
    office_provider: int | None
    # carrier -> {(code, first day of month): distinct completed procedures on primary claims}
    volumes: dict[int, dict[tuple[str, date], int]]
    # ProcCodes without a code shape: ProcCode -> [fee rows, procedures] left out
    skipped_codes: dict[str, list[int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def month_starts(self) -> list[date]:
        """The first day of every month of the period, in order."""
        months, current = [], self.period_start
        while current <= self.period_end:
            months.append(current)
            current = _add_months(current, 1)
        return months


# ---- connection -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    host: str
    port: int
    user: str
    database: str
    options: dict[str, str]

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.database}"


def parse_url(url: str) -> Address:
    """`mysql+pymysql://USER@HOST[:PORT]/DB[?charset=..&unix_socket=..]`; a password in the
    URL is refused (it would sit in shell history and process lists)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or 3306
    except ValueError as exc:
        raise OpenDentalError(f"The Open Dental address is not valid: {exc}.") from None
    if parts.scheme.lower() not in SCHEMES:
        raise OpenDentalError(
            "The Open Dental address must look like mysql+pymysql://USER@HOST/DATABASE."
        )
    if parts.password is not None:
        raise OpenDentalError(
            "Leave the password out of the address: it is read from OPENDENTAL_PASSWORD or "
            "asked for."
        )
    database = unquote(parts.path.lstrip("/"))
    if not parts.username or not parts.hostname or not database or "/" in database:
        raise OpenDentalError(
            "The Open Dental address needs a user, a host and a database: "
            "mysql+pymysql://USER@HOST/DATABASE."
        )
    options = dict(parse_qsl(parts.query))
    unknown = sorted(set(options) - set(URL_OPTIONS))
    if unknown:
        raise OpenDentalError(
            f"Unknown option(s) in the Open Dental address: {', '.join(unknown)} "
            f"(allowed: {', '.join(URL_OPTIONS)})."
        )
    return Address(parts.hostname, port, unquote(parts.username), database, options)


def _readable(exc: pymysql.err.MySQLError, address: Address) -> OpenDentalError:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    detail = exc.args[1] if len(exc.args) > 1 else str(exc)
    if code in (2002, 2003, 2005, 2006, 2013):
        return OpenDentalError(
            f"Cannot reach the Open Dental database server at {address.host}:{address.port}. "
            "Check the host, the port and that the server accepts network connections."
        )
    if code == 1045:
        return OpenDentalError(
            f"The Open Dental server refused user '{address.user}': wrong user name or password."
        )
    if code == 1044:
        return OpenDentalError(
            f"User '{address.user}' may not open the database '{address.database}'."
        )
    if code == 1049:
        return OpenDentalError(f"There is no database '{address.database}' on the server.")
    if code in (1142, 1143):
        return OpenDentalError(
            f"User '{address.user}' may not read every table the import needs ({detail}). "
            "Grant it SELECT on the Open Dental database."
        )
    return OpenDentalError(f"The Open Dental database answered with an error: {detail}")


@contextmanager
def read_only_connection(address: Address, password: str | None) -> Iterator[Any]:
    """A cursor inside a read-only, consistent-snapshot transaction, rolled back at the end."""
    try:
        connection = pymysql.connect(
            host=address.host,
            port=address.port,
            user=address.user,
            password=password or "",
            database=address.database,
            charset=address.options.get("charset", "utf8mb4"),
            unix_socket=address.options.get("unix_socket"),
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            # Autocommit: the explicit START TRANSACTION below is the one transaction, and the
            # session setting keeps every statement read-only even outside it.
            autocommit=True,
        )
    except pymysql.err.MySQLError as exc:
        raise _readable(exc, address) from None
    try:
        with connection.cursor() as cursor:
            try:
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
                cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            except pymysql.err.MySQLError as exc:
                raise _readable(exc, address) from None
            try:
                yield cursor
            finally:
                with suppress(pymysql.err.MySQLError):  # a lost connection ends it anyway
                    cursor.execute("ROLLBACK")
    finally:
        with suppress(pymysql.err.Error):
            connection.close()


def _check_tables(cursor: Any) -> set[tuple[str, str]]:
    """The (table, column) pairs present, lower-case; OpenDentalError names what is missing."""
    names = sorted(REQUIRED)
    cursor.execute(
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS "  # noqa: S608 - %s only
        f"WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({_marks(names)})",
        names,
    )
    present = {(str(t).lower(), str(c).lower()) for t, c in cursor.fetchall()}
    tables = {t for t, _ in present}
    missing_tables = [t for t in names if t not in tables]
    if missing_tables:
        raise OpenDentalError(
            "This does not look like an Open Dental database: table(s) "
            f"{', '.join(missing_tables)} not found."
        )
    missing = [
        f"{t}.{c}" for t, cols in REQUIRED.items() for c in cols if (t, c.lower()) not in present
    ]
    if missing:
        raise OpenDentalError(
            f"The Open Dental database lacks column(s) {', '.join(missing)}; "
            "is it a supported Open Dental version?"
        )
    return present


# ---- reading --------------------------------------------------------------------------------


def period_for(today: date, months: int) -> tuple[date, date]:
    """The last `months` full calendar months before `today`'s month: (first day, last day)."""
    this_month = today.replace(day=1)
    return _add_months(this_month, -months), this_month - timedelta(days=1)


def read_opendental(
    url: str,
    password: str | None,
    *,
    months: int,
    today: date,
    office_provider: int | None,
    clinic: int = 0,
    prefix: str = DEFAULT_PREFIX,
) -> OpenDentalData:
    """Read what an import needs from Open Dental, never writing to it.

    `office_provider` picks the provider whose FeeSched is the office schedule; None takes the
    one schedule all visible providers share, or none when they differ. `clinic` picks the
    clinic whose fee rows win over the defaults; a non-zero clinic also limits the code mix to
    its procedures. Raises OpenDentalError with a readable message.
    """
    if not 1 <= months <= MAX_MONTHS:
        raise OpenDentalError(f"Choose between 1 and {MAX_MONTHS} months.")
    address = parse_url(url)
    start, end = period_for(today, months)
    with read_only_connection(address, password) as cursor:
        try:
            present = _check_tables(cursor)
            data = OpenDentalData(
                source=str(address),
                clinic=clinic,
                months=months,
                period_start=start,
                period_end=end,
                carriers={},
                codes={},
                providers=[],
                schedules=[],
                office=None,
                office_provider=None,
                volumes={},
            )
            _read(cursor, data, present, office_provider, prefix)
            return data
        except pymysql.err.MySQLError as exc:
            raise _readable(exc, address) from None


def _read(
    cursor: Any,
    data: OpenDentalData,
    present: set[tuple[str, str]],
    office_provider: int | None,
    prefix: str,
) -> None:
    cursor.execute("SELECT CarrierNum, CarrierName, ElectID FROM carrier ORDER BY CarrierNum")
    for num, name, elect in cursor.fetchall():
        data.carriers[num] = Carrier(num, (name or "").strip(), (elect or "").strip())

    codes = _read_codes(cursor, data, prefix)
    data.providers = _read_providers(cursor, present)
    data.office_provider, office_sched = _office_choice(data, office_provider)

    cursor.execute(
        "SELECT FeeSched, CarrierNum, COUNT(*) FROM insplan "
        "WHERE PlanType = %s AND FeeSched <> 0 GROUP BY FeeSched, CarrierNum "
        "ORDER BY FeeSched, CarrierNum",
        [PLAN_TYPE_PPO],
    )
    ppo: dict[int, Schedule] = {}
    for sched, carrier_num, plans in cursor.fetchall():
        schedule = ppo.setdefault(sched, Schedule(sched, "", {}))
        schedule.carrier_nums.append(carrier_num)
        schedule.plans += plans
    wanted = sorted(set(ppo) | ({office_sched} if office_sched else set()))
    names = _schedule_names(cursor, wanted)
    fees = _read_fees(cursor, data, wanted, codes)
    for sched in wanted:
        fees.setdefault(sched, ({}, 0))
    for sched, schedule in sorted(ppo.items()):
        schedule.description = names.get(sched, f"FeeSched {sched}")
        schedule.fees, schedule.clinic_fees = fees[sched]
        data.schedules.append(schedule)
    if office_sched:
        amounts, from_clinic = fees[office_sched]
        name = names.get(office_sched, f"FeeSched {office_sched}")
        data.office = Schedule(office_sched, name, amounts, clinic_fees=from_clinic)
    _read_volumes(cursor, data, codes)


@dataclass
class _Codes:
    """CodeNum -> our code (None: the ProcCode has no code shape) and the ProcCode as written."""

    code: dict[int, str | None]
    raw: dict[int, str]

    def skip(self, data: OpenDentalData, code_num: int, *, fees: int = 0, procs: int = 0) -> None:
        raw = self.raw.get(code_num) or f"CodeNum {code_num}"
        counts = data.skipped_codes.setdefault(raw, [0, 0])
        counts[0] += fees
        counts[1] += procs


def _read_codes(cursor: Any, data: OpenDentalData, prefix: str) -> _Codes:
    """Every procedure code, normalised; fills data.codes with the descriptions."""
    cursor.execute("SELECT CodeNum, ProcCode, Descript FROM procedurecode ORDER BY CodeNum")
    codes = _Codes({}, {})
    for num, raw, description in cursor.fetchall():
        code = normalise_code(raw, prefix)
        if code is not None and len(code) > MAX_CODE_CHARS:
            code = None
        codes.code[num] = code
        codes.raw[num] = (raw or "").strip()
        if code is not None:
            text = " ".join((description or "").split())
            data.codes.setdefault(code, text[:300])
    return codes


def _read_providers(cursor: Any, present: set[tuple[str, str]]) -> list[Provider]:
    has_abbr = ("provider", "abbr") in present
    has_hidden = ("provider", "ishidden") in present
    columns = ["ProvNum", "FeeSched"]
    columns += ["Abbr"] if has_abbr else []
    columns += ["IsHidden"] if has_hidden else []
    cursor.execute(f"SELECT {', '.join(columns)} FROM provider ORDER BY ProvNum")  # noqa: S608 - fixed names
    providers = []
    for row in cursor.fetchall():
        values = dict(zip(columns, row, strict=True))
        label = str(values.get("Abbr") or "").strip() or f"Provider {values['ProvNum']}"
        hidden = bool(values.get("IsHidden"))
        providers.append(Provider(values["ProvNum"], label, values["FeeSched"] or 0, hidden))
    return providers


def _office_choice(data: OpenDentalData, wanted: int | None) -> tuple[int | None, int | None]:
    """(provider, FeeSched) of the office schedule, or (None, None) when it is not chosen."""
    if wanted is not None:
        provider = next((p for p in data.providers if p.prov_num == wanted), None)
        if provider is None:
            listed = ", ".join(f"{p.prov_num} ({p.label})" for p in data.providers) or "none"
            raise OpenDentalError(f"Open Dental has no provider {wanted}; providers: {listed}.")
        if not provider.fee_sched:
            raise OpenDentalError(f"Provider {wanted} ({provider.label}) has no fee schedule.")
        return provider.prov_num, provider.fee_sched
    visible = [p for p in data.providers if not p.hidden and p.fee_sched]
    scheds = {p.fee_sched for p in visible}
    if len(scheds) == 1:
        return visible[0].prov_num, scheds.pop()
    if scheds:
        data.warnings.append(
            "The providers use different fee schedules: choose the provider whose schedule "
            "is the office's to import office fees."
        )
    return None, None


def _schedule_names(cursor: Any, scheds: list[int]) -> dict[int, str]:
    if not scheds:
        return {}
    cursor.execute(
        f"SELECT FeeSchedNum, Description FROM feesched WHERE FeeSchedNum IN ({_marks(scheds)})",  # noqa: S608 - placeholders only
        scheds,
    )
    return {num: (text or "").strip() or f"FeeSched {num}" for num, text in cursor.fetchall()}


def _read_fees(
    cursor: Any, data: OpenDentalData, scheds: list[int], codes: _Codes
) -> dict[int, tuple[dict[str, int], int]]:
    """FeeSched -> ({code: cents}, codes taken from the clinic's row). The clinic's row with
    ProvNum 0 wins over the row with ClinicNum 0 and ProvNum 0; provider-specific rows are not
    the schedule. The first row (lowest FeeNum) wins among duplicates, as Open Dental does."""
    if not scheds:
        return {}
    clinics = sorted({0, data.clinic})
    # DECIMAL in SQL: Amount is a DOUBLE in Open Dental and must not become a Python float.
    cursor.execute(
        "SELECT FeeSched, CodeNum, ClinicNum, CAST(Amount AS DECIMAL(15,4)) FROM fee "  # noqa: S608
        f"WHERE ProvNum = 0 AND FeeSched IN ({_marks(scheds)}) "
        f"AND ClinicNum IN ({_marks(clinics)}) ORDER BY FeeNum",
        [*scheds, *clinics],
    )
    chosen: dict[tuple[int, str], tuple[int, Decimal]] = {}  # (sched, code) -> (clinic, amount)
    for sched, code_num, row_clinic, amount in cursor.fetchall():
        code = codes.code.get(code_num)
        if code is None:
            codes.skip(data, code_num, fees=1)
            continue
        key = (sched, code)
        previous = chosen.get(key)
        if previous is None or (previous[0] == 0 and row_clinic != 0):
            chosen[key] = (row_clinic, amount)
    result: dict[int, tuple[dict[str, int], int]] = {}
    bad: list[str] = []
    for (sched, code), (row_clinic, amount) in sorted(chosen.items()):
        amounts, from_clinic = result.setdefault(sched, ({}, 0))
        cents = int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        if cents < 0 or cents > MAX_CENTS:
            bad.append(f"FeeSched {sched} {code} ({amount.quantize(CENT)})")
            continue
        amounts[code] = cents
        result[sched] = (amounts, from_clinic + (1 if row_clinic else 0))
    if bad:
        data.warnings.append(
            f"{len(bad)} fee(s) left out because they are negative (Open Dental's 'no fee') or "
            f"over $100,000: {', '.join(bad[:EXAMPLES])}{' ...' if len(bad) > EXAMPLES else ''}."
        )
    return result


def _read_volumes(cursor: Any, data: OpenDentalData, codes: _Codes) -> None:
    """Distinct completed procedures on primary claims per carrier, code and month. The count
    happens in the database; supplemental claimproc rows repeat a procedure, hence DISTINCT."""
    sql = (
        "SELECT carrier.CarrierNum, procedurelog.CodeNum, YEAR(procedurelog.ProcDate), "
        "MONTH(procedurelog.ProcDate), COUNT(DISTINCT procedurelog.ProcNum) "
        "FROM procedurelog "
        "JOIN claimproc ON claimproc.ProcNum = procedurelog.ProcNum "
        "JOIN claim ON claim.ClaimNum = claimproc.ClaimNum "
        "JOIN insplan ON insplan.PlanNum = claim.PlanNum "
        "JOIN carrier ON carrier.CarrierNum = insplan.CarrierNum "
        "WHERE procedurelog.ProcStatus = %s AND claim.ClaimType = %s "
        "AND procedurelog.ProcDate >= %s AND procedurelog.ProcDate < %s "
    )
    after_end = data.period_end + timedelta(days=1)
    params: list[Any] = [PROC_COMPLETE, CLAIM_TYPE_PRIMARY, data.period_start, after_end]
    if data.clinic:
        sql += "AND procedurelog.ClinicNum = %s "
        params.append(data.clinic)
    sql += "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    cursor.execute(sql, params)
    for carrier_num, code_num, year, month, count in cursor.fetchall():
        code = codes.code.get(code_num)
        if code is None:
            codes.skip(data, code_num, procs=int(count))
            continue
        key = (code, date(int(year), int(month), 1))
        per_carrier = data.volumes.setdefault(carrier_num, {})
        per_carrier[key] = per_carrier.get(key, 0) + int(count)


# ---- helpers --------------------------------------------------------------------------------


def _marks(values: list[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _add_months(first_of_month: date, months: int) -> date:
    year, month = divmod(first_of_month.year * 12 + first_of_month.month - 1 + months, 12)
    return date(year, month + 1, 1)
