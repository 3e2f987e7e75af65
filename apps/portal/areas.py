"""The portal's areas: each subpackage of ``apps.portal`` that defines ``AREA`` plugs in by itself.

An area brings its router, its menu entries, its templates folder and its static files;
nothing central lists them, so adding a screen never edits a shared file. The areas are
discovered once, when the portal app is built, and ordered by ``Area.order``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter

PRACTITIONER = "practitioner"
PATIENT = "patient"
CONSEIL = "conseil"  # a practitioner who is a médecin conseil: the service médical's menu, not a clinic's


@dataclass(frozen=True)
class MenuEntry:
    """One link of the side menu. ``section`` groups entries under a heading ("Patients")."""

    label: str
    href: str
    section: str = ""
    order: int = 100
    kinds: tuple[str, ...] = (PRACTITIONER,)  # who sees it: "practitioner", "patient", "conseil"
    icon: str = ""  # a short text glyph shown before the label (decorative, aria-hidden)


@dataclass(frozen=True)
class Area:
    """A part of the portal (the clinician's workspace, prescriptions, messaging...)."""

    name: str  # a slug: its static files are served under /static/<name>/
    router: APIRouter
    menu: tuple[MenuEntry, ...] = ()
    order: int = 100
    # The folder of its templates (put them in a subfolder named after the area, to keep
    # template names unique: "prescriptions/list.html").
    templates: Path | None = None
    static: Path | None = None
    # The page "/" sends a logged-in user of each menu kind to ({"practitioner": "/accueil"}).
    home: dict[str, str] = field(default_factory=dict)
    # Sections of the menu this area introduces, with their order ("Patients": 20).
    sections: dict[str, int] = field(default_factory=dict)


def discover(package: str = "apps.portal") -> list[Area]:
    """Import every direct subpackage of ``package`` and collect the ``AREA`` it defines."""
    base = importlib.import_module(package)
    areas: list[Area] = []
    for info in pkgutil.iter_modules(base.__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        area = getattr(module, "AREA", None)
        if isinstance(area, Area):
            areas.append(area)
    names = [a.name for a in areas]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"portal areas with the same name: {sorted(duplicates)}")
    return sorted(areas, key=lambda a: (a.order, a.name))


@dataclass(frozen=True)
class MenuSection:
    title: str
    entries: tuple[MenuEntry, ...]


def build_menu(areas: Iterable[Area], kind: str) -> list[MenuSection]:
    """The menu a user of ``kind`` sees: entries grouped by section, sections and entries in order."""
    areas = list(areas)
    section_order: dict[str, int] = {"": 0}
    for area in areas:
        for title, order in area.sections.items():
            section_order.setdefault(title, order)
    grouped: dict[str, list[MenuEntry]] = {}
    for area in areas:
        for entry in area.menu:
            if kind in entry.kinds:
                grouped.setdefault(entry.section, []).append(entry)
    titles = sorted(grouped, key=lambda t: (section_order.get(t, 1000), t))
    return [MenuSection(t, tuple(sorted(grouped[t], key=lambda e: (e.order, e.label)))) for t in titles]
