"""Payers, networks and contacts: adding, editing, sorting, archiving, roles, tenancy, audit."""

from __future__ import annotations

import html as htmllib
import re

import pytest
import sqlalchemy as sa

from campaigns.accounts.models import AuditEvent, Practice
from campaigns.audit import snapshot
from campaigns.payers.models import Contact, Network, NetworkKind, Payer
from tests.conftest import database, html_text, login
from tests.factories import PayerFactory, PricingRouteFactory

# ---- helpers --------------------------------------------------------------------------------


@pytest.fixture
def manager(client, world):
    """The client signed in as organisation A's manager (sees every practice)."""
    login(client, world.a.manager)
    return client


def count(app, model, **where) -> int:
    with database(app) as s:
        stmt = sa.select(sa.func.count()).select_from(model)
        for key, value in where.items():
            stmt = stmt.where(getattr(model, key) == value)
        return s.scalar(stmt)


def payer_row(app, org_id: int, name: str) -> dict | None:
    with database(app) as s:
        payer = s.scalar(
            sa.select(Payer).where(Payer.organization_id == org_id, Payer.name == name)
        )
        return snapshot(payer) if payer else None


def network_row(app, network_id: int) -> dict:
    with database(app) as s:
        return snapshot(s.get(Network, network_id))


def listed_payers(response) -> list[str]:
    """The payer names in the list table, in the order shown."""
    html = response.get_data(as_text=True)
    table = re.search(r'<table id="payer-list">.*?</table>', html, re.S)
    if table is None:
        return []
    return re.findall(r'<td><a href="/payers/\d+">([^<]*)</a>', table.group(0))


def table_row(response, name: str) -> str:
    """The text of the table row whose first link reads `name`."""
    html = response.get_data(as_text=True)
    for row in re.findall(r"<tr>.*?</tr>", html, re.S):
        if re.search(rf">{re.escape(name)}</a>", row):
            return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
    raise AssertionError(f"no row for {name!r}")


def field_error(response, field: str) -> str:
    """The message shown next to a form field."""
    html = response.get_data(as_text=True)
    match = re.search(rf'<small class="field-error" id="{field}-error">([^<]*)</small>', html)
    return htmllib.unescape(match.group(1)) if match else ""


def audit_events(app, object_type: str, object_id: int) -> list[dict]:
    with database(app) as s:
        events = s.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
            .order_by(AuditEvent.id)
        )
        return [
            {
                "action": e.action,
                "user_id": e.user_id,
                "organization_id": e.organization_id,
                "before": e.before,
                "after": e.after,
            }
            for e in events
        ]


# ---- adding payers --------------------------------------------------------------------------


def test_manager_adds_a_payer_with_the_plain_form(app, manager, world):
    response = manager.post(
        "/payers", data={"name": "  Delta Dental  ", "payer_id": "CDCA1", "notes": "Main carrier"}
    )

    assert response.status_code == 303
    assert response.headers["Location"] == "/payers"
    row = payer_row(app, world.a.org_id, "Delta Dental")
    assert (row["payer_id"], row["notes"], row["archived_at"]) == ("CDCA1", "Main carrier", None)
    page = manager.get("/payers")
    assert "Payer Delta Dental is added." in html_text(page)
    assert listed_payers(page) == ["Alpha Dental Payer", "Delta Dental"]


def test_manager_adds_a_payer_with_the_htmx_form_and_is_sent_to_the_list(app, manager, world):
    response = manager.post("/payers", data={"name": "Cigna"}, htmx=True)

    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/payers"
    assert response.get_data() == b""
    row = payer_row(app, world.a.org_id, "Cigna")
    assert (row["payer_id"], row["notes"]) == ("", "")
    assert "Cigna" in listed_payers(manager.get("/payers"))


@pytest.mark.parametrize("name", ["", "   "])
def test_payer_without_a_name_is_rejected_next_to_the_field(app, manager, world, name):
    response = manager.post("/payers", data={"name": name, "payer_id": "X1"}, htmx=True)

    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<form id="payer-form"')  # only the form partial
    assert field_error(response, "name") == "Enter the payer's name."
    assert 'value="X1"' in body  # what was typed stays
    assert count(app, Payer, organization_id=world.a.org_id) == 1


