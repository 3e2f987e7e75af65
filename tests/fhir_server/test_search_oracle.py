"""Search correctness against a brute-force oracle over real Synthea data.

Twenty Synthea patients (their whole records) are written through the server's own
repository (same indexer, same documents as an HTTP write), then a server started on
that database answers a few hundred searches generated from the data: every parameter
type, modifier and prefix, chains and ``_has``. Each answer's ids must equal the ids
this module computes by itself, WITHOUT the search package: it evaluates the official
FHIRPath expression of the parameter with ``fhirpathpy`` over every resource, then
applies the R4 matching rules written out below (http://hl7.org/fhir/R4/search.html);
``:in``/``:not-in``/``:above``/``:below`` ask the terminology service resource by resource
($validate-code, $subsumes), where the server expands once and queries.

Two readings of the spec are the server's choices, and the oracle states them:
- a dateTime without a zone is UTC; a Period with no start/end is open on that side;
- a bare reference id (``subject=123``) matches that id in any of the parameter's target types.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from typing import Any

import httpx
import orjson
import pytest

from bench.harness import ServerProcess
from tests.conftest import SHARED, needs_shared

ARCHIVE = SHARED / "datasets" / "synthea-r4" / "bundles.tar.gz"
PATIENTS = 20
pytestmark = needs_shared("datasets", "synthea-r4", "bundles.tar.gz")

# ---------------------------------------------------------------------------------------------------
# The oracle: official expressions, fhirpathpy, and the spec's matching rules. No import from search.
# ---------------------------------------------------------------------------------------------------

_FHIRPATH_CACHE: dict[str, Any] = {}


@cache
def definitions() -> dict[str, dict[str, Any]]:
    from profiles import r4_bundle

    return {e["resource"]["url"]: e["resource"] for e in r4_bundle("search-parameters")["entry"]}


@cache
def param_def(type_: str, code: str) -> dict[str, Any] | None:
    for d in definitions().values():
        if d["code"] == code and (type_ in d.get("base", []) or "Resource" in d.get("base", [])):
            return d
    return None


def top_level_union(expression: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(expression):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "|" and depth == 0:
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return parts


def type_expression(type_: str, definition: dict[str, Any]) -> str:
    """The branches of the official expression that start from ``type_`` (or from Resource)."""
    keep = []
    for part in top_level_union(definition["expression"]):
        head = re.match(r"\(?([A-Za-z]+)", part)
        if head and head.group(1) == type_:
            keep.append(part)
        elif head and head.group(1) == "Resource":
            keep.append(part.replace("Resource", type_, 1))
    # fhirpathpy has no resolve(): a reference "is" a type when its relative URL starts with it.
    text = " | ".join(keep)
    return re.sub(r"where\(resolve\(\) is ([A-Za-z]+)\)", r"where(reference.startsWith('\1/'))", text)


def composite_roots(resource: dict[str, Any], expression: str) -> list[tuple[dict[str, Any], str]]:
    """The repetitions a composite's components are taken from, as paths from the resource.

    Components are evaluated from the resource (``Observation.component[2].value.ofType(Quantity)``)
    rather than from the bare element, so that fhirpathpy knows the element types of choices.
    """
    roots = []
    for branch in top_level_union(expression):
        if "." not in branch:
            roots.append((resource, branch))
        else:
            roots.extend((resource, f"{branch}[{i}]") for i in range(len(evaluate(resource, branch))))
    return roots


def component_values(root: tuple[dict[str, Any], str], expression: str) -> list[Any]:
    resource, path = root
    return evaluate(resource, " | ".join(f"{path}.{part}" for part in top_level_union(expression)))


def evaluate(resource: dict[str, Any], expression: str) -> list[Any]:
    import fhirpathpy
    from fhirpathpy.models import models

    fn = _FHIRPATH_CACHE.get(expression)
    if fn is None:
        fn = _FHIRPATH_CACHE[expression] = fhirpathpy.compile(expression, models["r4"])
    return [v for v in fn(resource) if v is not None]


def fold(text: str) -> str:
    """Case- and accent-insensitive form (R4: string search "is case and accent-insensitive")."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).casefold()


