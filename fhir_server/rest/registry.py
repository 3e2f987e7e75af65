"""The routing table: each FHIR interaction with its URL, method, handler and capability code.

The router and the CapabilityStatement are both built from this one list, so the
statement cannot claim an interaction that has no handler, nor miss one that has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Interaction:
    path: str
    method: str
    handler: Handler
    code: str | None  # CapabilityStatement interaction code
    level: str  # "system", "type" or "instance"
