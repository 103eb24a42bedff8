"""Contracts (a practice's terms with a network) and pricing routes (which network prices whom)."""

from __future__ import annotations

import html as htmllib
import re
from datetime import date

import pytest
import sqlalchemy as sa

from campaigns.accounts.models import AuditEvent
from campaigns.audit import snapshot
from campaigns.payers.models import Contract, PricingRoute
from tests.conftest import database, html_text, login
from tests.factories import PayerFactory

# ---- helpers --------------------------------------------------------------------------------


@pytest.fixture
def manager(client, world):
    """The client signed in as organisation A's manager (sees every practice)."""
    login(client, world.a.manager)
    return client


def contracts_in_db(app) -> list[dict]:
    with database(app) as s:
        return [snapshot(c) for c in s.scalars(sa.select(Contract).order_by(Contract.id))]


def routes_in_db(app) -> list[tuple[int, int, int, int]]:
    """(id, practice, payer, network) of every route, both organisations."""
    with database(app) as s:
        return list(
            s.execute(
                sa.select(
                    PricingRoute.id,
                    PricingRoute.practice_id,
                    PricingRoute.payer_id,
                    PricingRoute.network_id,
                ).order_by(PricingRoute.id)
            ).tuples()
        )


def field_error(response, field: str) -> str:
    html = response.get_data(as_text=True)
    match = re.search(rf'<small class="field-error" id="{field}-error">([^<]*)</small>', html)
    return htmllib.unescape(match.group(1)) if match else ""


def table_text(response) -> list[str]:
    """The text of each body row of the page's table."""
    html = response.get_data(as_text=True)
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
    rows = re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S) if body else []
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r)).strip() for r in rows]


def contract_data(world, **changes) -> dict:
    """A complete contract form for South Office x the leased network of organisation A."""
    return {
        "practice_id": world.a.practice_ids[1],
        "network_id": world.a.leased_id,
        "effective_date": "2025-03-01",
        "renewal_date": "2026-03-01",
        "notice_days": "90",
        "auto_renew": "y",
        "min_months_between_changes": "12",
        "mfn_clause": "y",
        "pr_address": "PO Box 100\nDallas TX",
        "pr_email": "pr@leasednetwork.com",
        "pr_phone": "800-555-0101",
        "portal_url": "https://portal.leasednetwork.com/providers",
        "notes": "Signed by Dr. Lee",
    } | changes


# ---- creating contracts ---------------------------------------------------------------------


def test_manager_creates_a_contract_with_its_terms(app, manager, world):
    response = manager.post("/contracts/new", data=contract_data(world))

    assert response.status_code == 303
    assert response.headers["Location"] == f"/contracts?practice={world.a.practice_ids[1]}"
    with database(app) as s:
        contract = s.scalar(
            sa.select(Contract).where(
                Contract.practice_id == world.a.practice_ids[1],
                Contract.network_id == world.a.leased_id,
            )
        )
        assert contract.organization_id == world.a.org_id
        assert (contract.effective_date, contract.renewal_date) == (
            date(2025, 3, 1),
            date(2026, 3, 1),
        )
        assert (contract.notice_days, contract.min_months_between_changes) == (90, 12)
        assert (contract.auto_renew, contract.mfn_clause) == (True, True)
        assert (contract.pr_address, contract.pr_email, contract.pr_phone) == (
            "PO Box 100\nDallas TX",
            "pr@leasednetwork.com",
            "800-555-0101",
        )
        assert contract.portal_url == "https://portal.leasednetwork.com/providers"
        assert (contract.notes, contract.archived_at) == ("Signed by Dr. Lee", None)
        contract_id = contract.id

    listing = html_text(manager.get(response.headers["Location"]))
    assert "Contract South Office x Alpha Dental Leased is saved." in listing
    page = html_text(manager.get(f"/contracts/{contract_id}"))
    # 2026-03-01 minus 90 days: 28 days back to Feb 1, 31 more to Jan 1, 31 more to Dec 1.
    assert "Notice must be given by Dec 1, 2025 (90 days before renewal on Mar 1, 2026)." in page


