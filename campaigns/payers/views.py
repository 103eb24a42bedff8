"""Payer, network, contact, contract and pricing-route pages (htmx forms, plain-form fallback)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, request, url_for
from flask_login import current_user

from ..accounts.access import EDIT, READ, roles
from ..accounts.models import Practice
from ..accounts.scoping import get_or_404, scoped, visible_practices
from ..accounts.services import ServiceError
from ..extensions import db
from ..modelbase import utcnow
from ..web import is_htmx, redirect_to, render_page
from . import bp
from .forms import ArchiveForm, ContactForm, ContractForm, NetworkForm, PayerForm
from .models import Contact, Contract, Network, NetworkKind, Payer, PricingRoute
from .services import (
    default_network,
    delete_contact,
    save_contact,
    save_contract,
    save_network,
    save_payer,
    save_routes,
    set_archived,
)

PAYER_SORTS = {
    "name": sa.func.lower(Payer.name),
    "payer_id": sa.func.lower(Payer.payer_id),
    "created": Payer.created_at,
}
NETWORK_SORTS = {"name": sa.func.lower(Network.name), "kind": Network.kind}


def _order(sorts: dict, default: str):
    key = request.args.get("sort", default)
    if key.removeprefix("-") not in sorts:
        key = default  # an unknown key falls back entirely, its "-" included
    column = sorts[key.removeprefix("-")]
    return key, column.desc() if key.startswith("-") else column.asc()


def _try_save(form, save):
    """Run a save service; a ServiceError becomes the message next to its field."""
    try:
        obj = save()
    except ServiceError as exc:
        db.session.rollback()
        target = getattr(form, exc.field, None) if exc.field else None
        (target.errors if target is not None else form.form_errors).append(str(exc))
        return None
    db.session.commit()
    return obj


def _show_archived() -> bool:
    return request.args.get("archived") == "1"


# ---- payers --------------------------------------------------------------------------------


@bp.route("/payers", methods=["GET", "POST"])
@roles(*READ, write=EDIT)
def payers():
    form = PayerForm()
    if form.validate_on_submit():
        payer = _try_save(form, lambda: save_payer(current_user, None, form.values()))
        if payer:
            flash(f"Payer {payer.name} is added.", "success")
            return redirect_to(url_for("payers.payers"))
    sort, order = _order(PAYER_SORTS, "name")
    stmt = scoped(Payer).order_by(order, Payer.id)
    if not _show_archived():
        stmt = stmt.where(Payer.archived_at.is_(None))
    rows = db.session.scalars(stmt).all()
    return render_page(
        "payers/payers.html",
        "payers/_payer_form.html",
        form=form,
        payers=rows,
        sort=sort,
        archive_form=ArchiveForm(),
        status=_status(form),
    )


@bp.route("/payers/<int:payer_id>", methods=["GET", "POST"])
@roles(*READ, write=EDIT)
def payer_edit(payer_id: int):
    payer = get_or_404(Payer, payer_id)
    form = PayerForm(obj=payer)
    if form.validate_on_submit() and _try_save(
        form, lambda: save_payer(current_user, payer, form.values())
    ):
        flash(f"Payer {payer.name} is saved.", "success")
        return redirect_to(url_for("payers.payers"))
    networks = db.session.scalars(
        scoped(Network).where(Network.owner_payer_id == payer.id).order_by(Network.name)
    ).all()
    return render_page(
        "payers/payer_edit.html",
        "payers/_payer_form.html",
        form=form,
        payer=payer,
        networks=networks,
        status=_status(form),
    )


ARCHIVABLE = {
    "payer": (Payer, "payers.payers"),
    "network": (Network, "payers.networks"),
    "contract": (Contract, "payers.contracts"),
}


@bp.route(
    "/<any(payer, network, contract):kind>/<int:obj_id>/<any(archive, restore):action>",
    methods=["POST"],
)
@roles(*EDIT)
def archive(kind: str, obj_id: int, action: str):
    model, endpoint = ARCHIVABLE[kind]
    obj = get_or_404(model, obj_id)
    form = ArchiveForm()
    if not form.validate_on_submit():
        abort(400)
    set_archived(current_user, obj, action == "archive", utcnow())
    db.session.commit()
    label = getattr(obj, "name", None) or f"{obj.practice.name} x {obj.network.name}"
    flash(f"{label} is {'archived' if action == 'archive' else 'restored'}.", "success")
    return redirect_to(url_for(endpoint))


# ---- networks and contacts -----------------------------------------------------------------


def _payer_choices(form: NetworkForm, network: Network | None = None) -> None:
    payers_ = db.session.scalars(
        scoped(Payer).where(Payer.archived_at.is_(None)).order_by(Payer.name)
    ).all()
    # an archived payer stays selectable on its own network, so the network can still be saved
    if network is not None and network.owner_payer and network.owner_payer not in payers_:
        payers_.append(network.owner_payer)
    form.owner_payer_id.choices = [(0, "- none (leased or umbrella) -")] + [
        (p.id, p.name) for p in payers_
    ]


def _owner_of(form: NetworkForm) -> Payer | None:
    if form.kind.data != NetworkKind.DIRECT.value or not form.owner_payer_id.data:
        return None
    return get_or_404(Payer, form.owner_payer_id.data)


def _network_values(form: NetworkForm) -> dict:
    owner = _owner_of(form)
    return {
        "name": form.name.data,
        "kind": NetworkKind(form.kind.data),
        "owner_payer_id": owner.id if owner else None,
        "notes": form.notes.data or "",
    }


@bp.route("/networks", methods=["GET", "POST"])
@roles(*READ, write=EDIT)
def networks():
    form = NetworkForm()
    _payer_choices(form)
    if form.validate_on_submit():
        network = _try_save(form, lambda: save_network(current_user, None, _network_values(form)))
        if network:
            flash(f"Network {network.name} is added.", "success")
            return redirect_to(url_for("payers.networks"))
    sort, order = _order(NETWORK_SORTS, "name")
    stmt = scoped(Network).order_by(order, Network.id)
    if not _show_archived():
        stmt = stmt.where(Network.archived_at.is_(None))
    rows = db.session.scalars(stmt).all()
    priced = _payers_priced_by()
    return render_page(
        "payers/networks.html",
        "payers/_network_form.html",
        form=form,
        networks=rows,
        priced=priced,
        sort=sort,
        archive_form=ArchiveForm(),
        status=_status(form),
    )


def _payers_priced_by() -> dict[int, list[str]]:
    """Network id -> the names of the payers any visible practice routes through it."""
    stmt = (
        scoped(PricingRoute)
        .join(Payer, Payer.id == PricingRoute.payer_id)
        .with_only_columns(PricingRoute.network_id, Payer.name)
        .distinct()
        .order_by(Payer.name)
    )
    result: dict[int, list[str]] = {}
    for network_id, name in db.session.execute(stmt):
        result.setdefault(network_id, []).append(name)
    return result


@bp.route("/networks/<int:network_id>", methods=["GET", "POST"])
@roles(*READ, write=EDIT)
def network_edit(network_id: int):
    network = get_or_404(Network, network_id)
    form = NetworkForm(obj=network)
    _payer_choices(form, network)
    if request.method == "GET":
        form.kind.data = network.kind.value
        form.owner_payer_id.data = network.owner_payer_id or 0
    if form.validate_on_submit() and _try_save(
        form, lambda: save_network(current_user, network, _network_values(form))
    ):
        flash(f"Network {network.name} is saved.", "success")
        return redirect_to(url_for("payers.network_edit", network_id=network.id))
    return _network_page(network, "payers/_network_form.html", form=form, status=_status(form))


def _network_page(
    network: Network,
    partial: str,
    *,
    form: NetworkForm | None = None,
    contact_form: ContactForm | None = None,
    status: int = 200,
):
    """The network's page, or only `partial` for htmx; the full page needs both forms."""
    if form is None:  # a contact request: show the network as saved, not the posted fields
        form = NetworkForm(formdata=None, obj=network)
        _payer_choices(form, network)
        form.kind.data = network.kind.value
        form.owner_payer_id.data = network.owner_payer_id or 0
    contracts = db.session.scalars(scoped(Contract).where(Contract.network_id == network.id)).all()
    return render_page(
        "payers/network_edit.html",
        partial,
        form=form,
        network=network,
        contracts=contracts,
        contact_form=contact_form or ContactForm(formdata=None),
        status=status,
    )


