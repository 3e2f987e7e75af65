"""The portal's foundation in a real browser: login through Pro Santé Connect, session cookie,
CSRF, lock screen, logout, French error pages."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from bench.harness import ServerProcess
from tests.portal.browser import DR_MARTIN, psc_steps, shot


def test_home_offers_both_logins_and_pro_sante_connect_logs_in(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Professionnel de santé")).to_be_visible()
    expect(page.get_by_role("heading", name="Patient")).to_be_visible()
    shot(page, "accueil-public")
    page.get_by_role("link", name="Se connecter (professionnel)").click()
    # the authorization server's login page, then the PSC look-alike, then consent
    psc_steps(page, DR_MARTIN)
    expect(page.locator(".greeting")).to_contain_text("Marie")
    cookie = next(c for c in page.context.cookies() if c["name"] == "passerelle_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"


def test_deep_link_comes_back_after_login(page: Page) -> None:
    page.goto("/verrouille")  # not logged in: back home
    expect(page).to_have_url(re.compile(r"/$"))
    page.goto("/connexion?suite=/page-qui-n-existe-pas")
    psc_steps(page, DR_MARTIN)
    expect(page).to_have_url(re.compile("/page-qui-n-existe-pas$"))
    expect(page.get_by_role("heading", name="Page introuvable")).to_be_visible()


def test_unknown_page_is_a_french_404_without_stack_trace(page: Page, portal: str) -> None:
    response = page.goto("/nulle-part")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page introuvable")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Traceback" not in page.content()
    # outside a browser too
    r = httpx.get(f"{portal}/connexion/retour?state=x&code=y")
    assert r.status_code == 400 and "Connexion expirée" in r.text


def test_callback_cannot_be_replayed_or_forged(page: Page, portal: str) -> None:
    """A callback without this browser's login cookie is refused (login CSRF)."""
    page.goto("/connexion")
    state = next(c["value"] for c in page.context.cookies() if c["name"] == "passerelle_portal_login")
    other = httpx.get(f"{portal}/connexion/retour", params={"state": state, "code": "stolen"})
    assert other.status_code == 400 and "Connexion expirée" in other.text


def test_post_without_csrf_token_is_refused(doctor: Page, portal: str) -> None:
    cookies = {c["name"]: c["value"] for c in doctor.context.cookies()}
    r = httpx.post(f"{portal}/verrouiller", data={"csrf": "faux"}, cookies=cookies, follow_redirects=False)
    assert r.status_code == 403
    assert "Ce formulaire a expiré" in r.text
    r = httpx.post(f"{portal}/deconnexion", cookies=cookies, follow_redirects=False)
    assert r.status_code == 403
    doctor.reload()
    expect(doctor.locator(".greeting")).to_be_visible()  # still logged in


def test_lock_hides_everything_until_the_same_user_logs_in_again(
    logged_in: Callable[[str], Page],
) -> None:
    page = logged_in(DR_MARTIN)
    page.get_by_text("Mon compte").click()
    page.get_by_role("button", name="Verrouiller la session").click()
    expect(page.get_by_role("heading", name="Session verrouillée")).to_be_visible()
    shot(page, "session-verrouillee")
    page.goto("/")
    expect(page.get_by_role("heading", name="Session verrouillée")).to_be_visible()
    assert page.locator(".greeting").count() == 0
    page.get_by_role("link", name="Déverrouiller").click()
    psc_steps(page, DR_MARTIN)
    expect(page.locator(".greeting")).to_contain_text("Marie")


def test_logout_ends_the_session(doctor: Page, portal: str) -> None:
    cookies = {c["name"]: c["value"] for c in doctor.context.cookies()}
    doctor.get_by_text("Mon compte").click()
    doctor.get_by_role("button", name="Se déconnecter").click()
    expect(doctor.get_by_text("Vous êtes déconnecté")).to_be_visible()
    # the old cookie no longer opens anything
    r = httpx.get(f"{portal}/", cookies=cookies, follow_redirects=False)
    assert r.status_code == 200 and "Bienvenue" in r.text


def test_an_idle_session_expires_with_a_french_page(doctor: Page, portal_server: ServerProcess) -> None:
    from datetime import UTC, datetime, timedelta

    from pymongo import MongoClient

    from apps.portal.sessions import SESSIONS, digest

    sid = next(c["value"] for c in doctor.context.cookies() if c["name"] == "passerelle_session")
    uri = portal_server.mongodb_uri or (portal_server.data_dir / "db.uri").read_text().strip()
    with MongoClient(uri, tz_aware=True) as client:
        sessions = client[portal_server.env["PASSERELLE_DB"]][SESSIONS]
        past = datetime.now(UTC) - timedelta(minutes=1)
        assert sessions.update_one({"_id": digest(sid)}, {"$set": {"expires": past}}).matched_count == 1
        response = doctor.goto("/patients")
        assert response is not None and response.status == 401
        expect(doctor.get_by_role("heading", name="Session expirée")).to_be_visible()
        expect(doctor.get_by_role("link", name="Se reconnecter")).to_have_attribute(
            "href", "/connexion?suite=%2Fpatients"
        )
        assert sessions.count_documents({"_id": digest(sid)}) == 0  # the expired record is gone
