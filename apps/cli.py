"""The ``passerelle`` command: one entry point, subcommands contributed by each package.

Each package keeps its own subcommands in its ``cli`` module (``register(subparsers)``),
so this file only wires them together.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from apps import serve
    from bench import cli as bench_cli
    from cda_transform import cli as cda_cli
    from ehdsi_gateway import cli as gateway_cli
    from fhir_server import cli as fhir_cli
    from fhir_server.auth import cli as auth_cli
    from fhir_server.operations import terminology_load
    from terminology import cli as terminology_cli

    parser = argparse.ArgumentParser(prog="passerelle", description="Passerelle FHIR server and tools")
    sub = parser.add_subparsers(dest="command", required=True)
    serve.register(sub)
    bench_cli.register(sub)
    cda_cli.register(sub)
    fhir_cli.register(sub)
    auth_cli.register(sub)
    gateway_cli.register(sub)
    # ``terminology load`` writes through the FHIR server, so the server package contributes it.
    terminology_load.register(terminology_cli.register(sub))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