def strings_of(value: Any) -> list[str]:
    """R4 string search on HumanName/Address matches any of their text parts."""
    if isinstance(value, str):
        return [value]
    out: list[str] = []
    if isinstance(value, dict):
        for key in (
            "text",
            "family",
            "given",
            "prefix",
            "suffix",
            "line",
            "city",
            "district",
            "state",
            "postalCode",
            "country",
        ):
            item = value.get(key)
            out.extend([item] if isinstance(item, str) else [i for i in item or [] if isinstance(i, str)])
    return out


def codings_of(value: Any) -> list[tuple[str | None, str, list[str]]]:
    """(system, code, texts) of a token value: code, Coding, CodeableConcept, Identifier, ContactPoint."""
    if isinstance(value, bool):
        return [(None, "true" if value else "false", [])]
    if isinstance(value, str):
        return [(None, value, [])]
    if not isinstance(value, dict):
        return []
    if "coding" in value or set(value) == {"text"}:
        texts = [value["text"]] if "text" in value else []
        out = [
            (c.get("system"), c["code"], [*texts, *([c["display"]] if "display" in c else [])])
            for c in value.get("coding", [])
            if "code" in c
        ]
        return out or [(None, "\0no-code", texts)]
    if "value" in value and "code" not in value:
        if value.get("system") in ("phone", "fax", "email", "pager", "url", "sms", "other"):
            return [(None, value["value"], [])]  # ContactPoint: its value alone
        type_text = (value.get("type") or {}).get("text")
        return [(value.get("system"), value["value"], [type_text] if type_text else [])]
    if "code" in value:
        return [(value.get("system"), value["code"], [value["display"]] if "display" in value else [])]
    return []


def token_matches(value: Any, query: str) -> bool:
    for system, code, _ in codings_of(value):
        if "|" not in query:
            if code == query:
                return True
            continue
        qs, qc = query.split("|", 1)
        if qc == "" and system == qs:
            return True
        if qc and qc == code and (system == qs if qs else system is None):
            return True
    return False


# Terminology modifiers: decided by the terminology service's own answers ($subsumes and
# $validate-code against the value set), not by the expansion the server turns into a query.
VALUESETS = (
    "http://hl7.org/fhir/ValueSet/condition-clinical",
    "http://hl7.org/fhir/ValueSet/condition-ver-status",
    "http://hl7.org/fhir/ValueSet/observation-category",
    "http://terminology.hl7.org/ValueSet/v3-ActEncounterCode",
    "http://hl7.org/fhir/ValueSet/administrative-gender",
    "http://hl7.org/fhir/ValueSet/allergy-intolerance-category",
)


def subsumed_by(system: str | None, ancestor: str, code: str, ancestor_system: str | None) -> bool:
    """Whether ``ancestor`` (in ``ancestor_system``) equals or subsumes ``system|code``.

    A code without a system (a ``code`` element) is taken in the system it is compared with."""
    from terminology import TerminologyError, subsumes

    system, ancestor_system = system or ancestor_system, ancestor_system or system
    if system is None or system != ancestor_system:
        return False
    try:
        return subsumes(ancestor, code, ancestor_system) in ("equivalent", "subsumes")
    except TerminologyError:
        return False


def in_valueset(url: str, system: str | None, code: str) -> bool:
    """Membership by $validate-code; a code without a system (a ``code`` element): by its code."""
    from terminology import expand, validate_code

    if system:
        return validate_code(code, system, valueset=url).result
    return any(c["code"] == code for c in expand(url)["expansion"]["contains"])


def hierarchical(system: str | None, code: str) -> bool:
    """Whether the terminology knows ``code`` in a code system whose hierarchy it knows."""
    from terminology import get_service

    entry = get_service().system_entry(system) if system else None
    return (
        entry is not None
        and entry.get(code) is not None
        and (entry.hierarchical or entry.content == "complete")
    )


