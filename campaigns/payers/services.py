"""Rules for payers, networks, contracts, contacts and pricing routes; views only call these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .. import audit
from ..accounts.models import Practice, User
from ..accounts.services import ServiceError, name_taken
from ..extensions import db
from .models import Contact, Contract, Network, NetworkKind, Payer, PricingRoute


def _save(actor: User, model, obj, values: dict[str, Any], label: str):
    """Create (obj None) or update an organisation row, with its audit event."""
    before = audit.snapshot(obj) if obj is not None else None
    if obj is None:
        obj = model(organization_id=actor.organization_id)
        db.session.add(obj)
    for key, value in values.items():
        setattr(obj, key, value)
    db.session.flush()  # the snapshot of a new row carries its id and defaults
    audit.record(
        actor,
        "updated" if before else "created",
        obj,
        summary=label,
        before=before,
        after=audit.snapshot(obj),
    )
    return obj


def save_payer(actor: User, payer: Payer | None, values: dict) -> Payer:
    if name_taken(Payer, actor.organization_id, values["name"], payer and payer.id):
        raise ServiceError("A payer with this name already exists.", "name")
    return _save(actor, Payer, payer, values, f"payer {values['name']}")


def save_network(actor: User, network: Network | None, values: dict) -> Network:
    if name_taken(Network, actor.organization_id, values["name"], network and network.id):
        raise ServiceError("A network with this name already exists.", "name")
    values = dict(values)
    if values["kind"] != NetworkKind.DIRECT:
        values["owner_payer_id"] = None  # only a direct network belongs to a payer
    return _save(actor, Network, network, values, f"network {values['name']}")


def save_contract(actor: User, contract: Contract | None, values: dict) -> Contract:
    clash = sa.select(Contract.id).where(
        Contract.practice_id == values["practice_id"],
        Contract.network_id == values["network_id"],
    )
    if contract is not None:
        clash = clash.where(Contract.id != contract.id)
    if db.session.scalar(clash) is not None:
        raise ServiceError("This practice already has a contract with this network.", "network_id")
    network = db.session.get(Network, values["network_id"])
    practice = db.session.get(Practice, values["practice_id"])
    return _save(actor, Contract, contract, values, f"contract {practice.name} x {network.name}")


def save_contact(actor: User, network: Network, contact: Contact | None, values: dict) -> Contact:
    values = {**values, "network_id": network.id}
    return _save(actor, Contact, contact, values, f"contact {values['name']} at {network.name}")


def delete_contact(actor: User, contact: Contact) -> None:
    audit.record(
        actor, "deleted", contact, summary=f"contact {contact.name}", before=audit.snapshot(contact)
    )
    db.session.delete(contact)


def set_archived(actor: User, obj, archived: bool, now: datetime) -> None:
    """Archive (hide from pickers, keep history) or restore a payer, network or contract."""
    before = audit.snapshot(obj)
    obj.archived_at = now if archived else None
    audit.record(
        actor,
        "archived" if archived else "restored",
        obj,
        summary=getattr(obj, "name", f"#{obj.id}"),
        before=before,
        after=audit.snapshot(obj),
    )


def default_network(payer: Payer, networks: list[Network]) -> Network | None:
    """A payer's own direct network, the default route when none is set."""
    return next((n for n in networks if n.owner_payer_id == payer.id), None)


def save_routes(
    actor: User,
    practice: Practice,
    choices: dict[int, int | None],
    payers: dict[int, Payer],
    networks: dict[int, Network],
) -> int:
    """Set, change or clear the network pricing each payer for a practice; returns changes."""
    existing = {
        r.payer_id: r
        for r in db.session.scalars(
            sa.select(PricingRoute).where(PricingRoute.practice_id == practice.id)
        )
    }
    changes = 0
    for payer_id, network_id in choices.items():
        if payer_id not in payers or (network_id is not None and network_id not in networks):
            raise ServiceError(
                "The form lists a payer or network that no longer exists; reload the page."
            )
        route = existing.get(payer_id)
        if route is not None and route.network_id == network_id:
            continue
        if route is None and network_id is None:
            continue
        changes += 1
        before = audit.snapshot(route) if route else None
        if network_id is None:
            audit.record(
                actor, "deleted", route, summary=f"route {payers[payer_id].name}", before=before
            )
            db.session.delete(route)
            continue
        if route is None:
            route = PricingRoute(
                organization_id=actor.organization_id, practice_id=practice.id, payer_id=payer_id
            )
            db.session.add(route)
        route.network_id = network_id
        audit.record(
            actor,
            "updated" if before else "created",
            route,
            summary=f"{practice.name}: {payers[payer_id].name} priced by "
            f"{networks[network_id].name}",
            before=before,
            after=audit.snapshot(route),
        )
    return changes