@bp.route("/networks/<int:network_id>/contacts", methods=["POST"])
@roles(*EDIT)
def contact_add(network_id: int):
    network = get_or_404(Network, network_id)
    form = ContactForm()
    if form.validate_on_submit():
        contact = _try_save(
            form,
            lambda: save_contact(
                current_user,
                network,
                None,
                {
                    "name": form.name.data,
                    "role": form.role.data or "",
                    "email": form.email.data or "",
                    "phone": form.phone.data or "",
                },
            ),
        )
        if contact:
            if not is_htmx():  # a plain form: back to the page, so a reload does not re-post
                return redirect_to(url_for("payers.network_edit", network_id=network.id))
            form = ContactForm(formdata=None)
    return _network_page(network, "payers/_contacts.html", contact_form=form, status=_status(form))


@bp.route("/contacts/<int:contact_id>/delete", methods=["POST"])
@roles(*EDIT)
def contact_delete(contact_id: int):
    contact = get_or_404(Contact, contact_id)
    network = contact.network
    if not ArchiveForm().validate_on_submit():
        abort(400)
    delete_contact(current_user, contact)
    db.session.commit()
    if not is_htmx():
        return redirect_to(url_for("payers.network_edit", network_id=network.id))
    db.session.refresh(network)
    return _network_page(network, "payers/_contacts.html")


# ---- contracts -----------------------------------------------------------------------------


