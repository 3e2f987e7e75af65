"""The NCP-B flow end to end against the mock foreign NCP: p50/p95, and the peer's own share.

One run starts a real ``passerelle serve`` (embedded database, ``--no-auth``) and a real
``passerelle gateway mock-peer`` process, then runs the whole flow (XCPD, consent, XCA query,
retrieve, XSD validation and translation, storage through the FHIR API) for Patient Summaries
of ``../shared/ehdsi/samples`` one after the other. The peer's own time is what it reports in
``Server-Timing`` for each exchange (its parsing, assertion checks and answer), measured in the
same run, so ``Passerelle = total - peer`` is what France adds.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from bench.harness import ServerProcess
from fhir_server.embedded import free_port

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PASSERELLE_SHARED", REPO.parent / "shared"))
PATIENTS = [  # PS L3 samples of different sizes (MT 33 kB, LU fr-LU 63 kB, PT rich 176 kB)
    "9999002M^^^&2.16.470.1.100.1.1.1000.990.1.1&ISO",
    "3843082788^^^&1.3.182.2.4.2&ISO",
    "2-1234-W7^^^&2.16.17.710.850.1000.990.1.1000&ISO",
]


def _pct(values: list[float], p: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, max(0, round(p / 100 * (len(data) - 1))))] if data else 0.0


async def _flows(base: str, peer_url: str, data_dir: Path, flows: int) -> tuple[list[float], list[float]]:
    from ehdsi_gateway import FhirClient, GatewaySettings
    from ehdsi_gateway.initiator import CrossBorderQuery
    from ehdsi_gateway.peers import PeerRegistry

    settings = GatewaySettings(data_dir=data_dir, fhir_no_auth=True)
    fhir = FhirClient(base)
    flow = CrossBorderQuery(settings, fhir, peers=PeerRegistry(), timeout=60)
    totals, peers = [], []
    try:
        await flow.run("HR", PATIENTS[0], peer_url=peer_url)  # warm-up: schemas, terminology, connections
        for i in range(flows):
            started = time.perf_counter()
            result = await flow.run("HR", PATIENTS[i % len(PATIENTS)], peer_url=peer_url)
            totals.append((time.perf_counter() - started) * 1000)
            peers.append(result.peer_seconds * 1000)
            assert result.translated, result.reason
    finally:
        await flow.aclose()
        await fhir.aclose()
    return totals, peers


def main(flows: int = 30) -> str:
    if not (SHARED / "ehdsi" / "samples").exists():
        return "eHDSI NCP-B flow: skipped (../shared/ehdsi/samples absent)"
    with tempfile.TemporaryDirectory(prefix="bench-ehdsi-") as tmp:
        data_dir = Path(tmp)
        server = ServerProcess(data_dir, env={"PASSERELLE_DB": f"bench_{uuid.uuid4().hex[:8]}"}).start()
        port = free_port()
        log = open(data_dir / "mock.log", "wb")  # noqa: SIM115
        mock = subprocess.Popen(
            [sys.executable, "-m", "apps.cli", "gateway", "mock-peer", "--country", "HR", "--port", str(port),
             "--data-dir", str(data_dir)],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/ehdsi"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/ism.xml", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            totals, peers = asyncio.run(_flows(server.base, url, data_dir, flows))
        finally:
            mock.terminate()
            mock.wait(15)
            log.close()
            server.stop()
    own = [t - p for t, p in zip(totals, peers, strict=True)]
    lines = [
        "eHDSI NCP-B flow against the mock peer (XCPD + consent + XCA query + retrieve + translate + store), "
        f"{flows} flows, one at a time, 3 PS L3 samples in turn",
        "| part | p50 ms | p95 ms | share of p50 |",
        "|---|---|---|---|",
        f"| whole flow | {_pct(totals, 50):.0f} | {_pct(totals, 95):.0f} | 100 % |",
        f"| mock peer's own processing (Server-Timing) | {_pct(peers, 50):.0f} | {_pct(peers, 95):.0f} | "
        f"{100 * _pct(peers, 50) / max(_pct(totals, 50), 1e-9):.0f} % |",
        f"| Passerelle (whole - peer) | {_pct(own, 50):.0f} | {_pct(own, 95):.0f} | "
        f"{100 * _pct(own, 50) / max(_pct(totals, 50), 1e-9):.0f} % |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
