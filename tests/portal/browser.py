"""Portal tests in a real headless Chromium: Debian's ``chromium``, driven by Playwright's Python API.

The browser is never downloaded (Debian chromium only): ``make test`` installs the Debian
package, and Playwright launches it through ``executable_path``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Video tests: a fake camera and microphone, no permission prompt.
MEDIA_FLAGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    # host candidates as plain IPs (no mDNS names, which headless Chromium cannot resolve here)
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--allow-loopback-in-peer-connection",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-screenshots"

DR_MARTIN = "899700366240"  # GP, health centre FINESS 750712184
DR_BONNET = "899700007075"  # same health centre as Dr Martin
DR_GARNIER = "899700008081"  # GP in his own practice: shares no patient with Dr Martin


def launch(playwright: Playwright, media: bool = False) -> Browser:
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=FLAGS + (MEDIA_FLAGS if media else [])
    )


def new_context(browser: Browser, base: str, **kw: Any) -> BrowserContext:
    context = browser.new_context(base_url=base, locale="fr-FR", timezone_id="Europe/Paris", **kw)
    context.set_default_timeout(30_000)
    return context


def login_professional(page: Page, idnat: str = DR_MARTIN, next_path: str = "/") -> None:
    """Home → Pro Santé Connect (dev look-alike) → consent → back on the portal, logged in."""
    page.goto(next_path if next_path != "/" else "/connexion")
    if "/auth/authorize" not in page.url and "/dev-psc" not in page.url:
        page.goto("/connexion")
    psc_steps(page, idnat)
    expect(page.locator(".greeting")).to_be_visible()


def psc_steps(page: Page, idnat: str = DR_MARTIN) -> None:
    """On the authorization server's login page: Pro Santé Connect (dev look-alike), then consent."""
    page.get_by_role("link", name=re.compile("Pro Santé Connect")).click()
    page.locator(f'input[name="idnat"][value="{idnat}"]').check()
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_role("button", name="Autoriser").click()


def add_availability(page: Page, kind: str, day: date, start: str, end: str) -> None:
    """Mon agenda → "Ajouter des disponibilités": slots of ``kind`` on ``day`` from ``start`` to ``end``."""
    page.goto("/agenda/disponibilites")
    page.get_by_label("Type de créneau").select_option(kind)
    page.locator("#du").fill(day.isoformat())
    page.get_by_label("Heure de début").fill(start)
    page.get_by_label("Heure de fin").fill(end)
    page.locator(f'input[name="jours"][value="{day.weekday()}"]').check()
    page.get_by_role("button", name="Créer les créneaux").click()
    expect(page.get_by_text(re.compile("créneaux .* ajoutés"))).to_be_visible()


def login_patient(page: Page, email: str, password: str, code_for: Callable[[], str]) -> None:
    """Home → the authorization server's patient login (password, then the SMS code) → consent."""
    page.goto("/connexion")
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Continuer").click()
    page.get_by_label("Code reçu par SMS").fill(code_for())
    page.get_by_role("button", name="Valider").click()
    page.get_by_role("button", name="Autoriser").click()
    expect(page.locator(".greeting")).to_be_visible()


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot of the current screen under test-screenshots/ (git-ignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