def date_span(text: str) -> tuple[datetime, datetime]:
    """The interval a FHIR date/dateTime/instant stands for, from its precision."""
    m = re.fullmatch(
        r"(\d{4})(?:-(\d\d)(?:-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d)(\.\d+)?)?(Z|[+-]\d\d:\d\d)?)?)?)?", text
    )
    assert m, text
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    if mo is None:
        return datetime(int(y), 1, 1, tzinfo=UTC), datetime(int(y) + 1, 1, 1, tzinfo=UTC)
    if d is None:
        start = datetime(int(y), int(mo), 1, tzinfo=UTC)
        return start, (start + timedelta(days=32)).replace(day=1)
    if hh is None:
        start = datetime(int(y), int(mo), int(d), tzinfo=UTC)
        return start, start + timedelta(days=1)
    zone = UTC
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        zone = timezone(sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    start = datetime(int(y), int(mo), int(d), int(hh), int(mi), int(ss or 0), tzinfo=zone)
    if frac:
        start = start.replace(microsecond=int((frac[1:] + "000000")[:6]) // 1000 * 1000)
        step = timedelta(milliseconds=1)
    else:
        step = timedelta(seconds=1) if ss else timedelta(minutes=1)
    return start.astimezone(UTC), (start + step).astimezone(UTC)


OPEN_LOW = datetime(1, 1, 1, tzinfo=UTC)
OPEN_HIGH = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)


def spans_of(value: Any) -> list[tuple[datetime, datetime]]:
    if isinstance(value, str):
        return [date_span(value)]
    if isinstance(value, dict) and ("start" in value or "end" in value):
        lo = date_span(value["start"])[0] if "start" in value else OPEN_LOW
        hi = date_span(value["end"])[1] if "end" in value else OPEN_HIGH
        return [(lo, hi)]
    if isinstance(value, dict) and "event" in value:
        return [date_span(e) for e in value["event"]]
    return []


def date_matches(span: tuple[datetime, datetime], prefix: str, query: tuple[datetime, datetime]) -> bool:
    """R4 table 3.1.1.4.4.2 over ranges: target [lo, hi), search value [qlo, qhi)."""
    lo, hi = span
    qlo, qhi = query
    contained = lo >= qlo and hi <= qhi
    return {
        "eq": contained,
        "ne": not contained,
        "gt": hi > qhi,  # the range above the search value overlaps the target
        "lt": lo < qlo,  # the range below the search value overlaps the target
        "ge": hi > qhi or contained,
        "le": lo < qlo or contained,
        "sa": lo >= qhi,
        "eb": hi <= qlo,
        "ap": lo < qhi and hi > qlo,
    }[prefix]


def number_matches(x: Decimal, prefix: str, text: str) -> bool:
    """R4 number rules; ``eq``/``ne`` use the implicit range of the value's precision."""
    v = Decimal(text)
    half = Decimal(5).scaleb(v.as_tuple().exponent - 1)  # type: ignore[operator]
    in_range = v - half <= x < v + half or x == v
    return {
        "eq": in_range,
        "ne": not in_range,
        "gt": x > v,
        "sa": x > v,
        "lt": x < v,
        "eb": x < v,
        "ge": x >= v,
        "le": x <= v,
        "ap": abs(x - v) <= abs(v) * Decimal("0.1"),
    }[prefix]


def split_prefix(raw: str) -> tuple[str, str]:
    if raw[:2] in ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap") and raw[2:3].isdigit():
        return raw[:2], raw[2:]
    return "eq", raw


def reference_of(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return re.sub(r"/_history/.*$", "", value["reference"])
    if isinstance(value, str):
        return value.split("|")[0]
    return None


class Oracle:
    """Brute force: every resource, every value, the spec's rule."""

    def __init__(self, resources: dict[str, list[dict[str, Any]]]) -> None:
        self.resources = resources
        self._values: dict[tuple[str, str], dict[str, list[Any]]] = {}

    def values(self, type_: str, code: str) -> dict[str, list[Any]]:
        """Each resource's values of a parameter; for a composite, (resource, path of one root) pairs."""
        key = (type_, code)
        if key not in self._values:
            definition = param_def(type_, code)
            assert definition is not None, key
            expression = type_expression(type_, definition)
            if definition["type"] == "composite":
                self._values[key] = {
                    r["id"]: composite_roots(r, expression) for r in self.resources.get(type_, [])
                }
            else:
                self._values[key] = {r["id"]: evaluate(r, expression) for r in self.resources.get(type_, [])}
        return self._values[key]

    def search(self, type_: str, params: list[tuple[str, str]]) -> set[str]:
        ids = {r["id"] for r in self.resources.get(type_, [])}
        for name, value in params:
            ids &= self.one(type_, name, value)
        return ids

    def one(self, type_: str, name: str, value: str) -> set[str]:
        everyone = {r["id"] for r in self.resources.get(type_, [])}
        if name.startswith("_has:"):
            _, other, ref_code, rest = name.split(":", 3)
            sources = self.search(other, [(rest, value)])
            refs = self.values(other, ref_code)
            return {
                ref.split("/", 1)[1]
                for s in sources
                for v in refs[s]
                if (ref := reference_of(v)) and ref.startswith(type_ + "/")
            }
        head, _, chain = name.partition(".")
        code, _, modifier = head.partition(":")
        if code == "_id":
            return everyone & set(value.split(","))
        definition = param_def(type_, code)
        assert definition is not None
        kind = definition["type"]
        values = self.values(type_, code)
        if chain:
            inner = chain.split(".")[0].split(":")[0]
            targets = [modifier] if modifier else definition.get("target", [])
            targets = [t for t in targets if t in self.resources and (inner == "_has" or param_def(t, inner))]
            refs = {f"{t}/{i}" for t in targets for i in self.search(t, [(chain, value)])}
            return {rid for rid, vals in values.items() if any(reference_of(v) in refs for v in vals)}
        if modifier == "missing":
            return {rid for rid, vals in values.items() if bool(vals) == (value == "false")}
        ors = value.split(",")
        if modifier in ("in", "not-in"):
            inside = {
                rid
                for rid, vals in values.items()
                if any(
                    in_valueset(q, system, code)
                    for v in vals
                    for system, code, _ in codings_of(v)
                    for q in ors
                )
            }
            return inside if modifier == "in" else everyone - inside
        if modifier == "not":
            return {
                rid for rid, vals in values.items() if not any(token_matches(v, q) for v in vals for q in ors)
            }
        return {
            rid
            for rid, vals in values.items()
            if any(self.match(kind, definition, modifier, v, q) for v in vals for q in ors)
        }

    def match(self, kind: str, definition: dict[str, Any], modifier: str, value: Any, query: str) -> bool:
        if kind == "string":
            texts = strings_of(value)
            if modifier == "exact":
                return query in texts
            if modifier == "contains":
                return any(fold(query) in fold(t) for t in texts)
            return any(fold(t).startswith(fold(query)) for t in texts)
        if kind == "token":
            if modifier == "text":
                return any(
                    fold(t).startswith(fold(query)) for _, _, texts in codings_of(value) for t in texts
                )
            if modifier == "of-type":
                type_system, type_code, ident = query.split("|")
                codings = (value.get("type") or {}).get("coding", []) if isinstance(value, dict) else []
                return value.get("value") == ident and any(
                    c.get("system") == type_system and c.get("code") == type_code for c in codings
                )
            if modifier in ("below", "above"):
                qs, qc = query.split("|", 1)
                return any(
                    subsumed_by(system, qc, code, qs)
                    if modifier == "below"
                    else subsumed_by(qs, code, qc, system)
                    for system, code, _ in codings_of(value)
                )
            return token_matches(value, query)
        if kind == "reference":
            ref = reference_of(value)
            if ref is None:
                return False
            if modifier:  # :[type]
                return ref == f"{modifier}/{query}"
            if "/" in query:
                return ref == query
            return (
                ref.count("/") == 1
                and ref.split("/")[1] == query
                and ref.split("/")[0] in definition["target"]
            )
        if kind == "date":
            prefix, text = split_prefix(query)
            return any(date_matches(s, prefix, date_span(text)) for s in spans_of(value))
        if kind == "number":
            prefix, text = split_prefix(query)
            return isinstance(value, Decimal | int | float) and number_matches(
                Decimal(str(value)), prefix, text
            )
        if kind == "quantity":
            number, _, units = query.partition("|")
            prefix, text = split_prefix(number)
            if not isinstance(value, dict) or "value" not in value:
                return False
            if units:
                system, code = units.split("|")
                if system and value.get("system") != system:
                    return False
                if code and code not in (value.get("code"), value.get("unit")):
                    return False
            return number_matches(Decimal(str(value["value"])), prefix, text)
        if kind == "uri":
            if modifier == "below":
                return isinstance(value, str) and value.startswith(query)
            if modifier == "above":
                return isinstance(value, str) and query.startswith(value)
            return value == query
        if kind == "composite":
            return self.composite(definition, value, query)
        raise AssertionError(kind)

    def composite(self, definition: dict[str, Any], root: Any, query: str) -> bool:
        """Every component matches within the same repetition of the root (R4 3.1.1.5.9)."""
        defs = definitions()
        for component, part in zip(definition["component"], query.split("$"), strict=True):
            comp_def = defs[component["definition"]]
            vals = component_values(root, component["expression"])
            if not any(self.match(comp_def["type"], comp_def, "", v, part) for v in vals):
                return False
        return True


# ---------------------------------------------------------------------------------------------------
# Data and server
# ---------------------------------------------------------------------------------------------------

# Besides Synthea (which has no uri values and only ASCII names): canonical URLs and accents.
EXTRA: list[tuple[str, str, dict[str, Any]]] = [
    (
        "Questionnaire",
        f"q{i}",
        {"resourceType": "Questionnaire", "status": "active", "url": url, "name": name},
    )
    for i, (url, name) in enumerate(
        [
            ("http://example.org/fhir/Questionnaire/phq-9", "PHQ9"),
            ("http://example.org/fhir/Questionnaire/phq-9/v2", "PHQ9v2"),
            ("http://example.org/fhir/Questionnaire/gad-7", "GAD7"),
            ("https://questionnaires.example.fr/covid", "Covid"),
        ]
    )
] + [
    (
        "Patient",
        "helene",
        {
            "resourceType": "Patient",
            "gender": "female",
            "birthDate": "1984-03",
            "name": [{"family": "Dupont-Étienne", "given": ["Hélène", "Zoé"]}],
        },
    ),
]

# ---------------------------------------------------------------------------------------------------
# Data and server (the world the searches run over)
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, dict[str, list[dict]]]]:
    from pymongo import AsyncMongoClient, MongoClient

    from fhir_server import EmbeddedMongo
    from fhir_server.search import ensure_search_indexes, index_resource
    from fhir_server.search.synthea import load, smallest_bundles
    from fhir_server.storage import MongoRepository

    tmp = tmp_path_factory.mktemp("oracle")
    embedded = None
    uri = os.environ.get("MONGODB_URI")
    if not uri:
        embedded = EmbeddedMongo(tmp / "db")
        embedded.start()
        uri = embedded.uri
    database = f"oracle_{uuid.uuid4().hex[:10]}"

    async def fill() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        repository = MongoRepository(client, database, indexer=index_resource)
        await repository.ensure_indexes()
        bundles = smallest_bundles(ARCHIVE, PATIENTS)
        types = {e["resource"]["resourceType"] for b in bundles for e in b["entry"]}
        await ensure_search_indexes(repository, sorted(types))  # as a running server would have them
        await load(repository, bundles)
        for type_, id_, resource in EXTRA:
            await repository.update(type_, id_, resource)
        await client.close()

    asyncio.run(fill())
    resources: dict[str, list[dict]] = {}
    with MongoClient(uri) as sync:
        db = sync[database]
        for name in db.list_collection_names():
            if name != "history":
                resources[name] = [orjson.loads(d["j"]) for d in db[name].find({"d": False}, {"j": 1})]
    server = ServerProcess(tmp / "server", mongodb_uri=uri, env={"PASSERELLE_DB": database}).start()
    try:
        yield server, resources
    finally:
        server.stop()
        if embedded is not None:
            embedded.stop()


