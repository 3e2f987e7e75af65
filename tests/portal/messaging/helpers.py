"""What the messaging tests against a real server share: the service as each user gets it, lists."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from typing import Any

from apps.portal.messaging import Mailer, MessagingService, Thread
from fhir_server.auth.settings import AuthSettings
from tests.fhir_server.auth_support import SmtpSink
from tests.portal.messaging.world import World


def own_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on its own event loop in a worker thread: the portal tests' Playwright
    (sync API) keeps a loop running in the main thread, where pytest-asyncio cannot start one."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, test(*args, **kwargs)).result()

    return run


def mailer(world: World) -> Mailer:
    return Mailer(AuthSettings(data_dir=world.tmp, smtp_host="127.0.0.1", smtp_port=world.smtp.port))


def service(world: World, who: str) -> MessagingService:
    return MessagingService(
        world.client(who), world.refs[who], mailer=mailer(world), portal_url="http://portail.test"
    )


async def listed(svc: MessagingService, *args: str, **criteria: str) -> list[Thread]:
    """Every thread of the user's list (all pages; each page is one FHIR search)."""
    out: list[Thread] = []
    cursor = None
    while True:
        page = await svc.threads(*args, cursor=cursor, **criteria)
        out += page.threads
        if not page.next:
            return out
        cursor = page.next


def fhir_status(world: World, who: str, path: str) -> int:
    return world.get(who, path).status_code


def ids_of(bundle: dict[str, Any]) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", [])}


def mail_about(smtp: SmtpSink, to: str, tid: str, timeout: float = 15) -> Message:
    """The notification to ``to`` that links to thread ``tid`` (not any earlier one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for msg in list(smtp.mailbox.messages):
            body = msg.get_body().get_content()  # type: ignore[union-attr]
            if msg["To"] == to and f"/messagerie/{tid}" in body:
                return msg
        time.sleep(0.1)
    raise AssertionError(f"no e-mail to {to} about thread {tid}")
