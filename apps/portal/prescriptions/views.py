"""Ordonnances as the screens show them: lines grouped by prescription number."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eprescription import NUMBER_ELEMENT, PRESCRIPTION_SYSTEM, LineView, display, line_view

STATUS_TEXT = {
    "draft": "Brouillon (non signée)",
    "active": "Signée",
    "on-hold": "Suspendue",
    "completed": "Délivrée",
    "stopped": "Délivrée",
    "cancelled": "Annulée",
    "entered-in-error": "Annulée",
}


@dataclass
class OrdonnanceView:
    number: str
    type: str
    lines: list[LineView] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)

    @property
    def shown_number(self) -> str:
        return display(self.number)

    @property
    def status(self) -> str:
        statuses = {line.status for line in self.lines}
        if "draft" in statuses:
            return "draft"
        if statuses <= {"cancelled", "entered-in-error"}:
            return "cancelled"
        if statuses & {"active", "on-hold"}:
            return "active"
        return "completed"

    @property
    def status_text(self) -> str:
        return STATUS_TEXT.get(self.status, self.status)

    @property
    def kind(self) -> str:
        return "Médicaments" if self.type == "MedicationRequest" else "Examens"

    @property
    def date(self) -> str:
        return str(self.resources[0].get("authoredOn") or "") if self.resources else ""


def group(resources: list[dict[str, Any]]) -> list[OrdonnanceView]:
    """The ordonnances of a list of MedicationRequests / ServiceRequests (this server's numbers only)."""
    out: dict[str, OrdonnanceView] = {}
    for resource in resources:
        type_ = resource.get("resourceType", "")
        ident = resource.get(NUMBER_ELEMENT.get(type_, ""), None)
        if not isinstance(ident, dict) or ident.get("system") != PRESCRIPTION_SYSTEM:
            continue
        number = str(ident.get("value"))
        view = out.setdefault(number, OrdonnanceView(number, type_))
        view.lines.append(line_view(type_, resource))
        view.resources.append(resource)
    return sorted(out.values(), key=lambda v: (v.date, v.number), reverse=True)
