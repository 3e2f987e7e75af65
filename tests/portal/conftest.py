"""Fixtures of the portal tests: one real server (auth on, dev Pro Santé Connect, demo data),
one headless Chromium, and pages already logged in.

``portal_server`` is started once per test run; each test gets fresh browser contexts
(no shared cookies). ``fhir_admin`` reads what the screens wrote, as a backend service.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from bench.harness import ServerProcess
from tests.portal.browser import CHROMIUM, DR_MARTIN, launch, login_professional, new_context

if not Path(CHROMIUM).exists():  # `make test` installs it (Makefile target `chromium`)
    pytest.skip("needs Debian chromium (make test installs it)", allow_module_level=True)

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.fhir_server.auth_support import SmtpSink, fhir_backend, server_env


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="session")
def portal_server(smtp: SmtpSink, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("portal")
    env = server_env(
        smtp.port,
        # the cross-border tests' slow mock peer answers after 25 s: the gateway gives up before
        PASSERELLE_EHDSI_TIMEOUT="8",
        # the teleconsultation deadline's clock, moved by the ``tc_clock`` fixture
        PASSERELLE_TC_CLOCK_FILE=str(tmp / "tc-clock"),
        # the expiry sweep passes every second (30 s by default)
        PASSERELLE_TC_SWEEP="1",
    )
    server = ServerProcess(
        tmp, mongodb_uri=os.environ.get("MONGODB_URI"), env=env, extra_args=["--demo"], auth=True
    ).start(timeout=180)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def portal(portal_server: ServerProcess) -> str:
    """The portal's root URL (``http://127.0.0.1:PORT``)."""
    return f"http://127.0.0.1:{portal_server.port}"


# Playwright's sync API keeps an asyncio loop running in this thread while it is open: kept for
# a whole worker session, a later test file on that worker (pytest-xdist) calling asyncio.run()
# would fail. Opened per test file instead (one Chromium start each).
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = launch(playwright)
    yield b
    b.close()


@pytest.fixture()
def context(browser: Browser, portal: str) -> Iterator[BrowserContext]:
    ctx = new_context(browser, portal)
    yield ctx
    ctx.close()


@pytest.fixture()
def page(context: BrowserContext) -> Page:
    """A fresh page, not logged in."""
    return context.new_page()


@pytest.fixture()
def logged_in(browser: Browser, portal: str) -> Iterator[Callable[[str], Page]]:
    """``logged_in(idnat)``: a page of a new browser context, logged in as that professional."""
    contexts: list[BrowserContext] = []

    def make(idnat: str = DR_MARTIN) -> Page:
        ctx = new_context(browser, portal)
        contexts.append(ctx)
        page = ctx.new_page()
        login_professional(page, idnat)
        return page

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture()
def doctor(logged_in: Callable[[str], Page]) -> Page:
    """A page logged in as Dr Marie Martin (GP, health centre), on her dashboard."""
    return logged_in(DR_MARTIN)


@pytest.fixture(scope="session")
def fhir_admin(portal_server: ServerProcess, portal: str) -> Iterator[httpx.Client]:
    """The FHIR API as a backend service reading everything (``system/*.rs``): to check what screens wrote."""
    with fhir_backend(portal_server, "system/*.rs", "portal tests") as client:
        yield client


@pytest.fixture(scope="module")
def media_browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium with a fake camera and microphone (video teleconsultation tests)."""
    b = launch(playwright, media=True)
    yield b
    b.close()


@pytest.fixture()
def tc_clock(portal_server: ServerProcess) -> Iterator[Callable[[float], None]]:
    """``tc_clock(seconds)`` moves the server's teleconsultation clock forward (put back after the test)."""
    path = Path(portal_server.env["PASSERELLE_TC_CLOCK_FILE"])

    def move(seconds: float) -> None:
        path.write_text(str(seconds))

    yield move
    path.write_text("0")
