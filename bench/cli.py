"""``passerelle bench``: run the benchmarks and print their figures."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="benchmark the server against the raw driver on the same database")
    p.add_argument("--requests", type=int, default=1000, help="requests per operation and concurrency level")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bench.crud import main

    print(f"passerelle bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: CRUD on the embedded SecantusDB")
    print(main(args.requests, args.concurrency))
    return 0