def test_payer_name_already_used_in_any_case_is_rejected(app, manager, world):
    response = manager.post("/payers", data={"name": "alpha DENTAL payer"})

    assert response.status_code == 422
    assert "A payer with this name already exists." in html_text(response)
    assert count(app, Payer, organization_id=world.a.org_id) == 1


def test_payer_name_used_by_another_organisation_is_free(app, manager, world):
    response = manager.post("/payers", data={"name": world.b.payer_name})

    assert response.status_code == 303
    assert count(app, Payer, name=world.b.payer_name) == 2


# ---- editing payers -------------------------------------------------------------------------


def test_manager_edits_a_payers_name_and_notes(app, manager, world):
    response = manager.post(
        f"/payers/{world.a.payer_id}",
        data={"name": "Alpha Mutual", "payer_id": "AM001", "notes": "Call before March"},
    )

    assert response.status_code == 303
    assert response.headers["Location"] == "/payers"
    row = payer_row(app, world.a.org_id, "Alpha Mutual")
    assert row["id"] == world.a.payer_id
    assert (row["payer_id"], row["notes"]) == ("AM001", "Call before March")
    assert "Payer Alpha Mutual is saved." in html_text(manager.get("/payers"))


def test_payer_keeps_its_own_name_on_edit_but_cannot_take_another(app, manager, world):
    with database(app):
        PayerFactory(organization_id=world.a.org_id, name="Guardian")
    url = f"/payers/{world.a.payer_id}"

    assert manager.post(url, data={"name": "ALPHA dental payer"}).status_code == 303
    taken = manager.post(url, data={"name": "guardian"}, htmx=True)

    assert taken.status_code == 422
    assert field_error(taken, "name") == "A payer with this name already exists."
    assert payer_row(app, world.a.org_id, "ALPHA dental payer")["id"] == world.a.payer_id


def test_payer_notes_longer_than_4000_characters_are_rejected(app, manager, world):
    before = payer_row(app, world.a.org_id, world.a.payer_name)

    response = manager.post(
        f"/payers/{world.a.payer_id}",
        data={"name": world.a.payer_name, "notes": "x" * 4001},
        htmx=True,
    )

    assert response.status_code == 422
    assert field_error(response, "notes") == "Field cannot be longer than 4000 characters."
    assert payer_row(app, world.a.org_id, world.a.payer_name) == before
    ok = manager.post(
        f"/payers/{world.a.payer_id}", data={"name": world.a.payer_name, "notes": "x" * 4000}
    )
    assert ok.status_code == 303
    assert len(payer_row(app, world.a.org_id, world.a.payer_name)["notes"]) == 4000


# ---- the list -------------------------------------------------------------------------------


@pytest.fixture
def three_payers(app, world):
    with database(app):
        for name, payer_id in (("Cigna", "62308"), ("MetLife", "65978"), ("Aetna", "60054")):
            PayerFactory(organization_id=world.a.org_id, name=name, payer_id=payer_id)


def test_payer_list_sorts_by_name_either_way(manager, three_payers):
    names = ["Aetna", "Alpha Dental Payer", "Cigna", "MetLife"]

    assert listed_payers(manager.get("/payers")) == names
    assert listed_payers(manager.get("/payers?sort=name")) == names
    assert listed_payers(manager.get("/payers?sort=-name")) == names[::-1]


def test_payer_list_sorts_by_payer_id(manager, three_payers):
    # The world's payer has a factory id "P0..." which sorts after the digits.
    assert listed_payers(manager.get("/payers?sort=payer_id")) == [
        "Aetna",
        "Cigna",
        "MetLife",
        "Alpha Dental Payer",
    ]
    assert listed_payers(manager.get("/payers?sort=-payer_id")) == [
        "Alpha Dental Payer",
        "MetLife",
        "Cigna",
        "Aetna",
    ]


def test_payer_list_ignores_an_unknown_sort(manager, three_payers):
    response = manager.get("/payers?sort=-password")

    assert response.status_code == 200
    assert listed_payers(response) == ["Aetna", "Alpha Dental Payer", "Cigna", "MetLife"]


