"""``passerelle load FILE...``: post transaction/batch Bundles to the FHIR API, with progress and throughput.

Why through HTTP: loading takes the same path as any client (validation, history, search
index, one database transaction per Bundle), so what is loaded is what a client could have
written, and the figure printed is the server's real ingest rate. Files are Bundle JSON
files or ``.tar.gz`` archives of them (the Synthea sample set). Without ``--url`` the
command loads into the server already running on ``--data-dir`` (``passerelle serve``,
``make run``: it needs ``--token`` when authorization is on), else starts the server itself
(and, with no ``MONGODB_URI``, its embedded database under ``--data-dir``), loads, and stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

FHIR_JSON = "application/fhir+json"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("load", help="load transaction/batch Bundles (JSON files or .tar.gz of them)")
    p.add_argument("files", nargs="+", type=Path, help="Bundle JSON files, or .tar.gz archives of them")
    p.add_argument(
        "--url",
        default=None,
        help="FHIR base URL of a server (default: the server running on --data-dir, else one started here)",
    )
    p.add_argument(
        "--data-dir", type=Path, default=Path("var"), help="data dir of the running or started server (var)"
    )
    p.add_argument("--concurrency", type=int, default=2, help="Bundles in flight at once")
    p.add_argument(
        "--token",
        default=None,
        help="bearer token for a server with authorization (passerelle clients token NAME prints one)",
    )
    p.set_defaults(func=run)
    from fhir_server import dbcopy

    dbcopy.register(sub)  # passerelle db copy


def iter_bundles(paths: list[Path]) -> Iterator[tuple[str, bytes]]:
    """(name, JSON bytes) of every Bundle in the files given, archives expanded in name order."""
    for path in paths:
        if path.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(path) as tar:
                members = sorted((m for m in tar.getmembers() if m.isfile() and m.name.endswith(".json")),
                                 key=lambda m: m.name)  # fmt: skip
                for member in members:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        yield f"{path.name}:{member.name}", handle.read()
        else:
            yield str(path), path.read_bytes()


@dataclass
class Report:
    bundles: int = 0
    resources: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.resources / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        ok = self.bundles - len(self.failed)
        return (
            f"{ok}/{self.bundles} Bundles chargés, {self.resources} ressources en {self.seconds:.1f} s : "
            f"{self.rate:.0f} ressources/s"
        )


def _entries(data: bytes) -> int:
    try:
        bundle = orjson.loads(data)
    except orjson.JSONDecodeError:
        return 0
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    return len(entries) if isinstance(entries, list) else 0


async def load(
    base: str, paths: list[Path], *, concurrency: int = 2, token: str | None = None, progress: bool = True
) -> Report:
    """Post every Bundle to ``base``; failures are collected, not raised."""
    from tqdm import tqdm

    bundles = list(iter_bundles(paths))
    total = sum(_entries(data) for _, data in bundles)
    report = Report()
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, "Prefer": "return=minimal"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    semaphore = asyncio.Semaphore(max(1, concurrency))
    bar = tqdm(total=total, unit="res", disable=not progress, file=sys.stderr, smoothing=0.1)
    url = base.rstrip("/") + "/"  # POST [base]: the trailing slash avoids a redirect

    async with httpx.AsyncClient(timeout=httpx.Timeout(600.0, connect=10.0)) as client:

        async def one(name: str, data: bytes) -> None:
            count = _entries(data)
            async with semaphore:
                try:
                    r = await client.post(url, content=data, headers=headers)
                except httpx.HTTPError as exc:
                    report.failed.append((name, f"HTTP: {exc}"))
                    return
            report.bundles += 1
            if r.status_code == 200:
                report.resources += count
                bar.update(count)
            else:
                report.failed.append((name, f"{r.status_code} {_diagnostics(r)}"))

        started = time.perf_counter()
        await asyncio.gather(*(one(name, data) for name, data in bundles))
        report.seconds = time.perf_counter() - started
    bar.close()
    return report


@contextmanager
def fhir_base(url: str | None, data_dir: Path, command: str, token: str | None = None) -> Iterator[str]:
    """The FHIR base to load into: ``url``, the server running on ``data_dir``, or one started here.

    The embedded database of ``data_dir`` can only be opened by one process: when a server runs
    there, it is used (with ``token`` when it enforces authorization; without one, this exits
    saying how to get one). The server started here uses the server's own database
    configuration: ``MONGODB_URI`` when set, else the embedded database under ``data_dir``.
    """
    if url is not None:
        yield url
        return
    from fhir_server.instance import running_server

    running = running_server(data_dir.resolve())
    if running is not None and running.get("url"):
        if running.get("auth") and not token:
            print(
                f"{command} : un serveur tourne déjà sur {data_dir} ({running['url']}) avec autorisation. "
                "Donnez-lui un jeton :\n"
                f'  {command} --token "$(passerelle clients token chargement)" …\n'
                "ou arrêtez-le pour que la commande démarre son propre serveur.",
                file=sys.stderr,
            )
            raise SystemExit(2)
        print(f"{command} : chargement dans le serveur en cours {running['url']}", file=sys.stderr)
        yield str(running["url"])
        return
    from bench.harness import ServerProcess  # the same launcher as benchmarks and tests

    print(f"{command}: démarrage du serveur (données dans {data_dir})…", file=sys.stderr)
    server = ServerProcess(data_dir.resolve(), mongodb_uri=os.environ.get("MONGODB_URI")).start()
    try:
        yield server.base
    finally:
        server.stop()


def _diagnostics(response: httpx.Response) -> str:
    try:
        issues = response.json().get("issue", [])
        return "; ".join(str(i.get("diagnostics", "")) for i in issues[:3])
    except ValueError:
        return response.text[:300]


def run(args: argparse.Namespace) -> int:
    missing = [str(p) for p in args.files if not p.exists()]
    if missing:
        print(f"passerelle load: fichiers introuvables : {', '.join(missing)}", file=sys.stderr)
        return 2
    with fhir_base(args.url, args.data_dir, "passerelle load", args.token) as base:
        report = asyncio.run(load(base, args.files, concurrency=args.concurrency, token=args.token))
    for name, reason in report.failed:
        print(f"ÉCHEC {name}: {reason}", file=sys.stderr)
    print(report.summary())
    return 1 if report.failed else 0
