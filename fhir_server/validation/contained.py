"""R4 rules on contained resources (DomainResource invariants dom-2 to dom-5).

Why: a contained resource has no identity of its own: it exists only for the resource that
holds it, so R4 forbids it to nest further resources (dom-2), to be unreferenced (dom-3),
and to carry version, update time or security labels (dom-4, dom-5), which belong to the
container. The fhir.resources models check none of these invariants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhir_server.validation.issues import Issue, error


@dataclass(slots=True)
class Frame:
    """Local references seen while walking one container (top-level or bundled resource)."""

    ids: set[str]
    referenced: set[str] = field(default_factory=set)
    refers_to_container: set[int] = field(default_factory=set)
    current: int | None = None  # index of the contained resource being walked

    def saw_local_reference(self, reference: str) -> None:
        """Record ``#id`` (a contained resource) or ``#`` (the container itself)."""
        if reference == "#":
            if self.current is not None:
                self.refers_to_container.add(self.current)
        else:
            self.referenced.add(reference[1:])


def own_rules(resource: dict[str, Any], path: str) -> list[Issue]:
    """dom-2, dom-4, dom-5 on one contained resource at ``path``."""
    issues: list[Issue] = []
    if "contained" in resource:
        issues.append(
            error(
                "invalid",
                "A contained resource cannot contain resources (dom-2). "
                "Une ressource contenue ne peut pas elle-même contenir de ressources.",
                f"{path}.contained",
            )
        )
    meta = resource.get("meta")
    if isinstance(meta, dict):
        for key, rule in (("versionId", "dom-4"), ("lastUpdated", "dom-4"), ("security", "dom-5")):
            if key in meta:
                issues.append(
                    error(
                        "invalid",
                        f"A contained resource cannot have meta.{key} ({rule}). "
                        f"Une ressource contenue ne peut pas porter meta.{key} : il appartient au conteneur.",
                        f"{path}.meta.{key}",
                    )
                )
    return issues


def unreferenced(frame: Frame, contained: Any, path: str) -> list[Issue]:
    """dom-3: each contained resource is referenced from the container, or refers to it."""
    if not isinstance(contained, list):
        return []
    issues: list[Issue] = []
    for index, item in enumerate(contained):
        if not isinstance(item, dict) or index in frame.refers_to_container:
            continue
        item_id = item.get("id")
        if isinstance(item_id, str) and item_id in frame.referenced:
            continue
        issues.append(
            error(
                "invalid",
                "Contained resource not referenced from its container (dom-3). "
                "Ressource contenue jamais référencée (#id) par la ressource qui la contient.",
                f"{path}.contained[{index}]",
            )
        )
    return issues