def test_archived_payer_leaves_the_list_and_comes_back_on_restore(app, manager, world):
    archived = manager.post(f"/payer/{world.a.payer_id}/archive")

    assert archived.status_code == 303
    assert archived.headers["Location"] == "/payers"
    assert payer_row(app, world.a.org_id, world.a.payer_name)["archived_at"] is not None
    page = manager.get("/payers")
    assert listed_payers(page) == []
    assert f"{world.a.payer_name} is archived." in html_text(page)
    with_archived = manager.get("/payers?archived=1")
    assert listed_payers(with_archived) == [world.a.payer_name]
    assert table_row(with_archived, world.a.payer_name).startswith(f"{world.a.payer_name} archived")

    restored = manager.post(f"/payer/{world.a.payer_id}/restore", htmx=True)

    assert restored.status_code == 204
    assert restored.headers["HX-Redirect"] == "/payers"
    assert payer_row(app, world.a.org_id, world.a.payer_name)["archived_at"] is None
    assert listed_payers(manager.get("/payers")) == [world.a.payer_name]


def test_archive_without_the_csrf_token_changes_nothing(app, manager, world):
    response = manager.post(f"/payer/{world.a.payer_id}/archive", csrf=False)

    assert response.status_code == 400
    assert payer_row(app, world.a.org_id, world.a.payer_name)["archived_at"] is None


def test_viewer_sees_the_payers_but_cannot_add_or_archive(app, client, world):
    login(client, world.a.viewer)

    page = client.get("/payers")
    assert page.status_code == 200
    assert listed_payers(page) == [world.a.payer_name]
    assert "Add a payer" not in html_text(page)
    assert 'id="payer-form"' not in page.get_data(as_text=True)
    assert "Archive" not in html_text(page)

    assert client.post("/payers", data={"name": "Sneaky"}).status_code == 403
    assert client.post(f"/payer/{world.a.payer_id}/archive").status_code == 403
    assert client.post(f"/payers/{world.a.payer_id}", data={"name": "Renamed"}).status_code == 403
    assert count(app, Payer, organization_id=world.a.org_id) == 1
    row = payer_row(app, world.a.org_id, world.a.payer_name)
    assert row["archived_at"] is None


def test_anonymous_post_goes_to_the_login_page_and_adds_nothing(app, client, world):
    response = client.post("/payers", data={"name": "Anonymous Payer"})

    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login?next=")
    assert count(app, Payer) == 2


def test_html_in_a_payer_name_is_shown_as_text(app, manager, world):
    payload = "<script>alert(1)</script>"
    manager.post("/payers", data={"name": payload, "notes": '<img src=x onerror="alert(2)">'})

    page = manager.get("/payers")
    body = page.get_data(as_text=True)
    assert payload not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert payer_row(app, world.a.org_id, payload) is not None


# ---- networks -------------------------------------------------------------------------------


def network_data(**changes) -> dict:
    return {"name": "Careington", "kind": "leased", "owner_payer_id": "0", "notes": ""} | changes


def test_direct_network_without_an_owner_is_rejected(app, manager, world):
    response = manager.post("/networks", data=network_data(kind="direct"), htmx=True)

    assert response.status_code == 422
    assert response.get_data(as_text=True).lstrip().startswith('<form id="network-form"')
    assert field_error(response, "owner_payer_id") == (
        "A direct network belongs to a payer: choose it."
    )
    assert count(app, Network, organization_id=world.a.org_id) == 2


def test_manager_adds_a_direct_network_owned_by_a_payer(app, manager, world):
    response = manager.post(
        "/networks",
        data=network_data(name="Alpha Select", kind="direct", owner_payer_id=world.a.payer_id),
    )

    assert response.status_code == 303
    assert response.headers["Location"] == "/networks"
    with database(app) as s:
        network = s.scalar(sa.select(Network).where(Network.name == "Alpha Select"))
        assert (network.kind, network.owner_payer_id, network.organization_id) == (
            NetworkKind.DIRECT,
            world.a.payer_id,
            world.a.org_id,
        )


