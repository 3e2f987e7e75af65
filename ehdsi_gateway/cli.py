"""``passerelle gateway query|mock-peer|peers``: the eHDSI gateway for operators."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from .errors import EhdsiError
from .fhir_client import BackendToken, FhirClient
from .settings import GatewaySettings

#: Pro Santé Connect profession codes (TRE-G15) -> ISCO-08 (HCP assertion role)
PROFESSION_TO_ISCO = {
    "10": ("221", "Medical Doctors"),
    "21": ("2262", "Pharmacists"),
    "40": ("2261", "Dentists"),
    "50": ("2222", "Midwifery Professionals"),
    "60": ("2221", "Nursing Professionals"),
}
IDNATPS = "urn:oid:1.2.250.1.71.4.2.1"


def _default_samples() -> Path:
    env = os.environ.get("PASSERELLE_SHARED")
    base = Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"
    return base / "ehdsi" / "samples"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("gateway", help="eHDSI gateway: cross-border query, mock foreign NCP, peers")
    actions = p.add_subparsers(dest="action", required=True)

    q = actions.add_parser("query", help="NCP-B: fetch and translate a foreign patient's summary")
    q.add_argument("--country", required=True, help="peer country (ISO 3166 alpha-2)")
    q.add_argument(
        "--id", dest="patient_id", required=True, help="EXT^^^&ROOT&ISO, or EXT in the default domain"
    )
    q.add_argument("--birth-date", help="AAAA-MM-JJ")
    q.add_argument("--gender", choices=["M", "F", "UN"])
    q.add_argument("--family")
    q.add_argument("--given")
    q.add_argument("--purpose", choices=["TREATMENT", "EMERGENCY"], default="TREATMENT")
    q.add_argument("--as", dest="rpps", help="RPPS of the professional (default: a demo professional)")
    q.add_argument("--peer-url", help="the peer's base URL (…/ehdsi), overriding the registry")
    q.add_argument("--data-dir", type=Path, default=None, help="keys, development CA, peers registry (var/)")
    q.add_argument("--out", type=Path, help="write the French document Bundle here (default: stdout)")
    q.add_argument("--fhir-url", default=os.environ.get("PASSERELLE_FHIR_URL", "http://127.0.0.1:8000/fhir"))
    q.add_argument("--fhir-no-auth", action="store_true", help="the FHIR API runs with --no-auth")
    q.add_argument("--timeout", type=float, default=None, help="seconds to wait for the peer")
    q.set_defaults(func=_query)

    m = actions.add_parser("mock-peer", help="run a foreign NCP-A serving sample CDA documents")
    m.add_argument("--country", required=True)
    m.add_argument("--port", type=int, required=True)
    m.add_argument("--host", default="127.0.0.1")
    m.add_argument(
        "--documents", type=Path, default=None, help="folder of CDA documents (../shared/ehdsi/samples)"
    )
    m.add_argument("--data-dir", type=Path, default=None)
    m.add_argument("--slow-seconds", type=float, default=30.0, help="delay of the SLOW scenario")
    m.add_argument("--tls", action="store_true", help="HTTPS with mutual TLS (certificates of the dev CA)")
    m.set_defaults(func=_mock_peer)

    r = actions.add_parser("peers", help="list the peers registry and check each endpoint")
    r.add_argument("--data-dir", type=Path, default=None)
    r.add_argument("--json", action="store_true")
    r.add_argument("--no-check", action="store_true", help="list only, contact no endpoint")
    r.set_defaults(func=_peers)


def _settings(data_dir: Path | None) -> GatewaySettings:
    return GatewaySettings.from_env(data_dir)


async def _professional(fhir: FhirClient, rpps: str | None) -> Any:
    from .initiator import DEMO_PROFESSIONAL
    from .saml import Professional

    if not rpps:
        return DEMO_PROFESSIONAL
    found = await fhir.search_all("Practitioner", {"identifier": f"{IDNATPS}|8{rpps}"}, limit=2)
    if len(found) != 1:
        raise EhdsiError(
            "ERROR_HPI_NO_INFORMATION", f"professionnel RPPS {rpps} introuvable dans l'annuaire FHIR"
        )
    practitioner = found[0]
    name = next(iter(practitioner.get("name") or []), {})
    display = " ".join(
        [*(name.get("prefix") or []), *(name.get("given") or []), name.get("family", "")]
    ).strip()
    codings = [
        c for q in practitioner.get("qualification") or [] for c in (q.get("code") or {}).get("coding") or []
    ]
    code = next((c.get("code") for c in codings if "G15" in str(c.get("system", ""))), "10")
    isco = PROFESSION_TO_ISCO.get(str(code))
    if isco is None:
        raise EhdsiError("ERROR_INSUFFICIENT_RIGHTS", f"profession {code} non habilitée aux échanges eHDSI")
    return Professional(identifier=rpps, name=display or rpps, role_code=isco[0], role_display=isco[1])


def _query(args: argparse.Namespace) -> int:
    from .initiator import CrossBorderQuery

    settings = _settings(args.data_dir)

    async def run() -> dict[str, Any]:
        token = None
        if not args.fhir_no_auth:
            key = settings.ehdsi_dir / "fhir-client.jwk"
            BackendToken.ensure_key(key)
            token = BackendToken(settings.fhir_client_id, key)
        fhir = FhirClient(args.fhir_url, token=token)
        flow = CrossBorderQuery(settings, fhir, timeout=args.timeout)
        try:
            professional = await _professional(fhir, args.rpps)
            result = await flow.run(
                args.country, args.patient_id, birth_date=args.birth_date, gender=args.gender,
                family=args.family, given=args.given, professional=professional, purpose=args.purpose,
                peer_url=args.peer_url,
            )  # fmt: skip
            if not result.translated:
                print(
                    f"passerelle gateway: traduction impossible, originaux conservés : {result.reason}",
                    file=sys.stderr,
                )
            return result.bundle
        finally:
            await flow.aclose()
            await fhir.aclose()

    try:
        bundle = asyncio.run(run())
    except EhdsiError as error:
        print(f"passerelle gateway: {error.code} : {error.french()}", file=sys.stderr)
        return 2
    except ValueError as exc:  # unreadable peers registry
        print(f"passerelle gateway: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(bundle, ensure_ascii=False, indent=2)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


def _mock_peer(args: argparse.Namespace) -> int:
    import signal

    import uvicorn

    from .mock_peer import create_mock_app

    data_dir = args.data_dir or Path(os.environ.get("PASSERELLE_DATA_DIR", "var"))
    documents = args.documents or _default_samples()
    if not documents.is_dir():
        print(
            f"passerelle gateway mock-peer: dossier de documents introuvable : {documents}", file=sys.stderr
        )
        return 2
    app, index = create_mock_app(args.country, documents, data_dir, slow_seconds=args.slow_seconds)
    ssl: dict[str, Any] = {}
    scheme = "http"
    if args.tls:
        import ssl as ssl_module

        settings = GatewaySettings(data_dir=data_dir, country=args.country.upper())
        tls = settings.tls
        assert tls is not None and settings.tls_ca_file is not None
        ssl = {
            "ssl_keyfile": str(tls.key_path),
            "ssl_certfile": str(tls.cert_path),
            "ssl_ca_certs": str(settings.tls_ca_file),
            "ssl_cert_reqs": ssl_module.CERT_REQUIRED,
        }
        scheme = "https"
    print(
        f"passerelle gateway mock-peer {args.country.upper()}: {scheme}://{args.host}:{args.port}/ehdsi "
        f"({len(index.documents)} documents, {len(index.by_patient)} identifiants patients, "
        f"{len(index.skipped)} fichiers écartés)",
        file=sys.stderr,
        flush=True,
    )

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
        **ssl,
    )
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()
    return 0


def _peers(args: argparse.Namespace) -> int:
    from .pki import fingerprint

    settings = _settings(args.data_dir)
    try:
        registry = settings.peers()
    except (ValueError, OSError, KeyError) as exc:
        print(f"passerelle gateway peers: registre illisible : {exc}", file=sys.stderr)
        return 2
    rows = []
    failures = 0
    client = httpx.Client(timeout=5.0, verify=settings.ssl_context())
    with client:
        for country, peer in sorted(registry.peers.items()):
            row: dict[str, Any] = {
                "country": country,
                "home_community_id": peer.home_community_id,
                "xcpd_url": peer.xcpd_url,
                "xca_url": peer.xca_url,
                "signing_certificates": [fingerprint(c)[:16] for c in peer.signing_certs],
                "search_mask": [f.domain for f in peer.search_mask.identifiers] if peer.search_mask else None,
            }
            if not args.no_check:
                for name, url in (("xcpd", peer.xcpd_url), ("xca", peer.xca_url)):
                    row[f"{name}_check"] = _check(client, url)
                    failures += row[f"{name}_check"] != "ok"
            rows.append(row)
    if args.json:
        print(json.dumps({"source": str(registry.source), "peers": rows}, indent=2))
    else:
        print(f"registre : {registry.source} ({len(rows)} pair(s))")
        for row in rows:
            checks = "" if args.no_check else f"  XCPD {row['xcpd_check']}  XCA {row['xca_check']}"
            print(f"{row['country']}  {row['home_community_id']}  {row['xcpd_url']}{checks}")
    return 1 if failures else 0


def _check(client: httpx.Client, url: str) -> str:
    """An empty SOAP request: a SOAP fault back means the endpoint is there and speaks SOAP."""
    try:
        resp = client.post(url, content=b"", headers={"Content-Type": "application/soap+xml"})
    except httpx.HTTPError as exc:
        return f"injoignable ({type(exc).__name__})"
    if b"Envelope" in resp.content and b"Fault" in resp.content:
        return "ok"
    return f"réponse inattendue (HTTP {resp.status_code})"
