"""Batch and transaction Bundles (R4 http.html#transaction).

A transaction runs in ONE MongoDB transaction: every entry writes with the same session,
so either all of them commit or none does. Before the transaction starts, in a worker thread
(off the event loop), every entry is parsed and its resource validated, and ids of created
resources are drawn so that references to ``fullUrl`` placeholders can be rewritten; when no
entry is resolved by a search, the references are rewritten and the documents of the creates
built there too (CPU work that a retried transaction body does not redo). Inside it:
conditional entries and conditional references are resolved, then the entries run in the
order the specification fixes: DELETE, POST, PUT/PATCH, GET.

A batch runs each entry on its own (its own transaction when it writes) and reports each
outcome in its entry of the ``batch-response``.

With an access policy (``access``, the caller's), every entry is checked like the
equivalent single interaction (:mod:`fhir_server.bundles.access`).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import orjson
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import CollectionInvalid

from fhir_server.bundles.access import check_entry, check_patched, restricted, transaction_policy
from fhir_server.bundles.references import conditional_references, rewrite
from fhir_server.config import Settings
from fhir_server.errors import FhirError, issue, operation_outcome
from fhir_server.rest import conditional
from fhir_server.rest.http import ID_RE, parse_etag, parse_version
from fhir_server.rest.patch import PatchDocument, document_from_entry, patch_resource, read_current
from fhir_server.storage import MongoRepository, PreparedCreates, StoredVersion, VersionConflict
from fhir_server.storage.records import fhir_instant

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_SEARCH_LIMIT = 1000
# Collections known to exist, per client and database (see _ensure_collections).
_KNOWN_COLLECTIONS: dict[str, set[str]] = {}


@dataclass
class Entry:
    """One entry of the Bundle, its request parsed."""

    index: int
    method: str
    type: str | None
    id: str | None
    vid: int | None
    query: str
    resource: dict[str, Any] | None
    full_url: str | None
    if_match: int | None
    if_none_match: str | None
    if_none_exist: str | None
    criteria: list[tuple[str, str]] | None = None
    patch: PatchDocument | None = None
    new_id: str | None = None  # id drawn for a create (or a conditional update that creates)
    # set inside the transaction
    existing: StoredVersion | None = None
    target_id: str | None = None

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"


def _status(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def at_entry(exc: FhirError, index: int, type_: str | None = None) -> FhirError:
    """The same error, its diagnostics and FHIRPath expressions placed at ``Bundle.entry[index]``."""
    prefix = f"Bundle.entry[{index}]"
    issues = []
    for item in exc.issues:
        item = dict(item)
        item["diagnostics"] = f"{prefix} : {item.get('diagnostics', '')}"
        expressions = []
        for expr in item.get("expression") or []:
            if expr.startswith("Bundle."):
                expressions.append(expr)
            elif type_ and (expr == type_ or expr.startswith(type_ + ".") or expr.startswith(type_ + "[")):
                expressions.append(f"{prefix}.resource{expr[len(type_) :]}")
            elif expr in ("url", "If-None-Exist"):
                expressions.append(f"{prefix}.request.{'ifNoneExist' if expr == 'If-None-Exist' else 'url'}")
            elif expr:
                expressions.append(f"{prefix}.resource.{expr}")
        item["expression"] = expressions or [prefix]
        issues.append(item)
    return FhirError(
        exc.status, exc.issues[0].get("code", "processing"), issues[0]["diagnostics"], issues=issues
    )


def _bad(entry_index: int, text: str, where: str, status: int = 400, code: str = "invalid") -> FhirError:
    return FhirError(status, code, f"Bundle.entry[{entry_index}] : {text}", expression=[where])


def check_bundle(bundle: dict[str, Any], settings: Settings) -> tuple[str, list[Any]]:
    """The Bundle type (batch or transaction) and its entries; 400/413 otherwise."""
    if bundle.get("resourceType") != "Bundle":
        raise FhirError(
            400,
            "invalid",
            "POST sur la base : un Bundle de type batch ou transaction est attendu.",
            expression=["resourceType"],
        )
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise FhirError(
            400,
            "not-supported",
            f"Bundle de type {kind!r} : seuls batch et transaction sont traités sur la base.",
            expression=["Bundle.type"],
        )
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise FhirError(400, "structure", "Bundle.entry doit être une liste.", expression=["Bundle.entry"])
    if len(entries) > settings.bundle_max_entries:
        raise FhirError(
            413,
            "too-costly",
            f"Bundle de {len(entries)} entrées : la limite du serveur est {settings.bundle_max_entries} "
            "(PASSERELLE_BUNDLE_MAX_ENTRIES). Découpez-le en plusieurs Bundles.",
            expression=["Bundle.entry"],
        )
    return kind, entries


def parse_entry(raw: Any, index: int, base: str) -> Entry:
    """Parse and check the request of one entry (not its resource)."""
    from fhir_server.validation import RESOURCE_TYPES

    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        raise _bad(index, "entrée mal formée (objet attendu).", where)
    request = raw.get("request")
    if not isinstance(request, dict):
        raise _bad(
            index, "request manquant (obligatoire dans un batch ou une transaction).", f"{where}.request"
        )
    method = request.get("method")
    if method not in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"):
        raise _bad(index, f"méthode {method!r} inconnue.", f"{where}.request.method")
    url = request.get("url")
    if not isinstance(url, str) or not url.strip():
        raise _bad(index, "request.url manquant.", f"{where}.request.url")
    url = url.strip()
    if url.startswith(base + "/"):
        url = url[len(base) + 1 :]
    elif url.startswith(("http://", "https://")):
        raise _bad(index, f"URL {url!r} hors de ce serveur.", f"{where}.request.url")
    path, _, query = url.lstrip("/").partition("?")
    segments = [s for s in path.split("/") if s]
    type_ = id_ = None
    vid = None
    if not segments or segments[0] not in RESOURCE_TYPES:
        what = segments[0] if segments else url
        raise _bad(
            index, f"type de ressource inconnu ou URL non prise en charge : {what!r}.", f"{where}.request.url"
        )
    type_ = segments[0]
    if len(segments) >= 2:
        if not ID_RE.fullmatch(segments[1]):
            raise _bad(index, f"identifiant {segments[1]!r} invalide.", f"{where}.request.url")
        id_ = segments[1]
    if len(segments) == 4 and segments[2] == "_history" and method in ("GET", "HEAD"):
        try:
            vid = parse_version(segments[3])
        except FhirError as exc:
            raise at_entry(exc, index) from exc
    elif len(segments) > 2:
        raise _bad(
            index,
            f"URL {url!r} non prise en charge dans un Bundle.",
            f"{where}.request.url",
            code="not-supported",
        )
    if method == "POST" and id_ is not None:
        raise _bad(index, "POST se fait sur [type], sans id.", f"{where}.request.url")
    if method in ("PUT", "DELETE", "PATCH") and id_ is None and not query:
        raise _bad(index, f"{method} exige un id ou des critères de recherche.", f"{where}.request.url")
    try:
        if_match = parse_etag(request.get("ifMatch"), "ifMatch")
    except FhirError as exc:
        raise _bad(index, exc.issues[0]["diagnostics"], f"{where}.request.ifMatch") from exc
    resource = raw.get("resource")
    if resource is not None and not isinstance(resource, dict):
        raise _bad(index, "resource doit être un objet.", f"{where}.resource")
    entry = Entry(
        index=index,
        method=method,
        type=type_,
        id=id_,
        vid=vid,
        query=query,
        resource=resource,
        full_url=raw.get("fullUrl") if isinstance(raw.get("fullUrl"), str) else None,
        if_match=if_match,
        if_none_match=request.get("ifNoneMatch") if isinstance(request.get("ifNoneMatch"), str) else None,
        if_none_exist=request.get("ifNoneExist") if isinstance(request.get("ifNoneExist"), str) else None,
    )
    if method in ("POST", "PUT") and resource is None:
        raise _bad(index, f"{method} exige une ressource.", f"{where}.resource")
    try:
        if method == "PATCH":
            entry.patch = document_from_entry(resource, f"{where}.resource")
        if id_ is None and query and method in ("PUT", "DELETE", "PATCH", "GET", "HEAD"):
            entry.criteria = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True)]
            if method != "GET" and method != "HEAD":
                entry.criteria = conditional.parse_criteria(query, "url")
        if entry.if_none_exist is not None:
            entry.criteria = conditional.parse_criteria(entry.if_none_exist, "If-None-Exist")
    except FhirError as exc:
        raise at_entry(exc, index, type_) from exc
    return entry


def prepare_entry(entry: Entry) -> None:
    """Validate the resource of a POST/PUT entry (once, before the transaction)."""
    from fhir_server.rest.crud import prepare_resource

    if entry.method not in ("POST", "PUT") or entry.resource is None or entry.type is None:
        return
    if entry.method == "PUT" and entry.id is None:
        id_ = entry.resource.get("id")
        expected = id_ if isinstance(id_, str) else None
    else:
        expected = entry.id
    try:
        entry.resource = prepare_resource(
            entry.resource, entry.type, expected, allow_conditional_references=True
        )
    except FhirError as exc:
        raise at_entry(exc, entry.index, entry.type) from exc


# (the mapping of fullUrls and conditional references, the resources rewritten with it, the
# documents of its creates)
_Rewritten = tuple[dict[str, str], dict[int, dict[str, Any]], PreparedCreates | None]


def _conditional_references(entries: list[Entry]) -> dict[int, list[str]]:
    """The conditional references (``Patient?identifier=…``) of each POST/PUT entry that has any."""
    out: dict[int, list[str]] = {}
    for entry in entries:
        if entry.resource is None or entry.method not in ("POST", "PUT"):
            continue
        found = conditional_references(entry.resource, set())
        if found:
            out[entry.index] = sorted(found)
    return out


def _create_items(
    creates: list[Entry], resources: dict[int, dict[str, Any]]
) -> list[tuple[str, str, dict[str, Any]]]:
    items = []
    for entry in creates:
        assert entry.type is not None and entry.new_id is not None
        items.append((entry.type, entry.new_id, resources[entry.index]))
    return items


@dataclass
class Outcome:
    """What one entry produced: status, the version written or read, extra body."""

    status: int
    version: StoredVersion | None = None
    resource: Any = None  # a searchset Bundle for GET searches (stored bodies as orjson.Fragment)


class BundleProcessor:
    """Runs the entries of one batch or transaction Bundle against the repository.

    ``prefer`` is the request's ``Prefer: return`` choice, applied to every entry; ``access``
    the caller's policy (``AccessPolicy``; None: the server's own loads, which see everything).
    """

    def __init__(
        self, repository: MongoRepository, settings: Settings, base: str, prefer: str, access: Any = None
    ) -> None:
        self.repository = repository
        self.settings = settings
        self.base = base
        self.prefer = prefer
        self.access = access if restricted(access) else None

    # -- transaction ---------------------------------------------------------------------

    async def transaction(self, raw_entries: list[Any]) -> list[dict[str, Any]]:
        # The CPU of the Bundle (parsing its requests, validating its resources, rewriting
        # references, building the documents) runs in a worker thread: the event loop goes on
        # serving, and feeding the database the statements of the transactions in progress.
        entries, mapping, order, references, rewritten = await asyncio.to_thread(self._plan, raw_entries)
        await self._ensure_collections({e.type for e in entries if e.type and e.method != "GET"})

        async def body(session: AsyncClientSession) -> dict[int, Outcome]:
            local = dict(mapping)
            for entry in entries:
                entry.existing = None
                entry.target_id = None
                await self._resolve_conditional(entry, local, session)
            await self._resolve_conditional_references(entries, local, session, references)
            if rewritten and rewritten[0][0] == local:
                resources, prepared = rewritten[0][1], rewritten[0][2]
            else:
                resources, prepared = await asyncio.to_thread(self._rewrite, entries, local), None
                rewritten[:] = [(dict(local), resources, None)]
            currents = await self._check_all(entries, resources, session)
            results: dict[int, Outcome] = {}
            creates = [e for e in order if e.method == "POST" and e.existing is None]
            if creates and prepared is None:  # built in this run, reused by the next ones
                prepared = await asyncio.to_thread(self._prepare, creates, resources)
                rewritten[:] = [(dict(local), resources, prepared)]
            for entry in order:
                if entry.method == "POST" and entry.existing is None:
                    if entry is creates[0]:  # all plain creates at once, in their place in the order
                        await self._create_all(creates, resources, session, results, prepared)
                    continue
                try:
                    results[entry.index] = await self._execute(entry, resources.get(entry.index), session)
                    if entry.method == "PATCH" and self.access is not None:
                        await check_patched(
                            self.access,
                            self.repository,
                            entry,
                            results[entry.index].version,
                            currents.get(entry.index),
                            session,
                        )
                except VersionConflict as exc:
                    raise at_entry(
                        conditional.version_conflict(
                            entry.type or "", entry.target_id or "", entry.if_match, exc
                        ),
                        entry.index,
                    ) from exc
                except FhirError as exc:
                    if any(i.get("diagnostics", "").startswith("Bundle.entry[") for i in exc.issues):
                        raise
                    raise at_entry(exc, entry.index, entry.type) from exc
            return results

        results = await self.repository.run_transaction(body, bounded=True)
        return [self._response_entry(entry, results[entry.index]) for entry in entries]

    def _plan(
        self, raw_entries: list[Any]
    ) -> tuple[list[Entry], dict[str, str], list[Entry], dict[int, list[str]], list[_Rewritten]]:
        """Everything about a transaction decided before it opens (see :meth:`transaction`)."""
        entries = [parse_entry(raw, i, self.base) for i, raw in enumerate(raw_entries)]
        for entry in entries:
            prepare_entry(entry)
        mapping = self._assign_ids(entries)
        self._check_duplicates(entries)
        order = sorted(entries, key=lambda e: (_ORDER[e.method], e.index))
        references = _conditional_references(entries)
        # The database may run the body several times (write conflicts). The rewritten resources
        # and the documents of the creates depend only on the mapping of fullUrls and conditional
        # references: a run that resolves the same mapping reuses them. When nothing in the Bundle
        # is resolved by a search (no conditional create or update, no conditional reference),
        # the mapping is known now and they are built here, before the transaction opens, so
        # that a retried body only sends them again.
        rewritten: list[_Rewritten] = []
        if not references and not any(
            e.criteria is not None and e.method in ("POST", "PUT") for e in entries
        ):
            resources = self._rewrite(entries, mapping)
            creates = [e for e in order if e.method == "POST"]
            rewritten.append((dict(mapping), resources, self._prepare(creates, resources)))
        return entries, mapping, order, references, rewritten

    async def _check_all(
        self, entries: list[Entry], resources: dict[int, dict[str, Any]], session: AsyncClientSession
    ) -> dict[int, dict[str, Any] | None]:
        """The policy applied to every entry before any runs (the transaction is refused at the first)."""
        currents: dict[int, dict[str, Any] | None] = {}
        if self.access is None:
            return currents
        policy = transaction_policy(self.access, entries)
        for entry in entries:
            try:
                currents[entry.index] = await check_entry(
                    policy, self.repository, entry, resources.get(entry.index), session
                )
            except FhirError as exc:
                raise at_entry(exc, entry.index, entry.type) from exc
        return currents

    def _prepare(self, creates: list[Entry], resources: dict[int, dict[str, Any]]) -> PreparedCreates:
        return self.repository.prepare_creates(_create_items(creates, resources))

    async def _create_all(
        self,
        creates: list[Entry],
        resources: dict[int, dict[str, Any]],
        session: AsyncClientSession,
        results: dict[int, Outcome],
        prepared: PreparedCreates | None,
    ) -> None:
        for entry in creates:
            entry.target_id = entry.new_id
        items = _create_items(creates, resources)
        versions = await self.repository.create_many(items, session=session, prepared=prepared)
        for entry, version in zip(creates, versions, strict=True):
            results[entry.index] = Outcome(201, version)

    async def _ensure_collections(self, types: set[str]) -> None:
        """Create missing collections before the transaction.

        Measured on SecantusDB: a transaction that first creates its collections implicitly
        took about twice as long as the same transaction on existing collections (the driver
        replays it), so the first Bundle of a fresh database paid double.
        """
        db = self.repository.db
        known = _KNOWN_COLLECTIONS.setdefault(f"{id(self.repository.client)}/{db.name}", set())
        missing = types - known
        if not missing:
            return
        existing = set(await db.list_collection_names())
        for type_ in sorted(missing - existing):
            with contextlib.suppress(CollectionInvalid):  # created meanwhile by a concurrent request
                await db.create_collection(type_)
        known.update(types)

    def _assign_ids(self, entries: list[Entry]) -> dict[str, str]:
        mapping: dict[str, str] = {}
        for entry in entries:
            if entry.method == "POST":
                entry.new_id = str(uuid.uuid4())
                if entry.full_url and entry.if_none_exist is None:
                    mapping[entry.full_url] = f"{entry.type}/{entry.new_id}"
            elif entry.method == "PUT" and entry.id is not None and entry.full_url:
                mapping[entry.full_url] = f"{entry.type}/{entry.id}"
            elif entry.method == "PUT" and entry.id is None:
                entry.new_id = str(uuid.uuid4())
        return mapping

    def _check_duplicates(self, entries: list[Entry]) -> None:
        seen: dict[str, int] = {}
        full_urls: dict[str, int] = {}
        for entry in entries:
            if entry.full_url and entry.method in ("POST", "PUT"):
                if entry.full_url in full_urls:
                    raise _bad(
                        entry.index,
                        f"fullUrl {entry.full_url!r} déjà utilisé par l'entrée {full_urls[entry.full_url]}.",
                        f"Bundle.entry[{entry.index}].fullUrl",
                    )
                full_urls[entry.full_url] = entry.index
            if entry.id is None or entry.method in ("GET", "HEAD"):
                continue
            key = f"{entry.type}/{entry.id}"
            if key in seen:
                raise _bad(
                    entry.index,
                    f"{key} est déjà modifié par l'entrée {seen[key]} : une ressource n'apparaît qu'une fois "
                    "dans une transaction.",
                    f"Bundle.entry[{entry.index}].request.url",
                )
            seen[key] = entry.index

    async def _resolve_conditional(
        self, entry: Entry, mapping: dict[str, str], session: AsyncClientSession
    ) -> None:
        """Decide, inside the transaction, what a conditional create or update targets."""
        if entry.criteria is None or entry.type is None:
            return
        try:
            if entry.method == "POST":
                await conditional.lock(self.repository, entry.type, entry.criteria, session)
                matches = await conditional.find(
                    self.repository, entry.type, entry.criteria, session=session, limit=2
                )
                if len(matches) > 1:
                    raise conditional._too_many(entry.type, entry.criteria, "ifNoneExist")
                entry.existing = matches[0] if matches else None
                target = entry.existing.id if entry.existing else entry.new_id
                if entry.full_url:
                    mapping[entry.full_url] = f"{entry.type}/{target}"
            elif entry.method == "PUT":
                await conditional.lock(self.repository, entry.type, entry.criteria, session)
                matches = await conditional.find(
                    self.repository, entry.type, entry.criteria, session=session, limit=2
                )
                if len(matches) > 1:
                    raise conditional._too_many(entry.type, entry.criteria, "Mise à jour conditionnelle")
                body_id = (entry.resource or {}).get("id")
                if matches:
                    if body_id is not None and body_id != matches[0].id:
                        raise FhirError(
                            400,
                            "invalid",
                            f"L'id du corps ({body_id!r}) diffère de celui de la ressource trouvée "
                            f"({matches[0].id!r}).",
                            expression=[f"{entry.type}.id"],
                        )
                    entry.target_id = matches[0].id
                else:
                    entry.target_id = body_id or entry.new_id
                if entry.full_url:
                    mapping[entry.full_url] = f"{entry.type}/{entry.target_id}"
        except FhirError as exc:
            raise at_entry(exc, entry.index, entry.type) from exc

    async def _resolve_conditional_references(
        self,
        entries: list[Entry],
        mapping: dict[str, str],
        session: AsyncClientSession | None,
        references: dict[int, list[str]] | None = None,
    ) -> None:
        """Map each conditional reference to the one resource its search finds (412 otherwise).
        ``references``: those of each entry, found beforehand (:func:`_conditional_references`)."""
        if references is None:
            references = _conditional_references(entries)
        for entry in entries:
            for reference in references.get(entry.index, ()):
                if reference in mapping:
                    continue
                type_, _, query = reference.partition("?")
                try:
                    criteria = conditional.parse_criteria(query, "reference")
                    found = await conditional.find(self.repository, type_, criteria, session=session, limit=2)
                except FhirError as exc:
                    raise at_entry(exc, entry.index, entry.type) from exc
                if len(found) != 1:
                    raise FhirError(
                        412,
                        "multiple-matches" if found else "not-found",
                        f"Bundle.entry[{entry.index}] : la référence conditionnelle {reference!r} désigne "
                        f"{len(found)} ressources (exactement une attendue).",
                        expression=[f"Bundle.entry[{entry.index}].resource"],
                    )
                mapping[reference] = f"{type_}/{found[0].id}"

    def _rewrite(self, entries: list[Entry], mapping: dict[str, str]) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for entry in entries:
            if entry.resource is None or entry.method not in ("POST", "PUT"):
                continue
            unresolved: list[str] = []
            out[entry.index] = rewrite(
                entry.resource, mapping, unresolved, f"Bundle.entry[{entry.index}].resource"
            )
            if unresolved:
                raise FhirError(
                    400,
                    "not-found",
                    f"Bundle.entry[{entry.index}] : référence vers une entrée absente du Bundle.",
                    expression=unresolved[:10],
                )
        return out

    # -- batch ---------------------------------------------------------------------------

    async def batch(self, raw_entries: list[Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for index, raw in enumerate(raw_entries):
            try:
                entry = parse_entry(raw, index, self.base)
                prepare_entry(entry)
                if entry.type and entry.method not in ("GET", "HEAD"):
                    await self._ensure_collections({entry.type})
                if entry.method in ("POST", "PUT"):
                    entry.new_id = str(uuid.uuid4())
                mapping: dict[str, str] = {}
                await self._resolve_conditional_references([entry], mapping, None)
                resources = self._rewrite([entry], mapping)
                result = await self._run_one(entry, resources.get(index))
                out.append(self._response_entry(entry, result))
            except FhirError as exc:
                out.append(
                    {"response": {"status": _status(exc.status), "outcome": operation_outcome(exc.issues)}}
                )
        return out

    async def _run_one(self, entry: Entry, resource: dict[str, Any] | None) -> Outcome:
        async def body(session: AsyncClientSession) -> Outcome:
            entry.existing = None
            entry.target_id = None
            await self._resolve_conditional(entry, {}, session)
            current = None
            if self.access is not None:
                current = await check_entry(self.access, self.repository, entry, resource, session)
            try:
                outcome = await self._execute(entry, resource, session)
                if entry.method == "PATCH" and self.access is not None:
                    await check_patched(
                        self.access, self.repository, entry, outcome.version, current, session
                    )
                return outcome
            except VersionConflict as exc:
                raise conditional.version_conflict(
                    entry.type or "", entry.target_id or "", entry.if_match, exc
                ) from exc

        if entry.method in ("GET", "HEAD"):
            if self.access is not None:
                await check_entry(self.access, self.repository, entry, None, None)
            return await self._execute(entry, None, None)
        return await self.repository.run_transaction(body)

    # -- one entry -------------------------------------------------------------------------

    async def _execute(
        self, entry: Entry, resource: dict[str, Any] | None, session: AsyncClientSession | None
    ) -> Outcome:
        repository = self.repository
        type_ = entry.type or ""
        if entry.method == "DELETE":
            assert session is not None
            if entry.id is None:
                assert entry.criteria is not None
                deleted = await conditional.delete_matching(
                    repository,
                    type_,
                    entry.criteria,
                    session,
                    multiple=False,
                    cap=self.settings.conditional_delete_max,
                )
                return Outcome(204, deleted[0] if deleted else None)
            entry.target_id = entry.id
            version = await repository.delete(type_, entry.id, if_match=entry.if_match, session=session)
            return Outcome(204, version)
        if entry.method == "POST":
            assert session is not None and resource is not None and entry.new_id is not None
            if entry.existing is not None:
                return Outcome(200, entry.existing)
            entry.target_id = entry.new_id
            version = await conditional.create_with_id(repository, type_, entry.new_id, resource, session)
            return Outcome(201, version)
        if entry.method == "PUT":
            assert session is not None and resource is not None
            target = entry.id or entry.target_id
            assert target is not None
            entry.target_id = target
            resource = {**resource, "id": target}
            if entry.if_none_match is not None and entry.if_none_match.strip() == "*":
                current = await read_current(repository, type_, target, session)
                if current is not None and not current.deleted:
                    raise FhirError(412, "conflict", f"ifNoneMatch * : {type_}/{target} existe déjà.")
            version, created = await repository.update(
                type_, target, resource, if_match=entry.if_match, session=session
            )
            return Outcome(201 if created else 200, version)
        if entry.method == "PATCH":
            assert session is not None and entry.patch is not None
            target = entry.id
            if target is None:
                assert entry.criteria is not None
                target = (
                    await conditional.resolve_single(
                        repository, type_, entry.criteria, session, "PATCH conditionnel"
                    )
                ).id
            entry.target_id = target
            version = await patch_resource(
                repository, type_, target, entry.patch, session, if_match=entry.if_match
            )
            return Outcome(200, version)
        return await self._read(entry, session)

    async def _read(self, entry: Entry, session: AsyncClientSession | None) -> Outcome:
        type_ = entry.type or ""
        if entry.id is None:
            matches = await conditional.find(
                self.repository, type_, entry.criteria or [], session=session, limit=_SEARCH_LIMIT + 1
            )
            if len(matches) > _SEARCH_LIMIT:
                raise FhirError(
                    400,
                    "too-costly",
                    f"Recherche dans un Bundle : plus de {_SEARCH_LIMIT} résultats ; utilisez GET [type] "
                    "(recherche paginée) ou des critères plus précis.",
                    expression=[f"Bundle.entry[{entry.index}].request.url"],
                )
            bundle = {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(matches),
                "entry": [
                    {
                        "fullUrl": f"{self.base}/{m.type}/{m.id}",
                        "resource": orjson.Fragment(m.body or b"{}"),
                        "search": {"mode": "match"},
                    }
                    for m in matches
                ],
            }
            return Outcome(200, None, bundle)
        entry.target_id = entry.id
        if entry.vid is not None:
            version = await self.repository.vread(type_, entry.id, entry.vid)
        else:
            version = await read_current(self.repository, type_, entry.id, session)
        if version is None:
            raise FhirError(404, "not-found", f"{type_}/{entry.id} introuvable.")
        if version.deleted:
            raise FhirError(410, "deleted", f"{type_}/{entry.id} a été supprimé.")
        if entry.if_none_match is not None:
            tags = [t.strip() for t in entry.if_none_match.split(",")]
            if "*" in tags or any(parse_etag(t, "ifNoneMatch") == version.version for t in tags if t):
                return Outcome(304, version)
        return Outcome(200, version)

    # -- response ----------------------------------------------------------------------------

    def _response_entry(self, entry: Entry, result: Outcome) -> dict[str, Any]:
        response: dict[str, Any] = {"status": _status(result.status)}
        out: dict[str, Any] = {}
        version = result.version
        if version is not None:
            out["fullUrl"] = f"{self.base}/{version.type}/{version.id}"
            if entry.method != "GET":
                response["location"] = f"{version.type}/{version.id}/_history/{version.version}"
            response["etag"] = version.etag
            response["lastModified"] = fhir_instant(version.last_updated)
        if result.resource is not None:
            out["resource"] = result.resource
        elif version is not None and version.body is not None and result.status != 304:
            if entry.method in ("GET", "HEAD") or self.prefer == "representation":
                out["resource"] = orjson.Fragment(version.body)
            elif self.prefer == "OperationOutcome":
                response["outcome"] = operation_outcome(
                    [
                        issue(
                            "information",
                            "informational",
                            f"{version.type}/{version.id} : {response['status']}",
                        )
                    ]
                )
        out["response"] = response
        return out