def test_leased_network_is_saved_without_the_owner_chosen(app, manager, world):
    response = manager.post(
        "/networks", data=network_data(owner_payer_id=world.a.payer_id), htmx=True
    )

    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/networks"
    with database(app) as s:
        network = s.scalar(sa.select(Network).where(Network.name == "Careington"))
        assert (network.kind, network.owner_payer_id) == (NetworkKind.LEASED, None)
    assert table_row(manager.get("/networks"), "Careington") == "Careington leased - Archive"


def test_network_cannot_be_owned_by_another_organisations_payer(app, manager, world):
    response = manager.post(
        "/networks", data=network_data(kind="direct", owner_payer_id=world.b.payer_id)
    )

    assert response.status_code == 422
    assert field_error(response, "owner_payer_id") == "Not a valid choice."
    assert count(app, Network, name="Careington") == 0


def test_manager_changes_a_networks_kind(app, manager, world):
    url = f"/networks/{world.a.network_id}"
    response = manager.post(
        url,
        data=network_data(
            name=world.a.network_name, kind="umbrella", owner_payer_id=world.a.payer_id
        ),
    )

    assert response.status_code == 303
    assert response.headers["Location"] == url
    row = network_row(app, world.a.network_id)
    assert (row["kind"], row["owner_payer_id"]) == ("umbrella", None)
    assert f"Network {world.a.network_name} is saved." in html_text(manager.get(url))


def test_network_edit_page_shows_the_current_kind_and_owner(manager, world):
    html = manager.get(f"/networks/{world.a.network_id}").get_data(as_text=True)

    assert '<option selected value="direct">' in html
    assert f'<option selected value="{world.a.payer_id}">{world.a.payer_name}</option>' in html


def test_network_name_already_used_is_rejected(app, manager, world):
    before = network_row(app, world.a.leased_id)

    response = manager.post(
        f"/networks/{world.a.leased_id}",
        data=network_data(name=world.a.network_name.upper()),
        htmx=True,
    )

    assert response.status_code == 422
    assert field_error(response, "name") == "A network with this name already exists."
    assert network_row(app, world.a.leased_id) == before
    added = manager.post("/networks", data=network_data(name=world.a.network_name.lower()))
    assert added.status_code == 422
    assert count(app, Network, organization_id=world.a.org_id) == 2


def test_network_list_shows_which_payers_each_network_prices(app, manager, world):
    with database(app) as s:
        guardian = PayerFactory(organization_id=world.a.org_id, name="Guardian")
        PricingRouteFactory(
            practice=s.get(Practice, world.a.practice_ids[0]),
            payer=guardian,
            network=s.get(Network, world.a.leased_id),
        )
        PayerFactory(organization_id=world.a.org_id, name="Unrouted")

    page = manager.get("/networks")

    assert table_row(page, "Alpha Dental PPO") == (
        "Alpha Dental PPO direct Alpha Dental Payer Alpha Dental Payer Archive"
    )
    assert table_row(page, "Alpha Dental Leased") == "Alpha Dental Leased leased Guardian Archive"
    assert "Beta Dental" not in html_text(page)


def network_names(response) -> list[str]:
    return re.findall(r'<td><a href="/networks/\d+">([^<]*)</a>', response.get_data(as_text=True))


def test_direct_network_of_an_archived_payer_can_still_be_edited(app, manager, world):
    manager.post(f"/payer/{world.a.payer_id}/archive")
    url = f"/networks/{world.a.network_id}"

    html = manager.get(url).get_data(as_text=True)
    assert f'<option selected value="{world.a.payer_id}">{world.a.payer_name}</option>' in html
    response = manager.post(
        url,
        data=network_data(
            name="Alpha Dental PPO Plus", kind="direct", owner_payer_id=world.a.payer_id
        ),
    )

    assert response.status_code == 303
    row = network_row(app, world.a.network_id)
    assert (row["name"], row["owner_payer_id"]) == ("Alpha Dental PPO Plus", world.a.payer_id)
    new_network = manager.post(
        "/networks",
        data=network_data(name="Other", kind="direct", owner_payer_id=world.a.payer_id),
    )
    assert new_network.status_code == 422  # an archived payer is offered only where it is used
    assert field_error(new_network, "owner_payer_id") == "Not a valid choice."