def search_ids(client: httpx.Client, type_: str, params: list[tuple[str, str]]) -> set[str]:
    """All ids of a search, following ``next`` links."""
    ids: set[str] = set()
    r = client.get(f"/{type_}", params=[*params, ("_count", "500"), ("_elements", "id")])
    while True:
        assert r.status_code == 200, (type_, params, r.text)
        bundle = r.json()
        for entry in bundle.get("entry", []):
            assert entry["search"]["mode"] == "match"
            assert entry["resource"]["id"] not in ids, "a resource appeared on two pages"
            ids.add(entry["resource"]["id"])
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not nxt:
            return ids
        r = client.get(nxt[0])


# ---------------------------------------------------------------------------------------------------
# Query generation from the data
# ---------------------------------------------------------------------------------------------------

PREFIXES = ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]


def generate(oracle: Oracle, rng: random.Random) -> list[tuple[str, list[tuple[str, str]]]]:
    queries: list[tuple[str, list[tuple[str, str]]]] = []
    for type_ in sorted(oracle.resources):
        if type_ in ("Provenance",):
            continue
        codes = sorted(
            {
                d["code"]
                for d in definitions().values()
                if (type_ in d.get("base", []) or "Resource" in d.get("base", []))
                and "expression" in d
                and d["code"] not in ("_text", "_content", "_query", "_id")
            }
        )
        for code in codes:
            definition = param_def(type_, code)
            assert definition is not None
            if not type_expression(type_, definition):
                continue
            values = oracle.values(type_, code)
            present = [(rid, v) for rid, vals in values.items() for v in vals]
            if not present:
                continue
            kind = definition["type"]
            _, value = rng.choice(present)
            made = make_queries(kind, code, definition, value, rng, oracle)
            # a few per parameter, more for the types users search most
            keep = 6 if type_ in ("Patient", "Observation", "Encounter", "Condition") else 2
            queries.extend((type_, params) for params in rng.sample(made, min(keep, len(made))))
            if kind in ("token", "reference", "date", "string") and rng.random() < 0.3:
                queries.append((type_, [(f"{code}:missing", rng.choice(["true", "false"]))]))
    return queries


