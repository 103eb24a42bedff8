"""Analysis pages: scorecard, code matrix, contract detail with what-if, target list, exports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from flask import abort, request, url_for
from flask_login import current_user
from markupsafe import Markup

from ..accounts.access import READ, roles
from ..accounts.models import Practice
from ..accounts.scoping import get_or_404, visible_practices
from ..codes import category
from ..exports import Column, csv_response, xlsx_response
from ..payers.models import Contract
from ..web import Pager, render_page
from . import bp, engine
from .service import Analysis, analysis_cache, load_analysis, pareto

MATRIX_PER_PAGE = 50
#: the scorecard and the target list rank every contract of the group: 50 a page
SCORECARD_PER_PAGE = 50
#: bars in the scorecard's charts: the largest opportunities
CHART_BARS = 20
#: the full matrix (`all=1`) is paged too: 100 codes x 400 contracts is already 40,000 cells
MATRIX_FULL_PER_PAGE = 100
#: contracts are paged too (a group has hundreds); sorted by practice, so a page is about one
#: practice's contracts side by side
MATRIX_COLUMNS_PER_PAGE = 40
#: the contract detail's ranked code table: the codes with an opportunity come first, so the
#: first page holds what matters; the rest (often hundreds of zero rows) is paged
CONTRACT_CODES_PER_PAGE = 100


@dataclass
class Selection:
    """The selectors every analysis page shares, read from the query string."""

    practice: Practice | None
    on: date
    period: engine.Period | None
    benchmark: str | None
    errors: list[str]

    def args(self, **changes) -> dict:
        values = {
            "practice": self.practice.id if self.practice else "all",
            "on": self.on.isoformat(),
            "from": request.args.get("from", ""),
            "to": request.args.get("to", ""),
            "benchmark": self.benchmark or "",
        }
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}


def _month(text: str, *, end: bool) -> date:
    year, month = (int(part) for part in text.split("-"))
    first = date(year, month, 1)
    if not end:
        return first
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def read_selection() -> Selection:
    errors = []
    practice = None
    raw = request.args.get("practice", "all")
    if raw != "all":
        practice = get_or_404(Practice, raw)
    on = date.today()
    if request.args.get("on"):
        try:
            on = date.fromisoformat(request.args["on"])
        except ValueError:
            errors.append("The analysis date is not a date; today is used.")
    period = None
    start, end = request.args.get("from", ""), request.args.get("to", "")
    if start or end:
        try:
            period = engine.Period(_month(start, end=False), _month(end, end=True))
            if period.start > period.end:
                raise ValueError
        except ValueError:
            period = None
            errors.append(
                "The volume period needs two months (from before to), e.g. "
                "2025-11 to 2026-10; the default period is used."
            )
    benchmark = request.args.get("benchmark") or None
    return Selection(practice, on, period, benchmark, errors)


def _analysis(selection: Selection) -> Analysis:
    ids = [selection.practice.id] if selection.practice else None
    return load_analysis(
        current_user,
        ids,
        selection.on,
        period=selection.period,
        benchmark_label=selection.benchmark,
    )


def _page(template: str, selection: Selection, analysis: Analysis, **context):
    return render_page(
        template, sel=selection, analysis=analysis, practices=visible_practices(), **context
    )


# ---- scorecard -----------------------------------------------------------------------------

SCORE_SORTS = {
    "rank": lambda c, i: c.rank,
    "name": lambda c, i: (i.network_name.lower(), i.practice_name.lower()),
    "pct": lambda c, i: (c.weighted_pct_of_ucr is None, c.weighted_pct_of_ucr or 0),
    "allowed": lambda c, i: c.annual_allowed,
    "writeoff": lambda c, i: c.annual_write_off,
    "opportunity": lambda c, i: c.opportunity,
    "age": lambda c, i: (i.schedule_effective is None, i.schedule_effective or date.min),
}


def _sorted_contracts(analysis: Analysis, sort: str):
    key = SCORE_SORTS.get(sort.lstrip("-"), SCORE_SORTS["rank"])
    rows = [(c, analysis.contracts[c.contract_id]) for c in analysis.group.contracts]
    rows.sort(key=lambda pair: key(*pair), reverse=sort.startswith("-"))
    return rows


def _chart(kind: str, labels: list[str], values: list, label: str, fmt: str) -> str:
    """Chart data for static/js/app.js (numbers for drawing only; figures stay server-side)."""
    return json.dumps(
        {
            "type": kind,
            "labels": labels,
            "label": label,
            "format": fmt,
            "values": [float(v) if v is not None else None for v in values],
        }
    )


@bp.route("/")
@roles(*READ)
def scorecard():
    selection = read_selection()
    analysis = _analysis(selection)
    sort = request.args.get("sort", "rank")
    rows = _sorted_contracts(analysis, sort)
    paged = Pager.read(len(rows), SCORECARD_PER_PAGE)
    # the charts draw the largest opportunities: hundreds of bars cannot be read
    ranked = analysis.group.contracts[:CHART_BARS]
    names = [
        f"{analysis.contracts[c.contract_id].network_name}"
        + ("" if selection.practice else f" ({analysis.contracts[c.contract_id].practice_name})")
        for c in ranked
    ]
    charts = {
        "opportunity": _chart(
            "bar", names, [c.opportunity for c in ranked], "Opportunity $/yr", "money"
        ),
        "pct": _chart(
            "bar",
            names,
            [
                c.weighted_pct_of_ucr * 100 if c.weighted_pct_of_ucr is not None else None
                for c in ranked
            ],
            "Weighted % of office fees",
            "percent",
        ),
    }
    return _page(
        "analysis/scorecard.html",
        selection,
        analysis,
        rows=paged.of(rows),
        paged=paged,
        sort=sort,
        charts=charts,
        chart_bars=len(ranked),
    )


# ---- code matrix ---------------------------------------------------------------------------


@bp.route("/matrix")
@roles(*READ)
def matrix():
    selection = read_selection()
    analysis = _analysis(selection)
    category_ = request.args.get("category") or None
    data = _matrix_data(analysis, category_)
    show_all = request.args.get("all") == "1"
    rows = Pager.read(len(data["codes"]), MATRIX_FULL_PER_PAGE if show_all else MATRIX_PER_PAGE)
    cols = Pager.read(len(data["columns"]), MATRIX_COLUMNS_PER_PAGE, arg="cols")
    codes, columns = rows.of(data["codes"]), cols.of(data["columns"])
    return _page(
        "analysis/matrix.html",
        selection,
        analysis,
        matrix=data,
        codes=codes,
        columns=columns,
        cells={code: _cells(columns, code) for code in codes},
        rows=rows,
        cols=cols,
        show_all=show_all,
        category=category_ or "",
    )


def _matrix_data(analysis: Analysis, only_category: str | None) -> dict:
    """Codes (by total volume, largest first) x contracts: allowed and % of office fee;
    computed once per data version (the volumes are exact sums over every practice)."""
    return analysis_cache().get_or_compute(
        ("matrix", analysis.key, only_category),
        analysis.version,
        lambda: (_matrix_axes(analysis, only_category), 128 * 1024),
    )


def _matrix_axes(analysis: Analysis, only_category: str | None) -> dict:
    columns = list(analysis.group.contracts)
    columns.sort(
        key=lambda c: (
            analysis.contracts[c.contract_id].practice_name,
            analysis.contracts[c.contract_id].network_name,
        )
    )
    volume: dict[str, Fraction] = {}
    for practice in analysis.group.practices:
        factor = practice.annual_factor or engine.NONE
        for code, count in practice.code_counts.items():
            volume[code] = volume.get(code, engine.NONE) + count * factor
    codes = sorted(volume, key=lambda code: (-volume[code], code))
    if only_category:
        codes = [code for code in codes if category(code) == only_category]
    office = {}
    for practice in analysis.group.practices:
        for code, fee in analysis.office_fees[practice.practice_id].items():
            office.setdefault(code, set()).add(fee)
    return {
        "columns": columns,
        "codes": codes,
        "volume": volume,
        "office": {c: (min(v) if len(v) == 1 else None) for c, v in office.items()},
        "categories": sorted({category(c) for c in volume}),
    }


NOT_LISTED = Markup('<td class="num heat-none"><small class="muted">not listed</small></td>')


def _cells(columns: list[engine.ContractResult], code: str) -> Markup:
    """A code's row of cells: allowed amount, E / U, a colour and the formula as a title.
    Drawn from the engine's integers straight into HTML: a page has up to 40,000 cells, and
    a Decimal, a CodeResult or a template call per cell took most of a second."""
    return Markup("".join([_cell(c, code) for c in columns]))  # noqa: S704 - numbers only


def _cell(contract: engine.ContractResult, code: str) -> str:
    amounts = contract.amounts(code)
    if amounts is None or amounts[0] is None:
        return NOT_LISTED
    a, e, u = amounts
    scale = 10 ** (contract.places - 2)
    allowed = _money_units(a, scale)
    if u is None:
        title = f"effective allowed = allowed = {allowed} (no office fee)"
    else:
        title = (
            f"effective allowed = min(allowed {allowed}, office fee {_money_units(u, scale)}) = "
            f"{_money_units(e, scale)}"
        )
    if not u:
        pct, heat = "n/a", "heat-none"
    else:
        tenths = (2000 * e + u) // (2 * u)  # E / U in tenths of a percent, half-up
        pct = f"{tenths // 10}.{tenths % 10}%"
        heat = f"heat-{min(9, max(0, (20 * e - 8 * u) // u))}"  # as heat_class: 40%..90%
    # every part is digits, '$', ',', '.', '%' and our own words: nothing to escape
    return f'<td class="num {heat}" title="{title}">{allowed}<br><small>{pct}</small></td>'


def _money_units(units: int, scale: int) -> str:
    """'$1,234.50' from an amount in units of 1/(100 x scale) dollar, rounded half-up."""
    cents = units if scale == 1 else (2 * units + scale) // (2 * scale)
    return f"${cents // 100:,}.{cents % 100:02d}"


def heat_class(pct: Decimal | None) -> str:
    """A CSS class from red (low % of office fee) to green (high), in 10 steps."""
    if pct is None:
        return "heat-none"
    step = int(max(Decimal(0), min(Decimal("0.999"), (pct - Decimal("0.4")) / Decimal("0.5"))) * 10)
    return f"heat-{step}"


bp.add_app_template_filter(heat_class, "heat_class")


# ---- contract detail and what-if -----------------------------------------------------------


def _contract_analysis(contract_id: int):
    contract = get_or_404(Contract, contract_id)
    selection = read_selection()
    selection.practice = contract.practice
    analysis = _analysis(selection)
    if contract.id not in analysis.contracts:
        abort(404)  # archived contract: not analysed
    return selection, analysis, analysis.contract(contract.id).for_one_page()


def _code_page(result) -> dict:
    """The page of the contract's code table asked for by ?page= (the what-if's POST too)."""
    codes = Pager.read(
        len(result.codes), CONTRACT_CODES_PER_PAGE, endpoint="analysis.contract_detail"
    )
    return {"code_rows": codes.of(result.codes), "codes_pager": codes}


@bp.route("/contracts/<int:contract_id>")
@roles(*READ)
def contract_detail(contract_id: int):
    selection, analysis, result = _contract_analysis(contract_id)
    chosen = [r.code for r in result.eighty_mark_codes]
    outcome = engine.what_if(result, chosen, raise_pct=Decimal("0.10"))
    return _page(
        "analysis/contract.html",
        selection,
        analysis,
        result=result,
        **_code_page(result),
        info=analysis.contracts[result.contract_id],
        whatif=outcome,
        chosen=set(chosen),
        raise_pct="10",
        whatif_errors=[],
    )


@bp.route("/contracts/<int:contract_id>/what-if", methods=["POST"])
@roles(*READ)
def contract_what_if(contract_id: int):
    """Recompute the what-if on the server (Decimal); read-only, so viewers may use it."""
    selection, analysis, result = _contract_analysis(contract_id)
    errors = []
    chosen = [
        code for code in request.form.getlist("code") if any(r.code == code for r in result.codes)
    ]
    raw_pct = request.form.get("raise_pct", "").strip().rstrip("%")
    raise_pct = None
    if raw_pct:
        try:
            raise_pct = Decimal(raw_pct) / 100
            if not raise_pct.is_finite() or raise_pct < -1 or raise_pct > 10:
                raise InvalidOperation
        except InvalidOperation:
            errors.append("Enter the raise as a percentage between -100 and 1000, e.g. 8.5.")
            raise_pct = None
    targets = {}
    for code in chosen:
        raw = request.form.get(f"target-{code}", "").strip().replace("$", "").replace(",", "")
        if raw:
            try:
                value = Decimal(raw)
                if not value.is_finite() or value < 0:
                    raise InvalidOperation
                targets[code] = value
            except InvalidOperation:
                errors.append(f"The target for {code} is not an amount.")
    outcome = engine.what_if(result, chosen, raise_pct=raise_pct, targets=targets)
    return render_page(
        "analysis/contract.html",
        "analysis/_whatif.html",
        sel=selection,
        analysis=analysis,
        result=result,
        **_code_page(result),
        info=analysis.contracts[result.contract_id],
        whatif=outcome,
        chosen=set(chosen),
        raise_pct=raw_pct,
        whatif_errors=errors,
        targets={k: str(v) for k, v in targets.items()},
        practices=visible_practices(),
        status=422 if errors else 200,
    )


# ---- target list ---------------------------------------------------------------------------


@bp.route("/targets")
@roles(*READ)
def targets():
    selection = read_selection()
    analysis = _analysis(selection)
    curve = pareto(analysis, top=50)
    chart = json.dumps(
        {
            "type": "pareto",
            "labels": [f"#{rank}" for rank in curve.ranks],
            "values": [float(v) for v in curve.values],
            "cumulative": [float(s * 100) if s is not None else None for s in curve.shares],
            "label": "Opportunity $/yr",
            "format": "money",
        }
    )
    paged = Pager.read(len(analysis.group.contracts), SCORECARD_PER_PAGE)
    return _page(
        "analysis/targets.html",
        selection,
        analysis,
        contracts=paged.of(analysis.group.contracts),
        paged=paged,
        points=curve.top,
        total_points=curve.count,
        chart=chart,
    )


# ---- exports -------------------------------------------------------------------------------


def _export(kind: str, filename: str, title: str, columns, rows):
    if kind == "xlsx":
        return xlsx_response(f"{filename}.xlsx", title, columns, rows)
    return csv_response(f"{filename}.csv", columns, rows)


@bp.route("/scorecard.<any(csv, xlsx):kind>")
@roles(*READ)
def scorecard_export(kind: str):
    selection = read_selection()
    analysis = _analysis(selection)
    columns = [
        Column("Rank", "count"),
        Column("Network"),
        Column("Practice"),
        Column("Weighted % of office fees", "percent"),
        Column("Annual allowed", "money"),
        Column("Annual write-off", "money"),
        Column("Opportunity per year", "money"),
        Column("Schedule effective", "date"),
        Column("Renewal", "date"),
        Column("Notice by", "date"),
    ]
    rows = []
    for c in analysis.group.contracts:
        info = analysis.contracts[c.contract_id]
        rows.append(
            [
                c.rank,
                info.network_name,
                info.practice_name,
                c.weighted_pct_of_ucr,
                c.annual_allowed,
                # without office fees the write-off is unknown, not zero
                c.annual_write_off if analysis.office_schedule.get(info.practice_id) else None,
                c.opportunity,
                info.schedule_effective,
                info.renewal_date,
                info.notice_deadline,
            ]
        )
    return _export(kind, f"scorecard-{selection.on.isoformat()}", "Scorecard", columns, rows)


@bp.route("/matrix.<any(csv, xlsx):kind>")
@roles(*READ)
def matrix_export(kind: str):
    selection = read_selection()
    analysis = _analysis(selection)
    data = _matrix_data(analysis, request.args.get("category") or None)
    columns = [
        Column("Code"),
        Column("Description"),
        Column("Annual volume", "count"),
        Column("Office fee", "money"),
    ]
    for c in data["columns"]:
        info = analysis.contracts[c.contract_id]
        label = f"{info.network_name} ({info.practice_name})"
        columns += [Column(f"{label} allowed", "money"), Column(f"{label} % of office", "percent")]
    rows = []
    for code in data["codes"]:
        row = [
            code,
            analysis.descriptions.get(code, ""),
            data["volume"][code],
            data["office"].get(code),
        ]
        for c in data["columns"]:
            a, e, u = c.amounts(code) or (None, None, None)
            row += [
                Decimal(a).scaleb(-c.places) if a is not None else None,
                engine.ratio(Decimal(e), Decimal(u)) if e is not None and u else None,
            ]
        rows.append(row)
    return _export(kind, f"code-matrix-{selection.on.isoformat()}", "Code matrix", columns, rows)


@bp.route("/contracts/<int:contract_id>/targets.<any(csv, xlsx):kind>")
@roles(*READ)
def contract_export(contract_id: int, kind: str):
    selection, analysis, result = _contract_analysis(contract_id)
    info = analysis.contracts[result.contract_id]
    columns = [
        Column("Rank", "count"),
        Column("Code"),
        Column("Description"),
        Column("Annual volume", "count"),
        Column("Office fee", "money"),
        Column("Allowed", "money"),
        Column("Effective allowed", "money"),
        Column("Peer median", "money"),
        Column("Gap", "money"),
        Column("Opportunity per year", "money"),
        Column("Suggested ask", "money"),
        Column("Within 80% mark"),
    ]
    rows = [
        [
            r.rank,
            r.code,
            analysis.descriptions.get(r.code, ""),
            r.volume,
            r.office,
            r.allowed,
            r.effective,
            r.peer,
            r.gap,
            r.opportunity,
            r.suggested_ask,
            "yes" if r.in_80 else "",
        ]
        for r in result.codes
    ]
    slug = "".join(ch if ch.isalnum() else "-" for ch in info.network_name.lower())
    return _export(kind, f"targets-{slug}-{selection.on.isoformat()}", "Targets", columns, rows)


@bp.app_template_global()
def analysis_url(endpoint: str, sel: Selection, **changes) -> str:
    return url_for(endpoint, **sel.args(**changes))