def test_archived_network_leaves_the_list_until_restored(app, manager, world):
    response = manager.post(f"/network/{world.a.leased_id}/archive")

    assert response.status_code == 303
    assert response.headers["Location"] == "/networks"
    assert network_row(app, world.a.leased_id)["archived_at"] is not None
    assert "Alpha Dental Leased" not in network_names(manager.get("/networks"))
    assert "archived" in table_row(manager.get("/networks?archived=1"), "Alpha Dental Leased")

    manager.post(f"/network/{world.a.leased_id}/restore")

    assert network_row(app, world.a.leased_id)["archived_at"] is None


# ---- contacts -------------------------------------------------------------------------------


def contact_names(app, network_id: int) -> list[str]:
    with database(app) as s:
        return list(
            s.scalars(
                sa.select(Contact.name)
                .where(Contact.network_id == network_id)
                .order_by(Contact.name)
            )
        )


def test_manager_adds_a_contact_and_gets_the_contacts_section_back(app, manager, world):
    response = manager.post(
        f"/networks/{world.a.network_id}/contacts",
        data={
            "name": "Pat Rivera",
            "role": "Provider relations",
            "email": " pat@alphappo.com ",
            "phone": "555-0100",
        },
        htmx=True,
    )

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="contacts">')
    text = html_text(response)
    assert "Alpha Dental Rep" in text
    assert "Pat Rivera Provider relations pat@alphappo.com 555-0100" in text
    assert 'value="Pat Rivera"' not in body  # the add form is empty again
    with database(app) as s:
        contact = s.scalar(sa.select(Contact).where(Contact.name == "Pat Rivera"))
        assert (contact.network_id, contact.organization_id, contact.email, contact.phone) == (
            world.a.network_id,
            world.a.org_id,
            "pat@alphappo.com",
            "555-0100",
        )


def test_contact_with_an_invalid_email_is_rejected_in_the_contacts_section(app, manager, world):
    response = manager.post(
        f"/networks/{world.a.network_id}/contacts",
        data={"name": "Pat Rivera", "email": "pat-at-alpha"},
        htmx=True,
    )

    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="contacts">')
    assert field_error(response, "email") == "Enter a valid email address."
    assert 'value="Pat Rivera"' in body
    assert contact_names(app, world.a.network_id) == ["Alpha Dental Rep"]


def test_manager_adds_a_contact_with_the_plain_form(app, manager, world):
    response = manager.post(f"/networks/{world.a.network_id}/contacts", data={"name": "Pat Rivera"})

    assert response.status_code == 303
    assert response.headers["Location"] == f"/networks/{world.a.network_id}"
    assert contact_names(app, world.a.network_id) == ["Alpha Dental Rep", "Pat Rivera"]
    assert "Pat Rivera" in html_text(manager.get(f"/networks/{world.a.network_id}"))


def test_contact_rejected_on_the_plain_form_shows_the_whole_page(app, manager, world):
    response = manager.post(f"/networks/{world.a.network_id}/contacts", data={"name": ""})

    assert response.status_code == 422
    assert "<html" in response.get_data(as_text=True)
    assert field_error(response, "name") == "Enter the contact's name."
    assert contact_names(app, world.a.network_id) == ["Alpha Dental Rep"]


def test_manager_removes_a_contact(app, manager, world):
    response = manager.post(f"/contacts/{world.a.contact_id}/delete", htmx=True)

    assert response.status_code == 200
    assert response.get_data(as_text=True).lstrip().startswith('<section id="contacts">')
    assert "Alpha Dental Rep" not in html_text(response)
    assert "No contacts yet." in html_text(response)
    assert contact_names(app, world.a.network_id) == []
    with database(app) as s:
        event = s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "deleted"))
        assert (event.object_type, event.object_id, event.before["name"]) == (
            "Contact",
            world.a.contact_id,
            "Alpha Dental Rep",
        )


