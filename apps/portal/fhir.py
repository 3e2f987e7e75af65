"""The portal's FHIR client: every read and write goes through ``/fhir`` with the user's token.

One ``httpx.AsyncClient`` per portal: in-process (ASGI transport on this server's root
application) by default, or plain HTTP to ``PASSERELLE_PORTAL_FHIR_URL``. A
:class:`FhirClient` is that transport bound to one user's access token and root URL, so
the access rules of the FHIR API (care relationships, scopes) apply to every screen.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import orjson

FHIR_JSON = "application/fhir+json"


class FhirError(Exception):
    """A FHIR request the server refused (4xx) or could not answer; ``message`` is French."""

    def __init__(self, status: int, message: str, outcome: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.outcome = outcome or {}

    @property
    def expressions(self) -> list[str]:
        """The FHIRPath expressions the OperationOutcome points at (to mark the faulty field)."""
        out: list[str] = []
        for issue in self.outcome.get("issue", []):
            out.extend(issue.get("expression", []))
        return out


def outcome_text(outcome: dict[str, Any]) -> str:
    texts = [
        i.get("diagnostics") or (i.get("details") or {}).get("text") or ""
        for i in outcome.get("issue", [])
        if i.get("severity") in ("error", "fatal", None)
    ]
    return " ".join(t for t in texts if t)


DEFAULT_MESSAGES = {
    401: "Votre session n'est plus valable : reconnectez-vous.",
    403: "Vous n'avez pas accès à cette information.",
    404: "Élément introuvable.",
    409: "Conflit : l'élément a été modifié entre-temps, rechargez la page.",
    412: "L'élément a été modifié par quelqu'un d'autre entre-temps : rechargez la page.",
    422: "Les informations saisies ne sont pas valides.",
}


class FhirClient:
    """The FHIR API as one logged-in user sees it."""

    def __init__(self, http: httpx.AsyncClient, root: str, token: str | None) -> None:
        self.http = http
        self.base = root.rstrip("/") + "/fhir"
        self.token = token

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept": FHIR_JSON}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if extra:
            headers.update(extra)
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        extra = dict(headers or {})
        body = content
        if json is not None:
            body = orjson.dumps(json)
            extra.setdefault("Content-Type", FHIR_JSON)
        try:
            response = await self.http.request(
                method, f"{self.base}/{path.lstrip('/')}", params=params, content=body,
                headers=self._headers(extra),
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise FhirError(503, "Le serveur FHIR ne répond pas : réessayez dans un instant.") from exc
        if response.status_code >= 400:
            outcome: dict[str, Any] = {}
            try:
                data = response.json()
                if isinstance(data, dict) and data.get("resourceType") == "OperationOutcome":
                    outcome = data
            except ValueError:
                pass
            status = response.status_code
            text = outcome_text(outcome) or DEFAULT_MESSAGES.get(status, "Le serveur a refusé la demande.")
            raise FhirError(status, text, outcome)
        return response

    # -- interactions -------------------------------------------------------------------

    async def read(self, resource_type: str, id_: str) -> dict[str, Any]:
        response = await self.request("GET", f"{resource_type}/{quote(id_, safe='')}")
        resource: dict[str, Any] = response.json()
        return resource

    async def search(self, resource_type: str, params: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = (await self.request("GET", resource_type, params=params)).json()
        return bundle

    async def search_resources(
        self, resource_type: str, params: Any = None, *, include_type: str | None = None
    ) -> list[dict[str, Any]]:
        """The resources of a search's first page (``mode=match`` only, or of ``include_type``)."""
        bundle = await self.search(resource_type, params)
        wanted = include_type or resource_type
        return [
            e["resource"]
            for e in bundle.get("entry", [])
            if e.get("resource", {}).get("resourceType") == wanted
        ]

    async def create(self, resource: dict[str, Any], *, if_none_exist: str | None = None) -> dict[str, Any]:
        headers = {"Prefer": "return=representation"}
        if if_none_exist:
            headers["If-None-Exist"] = if_none_exist
        response = await self.request("POST", resource["resourceType"], json=resource, headers=headers)
        created: dict[str, Any] = response.json()
        return created

    async def update(self, resource: dict[str, Any], *, if_match: str | None = None) -> dict[str, Any]:
        headers = {"Prefer": "return=representation"}
        if if_match:
            headers["If-Match"] = if_match
        path = f"{resource['resourceType']}/{quote(resource['id'], safe='')}"
        updated: dict[str, Any] = (await self.request("PUT", path, json=resource, headers=headers)).json()
        return updated

    async def delete(self, resource_type: str, id_: str) -> None:
        await self.request("DELETE", f"{resource_type}/{quote(id_, safe='')}")

    async def transaction(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        result: dict[str, Any] = (await self.request("POST", "", json=bundle)).json()
        return result


def version_etag(resource: dict[str, Any]) -> str:
    """The ``If-Match`` value for the version of ``resource`` that was read."""
    return f'W/"{resource.get("meta", {}).get("versionId", "")}"'