def test_contract_saved_with_the_boxes_unticked_does_not_renew_or_carry_an_mfn(app, manager, world):
    data = contract_data(world)
    del data["auto_renew"], data["mfn_clause"]
    data |= {"notice_days": "", "min_months_between_changes": "", "portal_url": ""}

    response = manager.post("/contracts/new", data=data, htmx=True)

    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/contracts?practice={world.a.practice_ids[1]}"
    (contract,) = [c for c in contracts_in_db(app) if c["network_id"] == world.a.leased_id]
    assert (contract["auto_renew"], contract["mfn_clause"]) == (False, False)
    assert (contract["notice_days"], contract["min_months_between_changes"]) == (None, None)
    assert contract["portal_url"] == ""
    page = html_text(manager.get(f"/contracts/{contract['id']}"))
    assert "Notice must be given by" not in page


def test_second_contract_for_the_same_practice_and_network_is_rejected(app, manager, world):
    before = contracts_in_db(app)

    response = manager.post(
        "/contracts/new",
        data=contract_data(
            world, practice_id=world.a.practice_ids[0], network_id=world.a.network_id
        ),
        htmx=True,
    )

    assert response.status_code == 422
    assert response.get_data(as_text=True).lstrip().startswith('<form id="contract-form"')
    assert field_error(response, "network_id") == (
        "This practice already has a contract with this network."
    )
    assert contracts_in_db(app) == before


def test_editing_a_contract_keeps_it_distinct_from_the_others(app, manager, world):
    contract_id = world.a.contract_ids[0]
    data = contract_data(world, practice_id=world.a.practice_ids[0], network_id=world.a.network_id)

    saved = manager.post(f"/contracts/{contract_id}", data=data | {"notice_days": "60"})
    clash = manager.post(
        f"/contracts/{contract_id}", data=data | {"practice_id": world.a.practice_ids[1]}
    )

    assert saved.status_code == 303
    assert clash.status_code == 422
    assert "This practice already has a contract with this network." in html_text(clash)
    with database(app) as s:
        contract = s.get(Contract, contract_id)
        assert (contract.practice_id, contract.notice_days) == (world.a.practice_ids[0], 60)


AFTER = "The renewal date comes after the effective date."
FULL_URL = "Enter a full address starting with https://"
RANGE = "Number must be between 0 and 730."


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"renewal_date": "2025-02-01"}, "renewal_date", AFTER),
        ({"renewal_date": "2025-03-01"}, "renewal_date", AFTER),
        ({"pr_email": "pr-at-leasednetwork"}, "pr_email", "Enter a valid email address."),
        ({"portal_url": "portal.leasednetwork.com"}, "portal_url", FULL_URL),
        ({"notice_days": "-1"}, "notice_days", RANGE),
        ({"notice_days": "ninety"}, "notice_days", "Not a valid integer value. " + RANGE),
        ({"effective_date": "03/01/2025"}, "effective_date", "Not a valid date value."),
    ],
    ids=[
        "renewal-before",
        "renewal-same-day",
        "email",
        "portal-url",
        "negative-notice",
        "notice-not-a-number",
        "date-format",
    ],
)
def test_invalid_contract_terms_are_rejected_next_to_the_field(
    app, manager, world, changes, field, message
):
    before = contracts_in_db(app)

    response = manager.post("/contracts/new", data=contract_data(world, **changes), htmx=True)

    assert response.status_code == 422
    assert field_error(response, field) == message
    assert contracts_in_db(app) == before


@pytest.mark.parametrize("which", ["network", "practice"])
def test_another_organisations_practice_or_network_in_the_form_saves_nothing(
    app, manager, world, which
):
    """The pickers offer only the organisation's rows, so a foreign id is an invalid choice:
    the same answer as for an id that exists nowhere, which leaks nothing."""
    before = contracts_in_db(app)
    field = f"{which}_id"
    foreign = world.b.network_id if which == "network" else world.b.practice_ids[0]

    created = manager.post("/contracts/new", data=contract_data(world, **{field: foreign}))
    edited = manager.post(
        f"/contracts/{world.a.contract_ids[0]}", data=contract_data(world, **{field: foreign})
    )
    nowhere = manager.post("/contracts/new", data=contract_data(world, **{field: 999999}))

    for response in (created, edited, nowhere):
        assert response.status_code == 422
        assert field_error(response, field) == "Not a valid choice."
        assert "Beta Dental" not in html_text(response)
    assert contracts_in_db(app) == before