def test_manager_removes_a_contact_with_the_plain_form(app, manager, world):
    response = manager.post(f"/contacts/{world.a.contact_id}/delete")

    assert response.status_code == 303
    assert response.headers["Location"] == f"/networks/{world.a.network_id}"
    assert contact_names(app, world.a.network_id) == []


def test_viewer_cannot_add_or_remove_contacts(app, client, world):
    login(client, world.a.viewer)

    page = client.get(f"/networks/{world.a.network_id}")
    assert "Add a contact" not in html_text(page)
    assert "Remove" not in html_text(page)
    add = client.post(f"/networks/{world.a.network_id}/contacts", data={"name": "Pat"})
    remove = client.post(f"/contacts/{world.a.contact_id}/delete")

    assert (add.status_code, remove.status_code) == (403, 403)
    assert contact_names(app, world.a.network_id) == ["Alpha Dental Rep"]


# ---- tenancy --------------------------------------------------------------------------------


FOREIGN = [
    ("GET", "/payers/{b.payer_id}", {}),
    ("POST", "/payers/{b.payer_id}", {"name": "Taken Over"}),
    ("POST", "/payer/{b.payer_id}/archive", {}),
    ("GET", "/networks/{b.network_id}", {}),
    ("POST", "/networks/{b.network_id}", {"name": "Taken Over", "kind": "leased"}),
    ("POST", "/network/{b.network_id}/archive", {}),
    ("POST", "/networks/{b.network_id}/contacts", {"name": "Intruder"}),
    ("POST", "/contacts/{b.contact_id}/delete", {}),
]


def organisation_b(app, world) -> dict:
    with database(app) as s:
        return {
            "payer": snapshot(s.get(Payer, world.b.payer_id)),
            "network": snapshot(s.get(Network, world.b.network_id)),
            "contacts": [snapshot(c) for c in s.scalars(sa.select(Contact).order_by(Contact.id))],
        }


@pytest.mark.parametrize(("method", "url", "data"), FOREIGN)
@pytest.mark.parametrize("htmx", [False, True])
def test_another_organisations_rows_answer_not_found(app, manager, world, method, url, data, htmx):
    before = organisation_b(app, world)

    response = manager.open(url.format(b=world.b), method=method, data=data, htmx=htmx)

    assert response.status_code == 404
    assert "There is nothing here, or it is not yours to see." in html_text(response)
    assert world.b.payer_name not in html_text(response)
    assert organisation_b(app, world) == before


# ---- audit ----------------------------------------------------------------------------------


def test_creating_and_editing_a_payer_writes_audit_events(app, manager, world):
    manager.post("/payers", data={"name": "Guardian", "payer_id": "64246", "notes": "New"})
    payer_id = payer_row(app, world.a.org_id, "Guardian")["id"]
    manager.post(
        f"/payers/{payer_id}",
        data={"name": "Guardian Direct", "payer_id": "64246", "notes": "Renamed in May"},
    )

    created, updated = audit_events(app, "Payer", payer_id)
    manager_id = world.a.user_ids[world.a.manager]
    assert (created["action"], created["user_id"], created["organization_id"]) == (
        "created",
        manager_id,
        world.a.org_id,
    )
    assert created["before"] is None
    assert {k: created["after"][k] for k in ("name", "payer_id", "notes")} == {
        "name": "Guardian",
        "payer_id": "64246",
        "notes": "New",
    }
    assert (updated["action"], updated["user_id"]) == ("updated", manager_id)
    assert updated["before"] == {"name": "Guardian", "notes": "New"}
    assert updated["after"] == {"name": "Guardian Direct", "notes": "Renamed in May"}


def test_archiving_a_payer_is_audited(app, manager, world):
    manager.post(f"/payer/{world.a.payer_id}/archive")

    (event,) = audit_events(app, "Payer", world.a.payer_id)
    assert event["action"] == "archived"
    assert event["before"] == {"archived_at": None}
    assert event["after"]["archived_at"] is not None


def test_rejected_payer_writes_no_audit_event(app, manager, world):
    manager.post("/payers", data={"name": world.a.payer_name.lower()})

    assert count(app, AuditEvent, object_type="Payer") == 0
