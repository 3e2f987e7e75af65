"""``passerelle bench``: run the benchmarks and print their figures."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="benchmark the server against the raw driver on the same database")
    p.add_argument("--requests", type=int, default=1000, help="requests per operation and concurrency level")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    p.add_argument("--ingest-bundles", type=int, default=None, help="Synthea Bundles to ingest (all)")
    p.add_argument("--ingest-concurrency", type=int, default=2, help="transaction Bundles in flight at once")
    p.add_argument("--ingest-before-bundles", type=int, default=None,
                   help="Bundles the 'before #13' ingest takes (all; fewer: compared on 1-10)")  # fmt: skip
    p.add_argument("--search-patients", type=int, default=11, help="Synthea patients for the search mix")
    p.add_argument("--search-growth", type=int, nargs="+", default=[11, 117],
                   help="patient counts the search mix's growth compares (smallest, largest)")  # fmt: skip
    p.add_argument("--search-requests", type=int, default=200, help="requests per search of the mix")
    p.add_argument("--ehdsi-flows", type=int, default=30, help="NCP-B flows against the mock peer (0: skip)")
    p.add_argument("--export", action="store_true", help="also the Bulk Data export benchmark")
    p.add_argument("--export-bundles", type=int, default=None, help="Synthea Bundles for the export (all)")
    p.add_argument(
        "--cpu-bundles", type=int, default=10, help="Synthea Bundles per server-CPU variant (0: skip)"
    )
    p.add_argument("--cpu-baseline", default=None, help="commit whose code is the server-CPU baseline")
    p.add_argument(
        "--cpu-concurrency",
        type=int,
        default=1,
        help="Bundles in flight in the server-CPU bench (1: no retries)",
    )
    p.add_argument(
        "--cpu-rounds", type=int, default=1, help="rounds of the server-CPU variants (order alternates)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bench.crud import main

    print(f"passerelle bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: CRUD on the embedded SecantusDB")
    print(main(args.requests, args.concurrency))
    from bench.ingest import main as ingest_main

    print()
    print(ingest_main(args.ingest_bundles, args.ingest_concurrency, before_limit=args.ingest_before_bundles))
    from bench.search import main as search_main

    print()
    print(search_main(args.search_requests, args.search_patients, tuple(args.search_growth)))
    if args.cpu_bundles:
        from bench.server_cpu import BASELINE
        from bench.server_cpu import main as cpu_main

        print()
        print(
            cpu_main(args.cpu_bundles, args.cpu_concurrency, args.cpu_baseline or BASELINE, args.cpu_rounds)
        )
    if args.ehdsi_flows:
        from bench.ehdsi import main as ehdsi_main

        print()
        print(ehdsi_main(args.ehdsi_flows))
    if args.export:
        from bench.export import main as export_main

        print()
        print(export_main(args.export_bundles))
    return 0