def test_another_organisations_contract_answers_not_found(app, manager, world):
    before = contracts_in_db(app)
    url = f"/contracts/{world.b.contract_ids[0]}"

    assert manager.get(url).status_code == 404
    assert manager.post(url, data=contract_data(world)).status_code == 404
    assert manager.post(f"/contract/{world.b.contract_ids[0]}/archive").status_code == 404
    assert manager.get(f"/contracts?practice={world.b.practice_ids[0]}").status_code == 404
    assert contracts_in_db(app) == before


def test_viewer_reads_contracts_but_cannot_add_or_change_them(app, client, world):
    login(client, world.a.viewer)
    before = contracts_in_db(app)

    listing = client.get("/contracts")
    page = client.get(f"/contracts/{world.a.contract_ids[0]}")

    assert (listing.status_code, page.status_code) == (200, 200)
    assert "Add a contract" not in html_text(listing)
    assert "Save contract" not in html_text(page)
    assert client.get("/contracts/new").status_code == 403
    assert client.post("/contracts/new", data=contract_data(world)).status_code == 403
    url = f"/contracts/{world.a.contract_ids[0]}"
    assert client.post(url, data=contract_data(world)).status_code == 403
    assert client.post(f"/contract/{world.a.contract_ids[0]}/archive").status_code == 403
    assert contracts_in_db(app) == before


# ---- the list -------------------------------------------------------------------------------


def test_manager_of_one_practice_sees_only_its_contracts(app, client, world):
    login(client, world.a.manager1)
    north, south = world.a.practice_names

    listing = client.get("/contracts")
    assert [row.split(" Alpha")[0] for row in table_text(listing)] == [north]
    assert south not in html_text(listing)  # not in the practice picker either
    assert client.get(f"/contracts/{world.a.contract_ids[1]}").status_code == 404
    other = client.post(f"/contracts/{world.a.contract_ids[1]}", data=contract_data(world))
    assert other.status_code == 404
    assert client.get(f"/contracts?practice={world.a.practice_ids[1]}").status_code == 404
    assert client.get(f"/contracts/{world.a.contract_ids[0]}").status_code == 200


def test_manager_of_one_practice_cannot_add_a_contract_for_another(app, client, world):
    login(client, world.a.manager1)
    before = contracts_in_db(app)

    response = client.post("/contracts/new", data=contract_data(world), htmx=True)

    assert response.status_code == 422
    assert field_error(response, "practice_id") == "Not a valid choice."
    assert contracts_in_db(app) == before


def test_contract_list_filters_by_practice(app, manager, world):
    north, south = world.a.practice_names

    everything = table_text(manager.get("/contracts"))
    only_north = manager.get(f"/contracts?practice={world.a.practice_ids[0]}")

    assert [row.split(" ")[0] for row in everything] == ["North", "South"]
    assert [row.split(" ")[0] for row in table_text(only_north)] == ["North"]
    assert f"Contracts of {north}" in html_text(only_north)


def test_contract_list_shows_terms_and_notice_date(app, manager, world):
    (row,) = table_text(manager.get(f"/contracts?practice={world.a.practice_ids[0]}"))

    # factory terms: renewal Jan 1, 2027, 90 days' notice -> Oct 3, 2026 (31+30+29 days back)
    assert row == (
        "North Office Alpha Dental PPO direct Jan 1, 2024 Jan 1, 2027 Oct 3, 2026 yes Archive"
    )


def test_archived_contract_leaves_the_list_until_restored(app, manager, world):
    contract_id = world.a.contract_ids[1]

    archived = manager.post(f"/contract/{contract_id}/archive")

    assert archived.status_code == 303
    assert archived.headers["Location"] == "/contracts"
    with database(app) as s:
        assert s.get(Contract, contract_id).archived_at is not None
    listing = manager.get("/contracts")
    assert "South Office x Alpha Dental PPO is archived." in html_text(listing)
    assert [row.split(" ")[0] for row in table_text(listing)] == ["North"]
    with_archived = table_text(manager.get("/contracts?archived=1"))
    assert with_archived[1].startswith("South Office Alpha Dental PPO direct archived")

    restored = manager.post(f"/contract/{contract_id}/restore", htmx=True)

    assert restored.status_code == 204
    assert restored.headers["HX-Redirect"] == "/contracts"
    with database(app) as s:
        assert s.get(Contract, contract_id).archived_at is None
    assert len(table_text(manager.get("/contracts"))) == 2


