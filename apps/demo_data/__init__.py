"""The demo data set of ``make run``: ``resources.json`` (the base practice) plus every module here.

A module of this package joins the demo by defining ``resources(today: date) -> list[dict]``
(resources with fixed ids, dates relative to ``today`` so that the agenda is never in the
past on a fresh data dir) and, when it must, ``async def after_load(db)`` for records
outside FHIR (run after every resource is stored). Modules run in name order.
"""

from __future__ import annotations

import importlib
import pkgutil
from datetime import date
from types import ModuleType
from typing import Any


def modules() -> list[ModuleType]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(module, "resources", None)):
            found.append(module)
    return found


def extra_resources(today: date | None = None) -> list[dict[str, Any]]:
    day = today or date.today()
    return [resource for module in modules() for resource in module.resources(day)]


async def after_load(db: Any) -> None:
    for module in modules():
        hook = getattr(module, "after_load", None)
        if hook is not None:
            await hook(db)
