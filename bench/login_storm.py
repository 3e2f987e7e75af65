"""Does a storm of logins (or of oversized writes) hold the server up? (issue 12, findings 8 and 9)

Starts a real auth-enabled ``passerelle serve`` with its embedded database and measures the
latency of ``GET /fhir/metadata`` (one request at a time) three ways in the same run:

1. alone (the baseline);
2. while ``--logins`` parallel clients post wrong passwords to the patient login (argon2 each,
   rate limits lifted so that every attempt is hashed);
3. while a client posts a Patient with 60,000 names (refused as too costly) in a loop.

Run: ``.venv/bin/python -m bench.login_storm [--logins 30] [--seconds 8]``; prints p50 / p95 / max
in ms and the ratio to the baseline. Before the fix, 30 parallel logins took /metadata from
0.07 s to 2.2 s (argon2 on the event loop).
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

from bench.harness import ServerProcess


def _latencies(base: str, stop: threading.Event, seconds: float) -> list[float]:
    out: list[float] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=60) as http:
        while time.monotonic() < deadline and not stop.is_set():
            t = time.perf_counter()
            http.get(f"{base}/metadata", headers={"Accept": "application/fhir+json"}).raise_for_status()
            out.append((time.perf_counter() - t) * 1000)
            time.sleep(0.02)
    return out


def _figures(name: str, values: list[float], baseline: float | None) -> float:
    values = sorted(values)
    p50 = statistics.median(values)
    p95 = values[int(0.95 * (len(values) - 1))]
    ratio = f"{p50 / baseline:5.1f}x" if baseline else "  1.0x"
    print(f"{name:<34} n={len(values):4d}  p50 {p50:8.1f}  p95 {p95:8.1f}  max {values[-1]:8.1f} ms  {ratio}")
    return p50


def _login_page(http: httpx.Client, root: str, client_id: str) -> str:
    import base64
    import hashlib
    import re

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    page = http.get(
        f"{root}/auth/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": "http://127.0.0.1:9/callback",
            "scope": "openid patient/*.rs",
            "state": "s",
            "aud": f"{root}/fhir",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    m = re.search(r'name="session" value="([^"]+)"', page.text)
    assert m, page.text[:300]
    return m.group(1)


def _register_client(server: ServerProcess) -> str:
    from pymongo import MongoClient

    from fhir_server.auth.clients import create_client

    uri = (server.data_dir / "db.uri").read_text().strip()
    with MongoClient(uri, tz_aware=True) as client:
        doc, _ = create_client(
            client[server.env["PASSERELLE_DB"]],
            name="bench",
            kind="public",
            scope="openid patient/*.rs",
            redirect_uris=["http://127.0.0.1:9/callback"],
            jwks=None,
        )
    return str(doc["_id"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="passerelle-storm-"))
    env = {
        "PASSERELLE_DB": f"bench_{uuid.uuid4().hex[:8]}",
        "PASSERELLE_LOGIN_RATE_IP": "1000000",
        "PASSERELLE_LOGIN_RATE_ACCOUNT": "1000000",
        "PASSERELLE_LOCKOUT_THRESHOLD": "1000000",
    }
    server = ServerProcess(tmp, env=env, auth=True).start()
    root = f"http://127.0.0.1:{server.port}"
    try:
        client_id = _register_client(server)
        stop = threading.Event()
        baseline = _figures("metadata alone", _latencies(server.base, stop, args.seconds), None)

        def storm() -> None:
            with httpx.Client(timeout=120) as http:
                session = _login_page(http, root, client_id)
                while not stop.is_set():
                    http.post(
                        f"{root}/auth/login/patient",
                        data={"session": session, "email": "x@example.fr", "password": secrets.token_hex(8)},
                    )

        for name, work, count in ((f"metadata during {args.logins} logins", storm, args.logins),):
            stop.clear()
            workers = [threading.Thread(target=work, daemon=True) for _ in range(count)]
            for w in workers:
                w.start()
            time.sleep(1.0)
            _figures(name, _latencies(server.base, stop, args.seconds), baseline)
            stop.set()
            for w in workers:
                w.join(30)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    _bulky(args.seconds)
    return 0


def _bulky(seconds: float) -> None:
    """The same measure on a ``--no-auth`` server while two clients post 60,000-name Patients."""
    tmp = Path(tempfile.mkdtemp(prefix="passerelle-bulky-"))
    server = ServerProcess(tmp, env={"PASSERELLE_DB": f"bench_{uuid.uuid4().hex[:8]}"}).start()
    try:
        stop = threading.Event()
        baseline = _figures("metadata alone (no-auth server)", _latencies(server.base, stop, seconds), None)
        body = httpx.Request(
            "POST",
            server.base,
            json={"resourceType": "Patient", "name": [{"family": f"N{i}"} for i in range(60_000)]},
        ).read()

        def bulky() -> None:
            with httpx.Client(timeout=120, headers={"Content-Type": "application/fhir+json"}) as http:
                while not stop.is_set():
                    http.post(f"{server.base}/Patient", content=body)

        workers = [threading.Thread(target=bulky, daemon=True) for _ in range(2)]
        for w in workers:
            w.start()
        time.sleep(1.0)
        _figures("metadata during 60,000-name writes", _latencies(server.base, stop, seconds), baseline)
        stop.set()
        for w in workers:
            w.join(60)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