def test_archived_network_stays_selectable_on_its_own_contract(app, manager, world):
    manager.post(f"/network/{world.a.network_id}/archive")
    contract_id = world.a.contract_ids[0]

    page = manager.get(f"/contracts/{contract_id}").get_data(as_text=True)
    saved = manager.post(
        f"/contracts/{contract_id}",
        data=contract_data(
            world, practice_id=world.a.practice_ids[0], network_id=world.a.network_id
        ),
    )

    assert f'<option selected value="{world.a.network_id}">' in page
    assert saved.status_code == 303
    new = manager.get("/contracts/new").get_data(as_text=True)
    network_select = re.search(r'<select id="network_id".*?</select>', new, re.S).group(0)
    assert f'value="{world.a.network_id}"' not in network_select


# ---- pricing routes -------------------------------------------------------------------------


@pytest.fixture
def guardian(app, world) -> int:
    """A second payer of organisation A, not routed anywhere."""
    with database(app):
        return PayerFactory(organization_id=world.a.org_id, name="Guardian").id


def selected_network(response, payer_id: int) -> str | None:
    """The network chosen in the payer's select: its option text, or None when not routed."""
    html = response.get_data(as_text=True)
    select = re.search(rf'<select id="payer-{payer_id}".*?</select>', html, re.S)
    assert select, f"no select for payer {payer_id}"
    chosen = re.search(r'<option value="\d+" selected>([^<]*)</option>', select.group(0))
    return chosen.group(1) if chosen else None


def routes_form(world, guardian: int, changes: dict[int, int] | None = None) -> dict:
    """The whole routes form as the page posts it: every payer's select, `changes` applied."""
    chosen = {world.a.payer_id: world.a.network_id, guardian: ""} | (changes or {})
    return {f"payer-{payer}": str(network) for payer, network in chosen.items()}


def test_routes_page_lists_payers_with_the_network_that_prices_them(manager, world, guardian):
    response = manager.get(f"/practices/{world.a.practice_ids[0]}/routes")

    assert response.status_code == 200
    assert selected_network(response, world.a.payer_id) == "Alpha Dental PPO (direct)"
    assert selected_network(response, guardian) is None
    text = html_text(response)
    assert "Alpha Dental Leased (leased)" in text
    assert "Beta Dental" not in text


def test_routes_page_suggests_a_payers_own_network_and_warns_without_a_contract(
    manager, world, guardian
):
    url = f"/practices/{world.a.practice_ids[0]}/routes"
    manager.post(
        url,
        data={f"payer-{world.a.payer_id}": "", f"payer-{guardian}": str(world.a.leased_id)},
    )

    text = html_text(manager.get(url))

    # Alpha's payer, not routed any more, owns the direct PPO; North has no leased contract.
    assert "Alpha Dental Payer - not routed - " in text
    assert "Suggested: Alpha Dental PPO" in text
    assert text.count("The practice has no contract with this network.") == 1


def test_manager_sets_changes_and_clears_a_route(app, manager, world, guardian):
    practice_id = world.a.practice_ids[0]
    url = f"/practices/{practice_id}/routes"
    before = routes_in_db(app)

    added = manager.post(url, data=routes_form(world, guardian, {guardian: world.a.leased_id}))

    assert added.status_code == 303
    assert added.headers["Location"] == url
    (new,) = [r for r in routes_in_db(app) if r not in before]
    assert new[1:] == (practice_id, guardian, world.a.leased_id)
    page = manager.get(url)
    assert "Pricing routes saved (1 changed)." in html_text(page)
    assert selected_network(page, guardian) == "Alpha Dental Leased (leased)"

    changed = manager.post(url, data=routes_form(world, guardian, {guardian: world.a.network_id}))

    assert changed.status_code == 303
    assert [r for r in routes_in_db(app) if r not in before] == [
        (new[0], practice_id, guardian, world.a.network_id)
    ]

    cleared = manager.post(url, data=routes_form(world, guardian), htmx=True)

    assert cleared.status_code == 204
    assert cleared.headers["HX-Redirect"] == url
    assert routes_in_db(app) == before