def make_queries(
    kind: str, code: str, definition: dict[str, Any], value: Any, rng: random.Random, oracle: Oracle
) -> list[list[tuple[str, str]]]:
    out = _make_queries(kind, code, definition, value, rng, oracle)

    # FHIR escapes , | $ and \ in values; the generated values simply avoid them
    def plain(v: str) -> bool:
        return "," not in v and "\\" not in v and ("$" not in v or kind == "composite")

    return [q for q in out if all(plain(v) for _, v in q)]


def _make_queries(
    kind: str, code: str, definition: dict[str, Any], value: Any, rng: random.Random, oracle: Oracle
) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    if kind == "string":
        for text in strings_of(value)[:2]:
            cut = text[: max(1, len(text) // 2)]
            out.append([(code, rng.choice([cut, cut.upper(), fold(cut)]))])
            out.append([(f"{code}:exact", text)])
            if len(text) >= 4:
                out.append([(f"{code}:contains", text[1:-1].lower())])
    elif kind == "token":
        for system, token, texts in codings_of(value)[:2]:
            if token == "\0no-code" or "," in token or "|" in token or "\\" in token:
                continue
            out.append([(code, token)])
            out.append([(code, f"{system or ''}|{token}")])
            if system:
                out.append([(code, f"{system}|")])
            out.append([(f"{code}:not", f"{system or ''}|{token}")])
            if hierarchical(system, token):
                out.append([(f"{code}:below", f"{system}|{token}")])
                out.append([(f"{code}:above", f"{system}|{token}")])
            for url in VALUESETS:
                if in_valueset(url, system, token):
                    out.append([(f"{code}:in", url)])
                    out.append([(f"{code}:not-in", url)])
            for text in texts[:1]:
                out.append([(f"{code}:text", text.split(" ")[0])])
        if isinstance(value, dict) and "type" in value and isinstance(value.get("value"), str):
            for coding in value["type"].get("coding", [])[:1]:
                out.append([(f"{code}:of-type", f"{coding['system']}|{coding['code']}|{value['value']}")])
    elif kind == "reference":
        ref = reference_of(value)
        if ref and ref.count("/") == 1 and not ref.startswith("http"):
            target, id_ = ref.split("/")
            out.append([(code, ref)])
            out.append([(f"{code}:{target}", id_)])
            if definition.get("target"):
                out.append([(code, id_)])
            # chain on a parameter of the target, with a value from the target resource itself
            chain_on = {
                "Patient": ("name", "birthdate"),
                "Practitioner": ("name", "family"),
                "Encounter": ("class", "date"),
                "Organization": ("name", "address-city"),
            }.get(target, ())
            for inner in chain_on:
                inner_values = oracle.values(target, inner).get(id_, [])
                if inner_values:
                    inner_def = param_def(target, inner)
                    assert inner_def is not None
                    for params in make_queries(
                        inner_def["type"], inner, inner_def, inner_values[0], rng, oracle
                    )[:1]:
                        ((name, val),) = params
                        out.append([(f"{code}:{target}.{name}", val)])
                        out.append([(f"{code}.{name}", val)])
    elif kind == "date":
        for lo, hi in spans_of(value)[:1]:
            start = lo if lo != OPEN_LOW else hi - timedelta(days=1)
            forms = [
                start.strftime("%Y"),
                start.strftime("%Y-%m"),
                start.strftime("%Y-%m-%d"),
                start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            ]
            for form in rng.sample(forms, 3):
                out.append([(code, rng.choice(PREFIXES) + form)])
    elif kind == "number" and isinstance(value, Decimal | int | float):
        text = format(Decimal(str(value)).quantize(Decimal("0.1")), "f")
        out.append([(code, rng.choice(PREFIXES) + text)])
    elif kind == "quantity" and isinstance(value, dict) and "value" in value:
        text = format(Decimal(str(value["value"])).quantize(Decimal("0.1")), "f")
        out.append([(code, rng.choice(PREFIXES) + text)])
        out.append(
            [(code, f"{rng.choice(PREFIXES)}{text}|{value.get('system', '')}|{value.get('code', '')}")]
        )
        if "unit" in value:
            out.append([(code, f"{text}||{value['unit']}")])
    elif kind == "uri" and isinstance(value, str):
        out.append([(code, value)])
        if "/" in value:
            out.append([(f"{code}:below", value.rsplit("/", 1)[0])])
            out.append([(f"{code}:above", value + "/sub")])
    elif kind == "composite":
        defs = definitions()
        parts = []
        for component in definition["component"]:
            comp_def = defs[component["definition"]]
            comp_values = component_values(value, component["expression"])
            if not comp_values:
                return out
            sub = make_queries(comp_def["type"], "x", comp_def, comp_values[0], rng, oracle)
            plain = [p for p in sub if p[0][0] == "x" and "$" not in p[0][1] and "," not in p[0][1]]
            if not plain:
                return out
            parts.append(rng.choice(plain)[0][1])
        out.append([(code, "$".join(parts))])
    return out


# ---------------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------------


def test_generated_searches_equal_the_oracle(world: tuple[ServerProcess, dict[str, list[dict]]]) -> None:
    server, resources = world
    oracle = Oracle(resources)
    rng = random.Random(20260401)
    queries = generate(oracle, rng)
    # a few combined searches: several parameters ANDed, ORed values, _has, deeper chains
    patients = resources["Patient"]
    codes = sorted({c["code"] for o in resources["Observation"] for c in o["code"]["coding"]})
    conditions = sorted({c["code"] for o in resources["Condition"] for c in o["code"]["coding"]})
    for code in rng.sample(codes, 8):
        queries.append(("Patient", [("_has:Observation:patient:code", code)]))
        queries.append(
            (
                "Observation",
                [
                    ("code", f"http://loinc.org|{code}"),
                    ("date", "ge2015"),
                    ("subject", f"Patient/{rng.choice(patients)['id']}"),
                ],
            )
        )
    for code in rng.sample(conditions, 4):
        queries.append(("Patient", [("_has:Condition:subject:code", code), ("gender", "female,male")]))
        queries.append(("Observation", [("encounter.subject:Patient._has:Condition:subject:code", code)]))
    queries.append(("Observation", [("subject.gender", "female"), ("code", ",".join(codes[:5]))]))
    queries.append(("Encounter", [("subject.name", patients[0]["name"][0]["family"][:3])]))
    queries.append(("Observation", [("encounter.subject:Patient.birthdate", "lt1970")]))
    # ranges on one parameter (the builder merges their bounds into one index range)
    for year in (1950, 1970, 1990):
        queries.append(("Patient", [("birthdate", f"ge{year}"), ("birthdate", f"lt{year + 10}")]))
        queries.append(("Patient", [("birthdate", f"gt{year}"), ("birthdate", f"le{year + 10}-06")]))
    queries.append(("Encounter", [("date", "ge2010"), ("date", "le2015-06"), ("date", "ne2012")]))
    queries.append(("Observation", [("date", "sa2012"), ("date", "eb2016"), ("code", codes[0])]))
    queries.append(("Condition", [("onset-date", "ap2015"), ("onset-date", "ge2014")]))
    for name in ("helene", "HELENE", "zoe", "dupont-etienne", "étienne"):
        queries.append(("Patient", [("name", name)]))
    queries.append(("Patient", [("name:contains", "etien")]))
    queries.append(("Patient", [("name:exact", "Hélène")]))
    queries.append(("Patient", [("name:exact", "helene")]))
    # terminology modifiers over whole hierarchies and value sets
    act = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    clinical = "http://terminology.hl7.org/CodeSystem/condition-clinical"
    queries.append(("Encounter", [("class:below", f"{act}|_ActEncounterCode")]))
    queries.append(("Encounter", [("class:below", f"{act}|IMP")]))
    queries.append(("Encounter", [("class:above", f"{act}|ACUTE")]))
    queries.append(("Condition", [("clinical-status:below", f"{clinical}|active")]))
    queries.append(("Condition", [("clinical-status:below", f"{clinical}|inactive")]))
    queries.append(("Condition", [("clinical-status:above", f"{clinical}|recurrence")]))
    queries.append(("Encounter", [("class:in", "http://terminology.hl7.org/ValueSet/v3-ActEncounterCode")]))
    queries.append(
        ("Condition", [("clinical-status:not-in", "http://hl7.org/fhir/ValueSet/condition-clinical")])
    )
    queries.append(
        (
            "Condition",
            [
                ("clinical-status:in", "http://hl7.org/fhir/ValueSet/condition-clinical"),
                ("code", conditions[0]),
            ],
        )
    )

    assert len(queries) >= 300, len(queries)
    import time

    started = time.perf_counter()
    oracle_s = http_s = 0.0
    mismatches = []
    kinds: set[str] = set()
    with httpx.Client(
        base_url=server.base, timeout=60, headers={"Accept": "application/fhir+json"}
    ) as client:
        for type_, params in queries:
            t0 = time.perf_counter()
            expected = oracle.search(type_, params)
            t1 = time.perf_counter()
            got = search_ids(client, type_, params)
            oracle_s += t1 - t0
            http_s += time.perf_counter() - t1
            for name, value in params:
                kinds.add(name.split(".")[0].split(":", 1)[-1] if ":" in name else "plain")
                prefix = value[:2]
                if prefix in PREFIXES:
                    kinds.add(prefix)
            if got != expected:
                mismatches.append(
                    (
                        type_,
                        params,
                        len(expected),
                        len(got),
                        sorted(expected - got)[:3],
                        sorted(got - expected)[:3],
                    )
                )
    print(
        f"\n{len(queries)} searches, {len(mismatches)} mismatches, {time.perf_counter() - started:.1f} s"
        f" (oracle {oracle_s:.1f} s, server {http_s:.1f} s)"
    )
    assert not mismatches, mismatches[:10]
    # the generated set covers every prefix and the modifiers the data allows
    assert set(PREFIXES) <= kinds
    assert {"exact", "contains", "text", "not", "missing", "below", "above", "in", "not-in"} <= kinds