def _contract_choices(form: ContractForm, contract: Contract | None) -> None:
    practices = visible_practices()
    networks_ = db.session.scalars(
        scoped(Network).where(Network.archived_at.is_(None)).order_by(Network.name)
    ).all()
    if contract is not None:  # an archived network stays selectable on its own contract
        if contract.network not in networks_:
            networks_.append(contract.network)
        if contract.practice not in practices:
            practices.append(contract.practice)
    form.practice_id.choices = [(p.id, p.name) for p in practices]
    form.network_id.choices = [(n.id, n.name) for n in networks_]


CONTRACT_FIELDS = (
    "effective_date",
    "renewal_date",
    "notice_days",
    "auto_renew",
    "min_months_between_changes",
    "mfn_clause",
    "pr_address",
    "pr_email",
    "pr_phone",
    "portal_url",
    "notes",
)


def _contract_values(form: ContractForm) -> dict:
    practice = get_or_404(Practice, form.practice_id.data)
    network = get_or_404(Network, form.network_id.data)
    values = {name: getattr(form, name).data for name in CONTRACT_FIELDS}
    for name in ("pr_address", "pr_email", "pr_phone", "portal_url", "notes"):
        values[name] = values[name] or ""
    return {**values, "practice_id": practice.id, "network_id": network.id}


@bp.route("/contracts")
@roles(*READ)
def contracts():
    practice_id = request.args.get("practice", type=int)
    stmt = (
        scoped(Contract)
        .join(Practice, Practice.id == Contract.practice_id)
        .join(Network, Network.id == Contract.network_id)
        .order_by(Practice.name, Network.name)
    )
    practice = None
    if practice_id:
        practice = get_or_404(Practice, practice_id)
        stmt = stmt.where(Contract.practice_id == practice.id)
    if not _show_archived():
        stmt = stmt.where(Contract.archived_at.is_(None))
    rows = db.session.scalars(stmt).all()
    return render_page(
        "payers/contracts.html",
        contracts=rows,
        practice=practice,
        practices=visible_practices(),
        archive_form=ArchiveForm(),
    )


@bp.route("/contracts/new", methods=["GET", "POST"])
@roles(*EDIT)
def contract_new():
    return _contract_page(None)


@bp.route("/contracts/<int:contract_id>", methods=["GET", "POST"])
@roles(*READ, write=EDIT)
def contract_edit(contract_id: int):
    return _contract_page(get_or_404(Contract, contract_id))


def _contract_page(contract: Contract | None):
    """The contract form: a new contract (None) or an existing one's terms."""
    form = ContractForm(obj=contract)
    _contract_choices(form, contract)
    if contract is None and request.method == "GET":
        form.practice_id.data = request.args.get("practice", type=int)
    if form.validate_on_submit():
        saved = _try_save(
            form, lambda: save_contract(current_user, contract, _contract_values(form))
        )
        if saved:
            flash(f"Contract {saved.practice.name} x {saved.network.name} is saved.", "success")
            return redirect_to(url_for("payers.contracts", practice=saved.practice_id))
    return render_page(
        "payers/contract_edit.html",
        "payers/_contract_form.html",
        form=form,
        contract=contract,
        status=_status(form),
    )


# ---- pricing routes ------------------------------------------------------------------------


@bp.route("/practices/<int:practice_id>/routes", methods=["GET", "POST"])
@roles(*READ, write=EDIT)
def routes(practice_id: int):
    practice = get_or_404(Practice, practice_id)
    payers_ = db.session.scalars(
        scoped(Payer).where(Payer.archived_at.is_(None)).order_by(Payer.name)
    ).all()
    networks_ = db.session.scalars(
        scoped(Network).where(Network.archived_at.is_(None)).order_by(Network.name)
    ).all()
    form = ArchiveForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        choices: dict[int, int | None] = {}
        for payer in payers_:
            raw = request.form.get(f"payer-{payer.id}")
            if raw is None:  # added after the page was loaded: keep its route, not clear it
                continue
            choices[payer.id] = int(raw) if raw.isdigit() else None
        try:
            changes = save_routes(
                current_user,
                practice,
                choices,
                {p.id: p for p in payers_},
                {n.id: n for n in networks_},
            )
        except ServiceError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"Pricing routes saved ({changes} changed).", "success")
            return redirect_to(url_for("payers.routes", practice_id=practice.id))
    current = {
        r.payer_id: r.network_id
        for r in db.session.scalars(
            sa.select(PricingRoute).where(PricingRoute.practice_id == practice.id)
        )
    }
    contracted = set(
        db.session.scalars(
            sa.select(Contract.network_id).where(
                Contract.practice_id == practice.id, Contract.archived_at.is_(None)
            )
        )
    )
    rows = [(p, current.get(p.id), default_network(p, networks_)) for p in payers_]
    return render_page(
        "payers/routes.html",
        practice=practice,
        rows=rows,
        networks=networks_,
        contracted=contracted,
        form=form,
        status=422 if form.form_errors else 200,
    )


def _status(form) -> int:
    return 422 if form.errors or form.form_errors else 200
