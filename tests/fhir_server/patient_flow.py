"""Helpers of the security tests: a patient login step by step, the database, a race harness."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import (
    approve,
    authorize_params,
    pkce,
    root,
    session_of,
    sms_codes,
)

T = TypeVar("T")


@contextmanager
def sync_db(server: ServerProcess) -> Iterator[Any]:
    """The server's database through a synchronous client (to age a record, read a counter)."""
    from pymongo import MongoClient

    uri = server.mongodb_uri or (server.data_dir / "db.uri").read_text().strip()
    with MongoClient(uri, tz_aware=True) as client:
        yield client[server.env["PASSERELLE_DB"]]


def start_patient_login(
    http: httpx.Client,
    server: ServerProcess,
    client: dict[str, Any],
    scope: str,
    email: str,
    password: str = "correct horse battery",
    **extra: str,
) -> tuple[httpx.Response, str]:
    """Authorize (with ``extra`` parameters, e.g. ``launch``) and the password step; the SMS page."""
    verifier, challenge = pkce()
    page = http.get(
        f"{root(server)}/auth/authorize",
        params=authorize_params(server, client["client_id"], scope, challenge, **extra),
    )
    assert page.status_code == 200, page.text
    otp_page = http.post(
        f"{root(server)}/auth/login/patient",
        data={"session": session_of(page.text), "email": email, "password": password},
    )
    return otp_page, verifier


def patient_authorize(
    http: httpx.Client,
    server: ServerProcess,
    client: dict[str, Any],
    scope: str,
    email: str,
    phone: str,
    **extra: str,
) -> tuple[httpx.Response, str]:
    """A whole patient login up to the redirect to the app (code or error), and the PKCE verifier."""
    otp_page, verifier = start_patient_login(http, server, client, scope, email, **extra)
    assert otp_page.status_code == 200, otp_page.text
    code = sms_codes(server, phone)[-1]
    resp = approve(
        http,
        server,
        http.post(
            f"{root(server)}/auth/login/otp", data={"session": session_of(otp_page.text), "code": code}
        ),
    )
    return resp, verifier


def race(n: int, attempt: Callable[[int], T]) -> list[T]:
    """Run ``attempt(i)`` for i in 0..n-1 in n threads released together (a barrier), as parallel
    as the machine allows; the results in order (an exception is re-raised)."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = attempt(i)
        except BaseException as exc:  # re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    return results
