"""The few FHIR calls the messaging service makes, through the httpx client it is given.

The client carries the user's token: what comes back is what the FHIR layer lets this user
see (a médecin conseil's échelon, a doctor's patients and centre). Nothing here filters for
access; errors become :class:`MessagingError` (the French text of the OperationOutcome) or
:class:`NotFound`.
"""

from __future__ import annotations

from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"


class MessagingError(ValueError):
    """A refused action; the message is French and meant for the user (``field``: the form field)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(MessagingError):
    """The thread or patient does not exist for this user (or is out of their reach)."""


def _diagnostics(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    issues = body.get("issue") or [] if isinstance(body, dict) else []
    texts = [str(i.get("diagnostics") or "") for i in issues if isinstance(i, dict)]
    return " ".join(t for t in texts if t) or f"erreur {resp.status_code}"


def _raise_for(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    if resp.status_code in (404, 410):
        raise NotFound("Élément introuvable ou hors de votre accès.")
    if resp.status_code == 403:
        raise MessagingError(f"Action refusée : {_diagnostics(resp)}")
    if resp.status_code >= 500:
        raise MessagingError("Le serveur est momentanément indisponible ; réessayez dans un instant.")
    raise MessagingError(_diagnostics(resp))


class Fhir:
    """``http`` with ``base`` (the FHIR base URL; empty when the client has a ``base_url``) and
    ``headers`` (the user's ``Authorization``) added to every request."""

    def __init__(
        self, http: httpx.AsyncClient, base: str = "", headers: dict[str, str] | None = None
    ) -> None:
        self.http = http
        self.base = base.rstrip("/") + "/" if base else ""
        self.headers = {"Accept": FHIR_JSON, **(headers or {})}

    async def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        url = path if path.startswith(("http://", "https://")) else self.base + path
        headers = {**self.headers, **kw.pop("headers", {})}
        try:
            return await self.http.request(method, url, headers=headers, **kw)
        except httpx.HTTPError as exc:
            raise MessagingError("Le serveur FHIR ne répond pas : réessayez dans un instant.") from exc

    async def read(self, ref: str) -> dict[str, Any]:
        resp = await self._call("GET", ref)
        _raise_for(resp)
        return resp.json()  # type: ignore[no-any-return]

    async def search(
        self, type_: str, params: dict[str, str] | list[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        """Every resource of the result (matches and includes), following ``next`` links."""
        out: list[dict[str, Any]] = []
        resp = await self._call("GET", type_, params=params)
        while True:
            _raise_for(resp)
            bundle = resp.json()
            out.extend(e["resource"] for e in bundle.get("entry") or [] if "resource" in e)
            nxt = next(
                (link["url"] for link in bundle.get("link") or [] if link.get("relation") == "next"), None
            )
            if not nxt:
                return out
            resp = await self._call("GET", nxt)

    async def page(
        self, type_: str, params: list[tuple[str, str]]
    ) -> tuple[list[dict[str, Any]], str | None, str | None]:
        """One page of a search: (its resources, the ``_cursor`` of the next page, of the previous one)."""
        resp = await self._call("GET", type_, params=params)
        _raise_for(resp)
        bundle = resp.json()
        cursors: dict[str, str | None] = {"next": None, "previous": None}
        for link in bundle.get("link") or []:
            if link.get("relation") in cursors:
                query = httpx.URL(str(link.get("url") or "")).params
                cursors[link["relation"]] = query.get("_cursor")
        found = [e["resource"] for e in bundle.get("entry") or [] if "resource" in e]
        return found, cursors["next"], cursors["previous"]

    async def count(self, type_: str, params: list[tuple[str, str]]) -> int:
        resp = await self._call("GET", type_, params=[*params, ("_summary", "count")])
        _raise_for(resp)
        return int(resp.json().get("total") or 0)

    async def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        resp = await self._call(
            "POST",
            resource["resourceType"],
            json=resource,
            headers={"Content-Type": FHIR_JSON, "Prefer": "return=representation"},
        )
        _raise_for(resp)
        return resp.json()  # type: ignore[no-any-return]

    async def transaction(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One transaction: all of ``entries`` (``{"resource", "method"}``) or nothing."""
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "transaction", "entry": []}
        for e in entries:
            resource = e["resource"]
            if e.get("method", "PUT") == "PUT":
                url = f"{resource['resourceType']}/{resource['id']}"
                request: dict[str, Any] = {"method": "PUT", "url": url}
                if e.get("version"):
                    request["ifMatch"] = f'W/"{e["version"]}"'
            else:
                request = {"method": "POST", "url": resource["resourceType"]}
            bundle["entry"].append({"resource": resource, "request": request})
        resp = await self._call("POST", "", json=bundle, headers={"Content-Type": FHIR_JSON})
        if resp.status_code == 409 or resp.status_code == 412:
            raise MessagingError("La conversation a été modifiée entre-temps : rechargez la page.")
        _raise_for(resp)
        return [entry.get("response") or {} for entry in resp.json().get("entry") or []]