def test_saving_routes_unchanged_changes_nothing(app, manager, world, guardian):
    url = f"/practices/{world.a.practice_ids[0]}/routes"
    before = routes_in_db(app)

    response = manager.post(url, data=routes_form(world, guardian))

    assert response.status_code == 303
    assert "Pricing routes saved (0 changed)." in html_text(manager.get(url))
    assert routes_in_db(app) == before
    with database(app) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == 0


def test_payer_missing_from_the_posted_form_keeps_its_route(app, manager, world, guardian):
    """A payer added (and routed) after the page was loaded is not in the form: its route
    stays, where an empty select clears one."""
    url = f"/practices/{world.a.practice_ids[0]}/routes"
    before = routes_in_db(app)

    response = manager.post(url, data={f"payer-{guardian}": str(world.a.leased_id)})

    assert response.status_code == 303
    assert [r for r in routes_in_db(app) if r in before] == before
    assert len(routes_in_db(app)) == len(before) + 1


def test_route_changes_are_audited(app, manager, world, guardian):
    url = f"/practices/{world.a.practice_ids[0]}/routes"

    manager.post(url, data=routes_form(world, guardian, {world.a.payer_id: world.a.leased_id}))

    with database(app) as s:
        (event,) = s.scalars(sa.select(AuditEvent))
        assert (event.action, event.object_type, event.object_id) == (
            "updated",
            "PricingRoute",
            world.a.route_ids[0],
        )
        assert (event.before, event.after) == (
            {"network_id": world.a.network_id},
            {"network_id": world.a.leased_id},
        )
        assert event.summary == "North Office: Alpha Dental Payer priced by Alpha Dental Leased"


@pytest.mark.parametrize("foreign", ["network", "archived-network"])
def test_route_to_a_network_not_offered_asks_to_reload_and_changes_nothing(
    app, manager, world, guardian, foreign
):
    if foreign == "network":
        network_id = world.b.network_id
    else:
        manager.post(f"/network/{world.a.leased_id}/archive")
        network_id = world.a.leased_id
    url = f"/practices/{world.a.practice_ids[0]}/routes"
    before = routes_in_db(app)

    response = manager.post(url, data=routes_form(world, guardian, {guardian: network_id}))

    assert response.status_code == 422
    assert "The form lists a payer or network that no longer exists; reload the page." in html_text(
        response
    )
    assert "Beta Dental" not in html_text(response)
    assert routes_in_db(app) == before


def test_another_organisations_practice_routes_answer_not_found(app, manager, world, guardian):
    before = routes_in_db(app)
    url = f"/practices/{world.b.practice_ids[0]}/routes"

    assert manager.get(url).status_code == 404
    assert manager.post(url, data={f"payer-{world.b.payer_id}": ""}).status_code == 404
    assert routes_in_db(app) == before


def test_manager_of_one_practice_cannot_route_another_practice(app, client, world, guardian):
    login(client, world.a.manager1)
    before = routes_in_db(app)
    url = f"/practices/{world.a.practice_ids[1]}/routes"

    assert client.get(url).status_code == 404
    assert client.post(url, data=routes_form(world, guardian)).status_code == 404
    assert routes_in_db(app) == before


def test_viewer_sees_routes_but_cannot_change_them(app, client, world, guardian):
    login(client, world.a.viewer)
    url = f"/practices/{world.a.practice_ids[0]}/routes"
    before = routes_in_db(app)

    page = client.get(url)
    response = client.post(url, data=routes_form(world, guardian, {guardian: world.a.leased_id}))

    assert page.status_code == 200
    assert selected_network(page, world.a.payer_id) == "Alpha Dental PPO (direct)"
    assert f'<select id="payer-{world.a.payer_id}" name="payer-{world.a.payer_id}" disabled>' in (
        page.get_data(as_text=True)
    )
    assert "Save routes" not in html_text(page)
    assert response.status_code == 403
    assert routes_in_db(app) == before


def test_routes_without_the_csrf_token_change_nothing(app, manager, world, guardian):
    url = f"/practices/{world.a.practice_ids[0]}/routes"
    before = routes_in_db(app)

    response = manager.post(url, data=routes_form(world, guardian), csrf=False)

    assert response.status_code == 400
    assert routes_in_db(app) == before
