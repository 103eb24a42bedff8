"""The first page a new user sees, and signing in as the demo's manager."""

from tests.conftest import html_text, login


def test_manager_signs_in_and_sees_the_dashboard(client, world):
    login(client, world.a.manager)
    page = client.get("/")
    assert page.status_code == 200
    text = html_text(page)
    assert "Dashboard" in text
    assert "Alpha Dental" in text
