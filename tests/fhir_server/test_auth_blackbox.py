"""Access control through search, black-box: each role plays the same queries against one dataset.

The dataset is written once through the API (a backend client with ``system/*.cruds``)
and every resource carries a tag unique to this module, so searches see it alone on the
shared auth server. It has two patients with accounts (Alice, with a dependent Léo;
Bob), a third patient without one (Carol), their Encounters and Observations, a
Practitioner, an Organization, a Group holding Alice and Bob, and a List per record,
plus references that cross records (Alice's observation has Bob's as a member and the
other way round) so that includes, chains and ``_has`` have something to leak.

For each role the test knows which dataset resources it may see (:data:`VISIBLE`) and
derives what every search must answer from a small model of the references; any
resource outside the role's view appearing in a Bundle (match or include) fails.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from bench.harness import ServerProcess
from tests.fhir_server import auth_support
from tests.fhir_server.auth_support import (
    DR_MARTIN,
    FHIR_JSON,
    Mailbox,
    backend_client_token,
    bearer,
    exchange,
    patient_signup,
    patient_token,
    pkce,
    professional_login,
    professional_token,
    redirect_query,
    register_client,
    root,
    shared_server,
)

RUN = uuid.uuid4().hex[:10]
TAG = f"urn:passerelle:test:blackbox|{RUN}"
CODE = f"urn:passerelle:test:code|{RUN}"
PATIENT_SCOPE = "openid fhirUser launch/patient patient/*.rs"
LAUNCH_SCOPE = "launch openid fhirUser patient/*.rs"
LIMITED_SCOPE = "system/Patient.rs system/Observation.rs"

# -- the dataset model: type and references (search parameter -> dataset keys) of each resource --------

TYPES = {
    "org": "Organization",
    "prac": "Practitioner",
    "alice": "Patient",
    "leo": "Patient",
    "bob": "Patient",
    "carol": "Patient",
    "encA": "Encounter",
    "encB": "Encounter",
    "obsA1": "Observation",
    "obsA2": "Observation",
    "obsA3": "Observation",
    "obsL": "Observation",
    "obsB1": "Observation",
    "obsB2": "Observation",
    "obsC": "Observation",
    "grp": "Group",
    "listA": "List",
    "listB": "List",
}
REFS: dict[str, dict[str, list[str]]] = {
    "encA": {"subject": ["alice"], "service-provider": ["org"], "participant": ["prac"]},
    "encB": {"subject": ["bob"], "service-provider": ["org"], "participant": ["prac"]},
    "obsA1": {"subject": ["alice"], "encounter": ["encA"], "performer": ["prac"], "has-member": ["obsB2"]},
    "obsA2": {"subject": ["alice"], "encounter": ["encA"], "performer": ["org"]},
    # in Alice's compartment twice over (subject and performer): counted and listed once
    "obsA3": {"subject": ["alice"], "performer": ["alice"]},
    "obsL": {"subject": ["leo"]},
    "obsB1": {"subject": ["bob"], "encounter": ["encB"], "performer": ["prac"], "has-member": ["obsA1"]},
    "obsB2": {"subject": ["bob"], "performer": ["prac"]},
    "obsC": {"subject": ["carol"], "performer": ["prac"]},
    "grp": {"member": ["alice", "bob"]},
    "listA": {"subject": ["alice"], "item": ["obsA1", "obsB1"]},
    "listB": {"subject": ["bob"], "item": ["obsA1", "obsB1"]},
}
FAMILY = {
    "alice": f"Alicefam{RUN}",
    "leo": f"Alicefam{RUN}",
    "bob": f"Bobfam{RUN}",
    "carol": f"Carolfam{RUN}",
}

REFERENCE_DATA = {"org", "prac"}
ALL = set(TYPES)
VISIBLE: dict[str, set[str]] = {
    "system": ALL,
    "alice": {"alice", "leo", "encA", "obsA1", "obsA2", "obsA3", "obsL", "grp", "listA"} | REFERENCE_DATA,
    "bob": {"bob", "encB", "obsB1", "obsB2", "grp", "listB"} | REFERENCE_DATA,
    "pro_bob": {"bob", "encB", "obsB1", "obsB2", "grp", "listB"} | REFERENCE_DATA,
    "limited": {k for k, t in TYPES.items() if t in ("Patient", "Observation")},
}
SEARCHABLE: dict[str, set[str] | None] = {  # None: every type
    "system": None,
    "alice": None,
    "bob": None,
    "pro_bob": None,
    "limited": {"Patient", "Observation"},
}
ROLES = list(VISIBLE)

server, http = auth_support.server, auth_support.http  # the shared fixtures


def of_type(type_: str, keys: set[str]) -> set[str]:
    return {k for k in keys if TYPES[k] == type_}


def forward(keys: set[str], param: str, source: str | None = None) -> set[str]:
    return {t for k in keys if source in (None, TYPES[k]) for t in REFS.get(k, {}).get(param, [])}


def reverse(keys: set[str], source: str, param: str) -> set[str]:
    return {s for s in of_type(source, ALL) if set(REFS.get(s, {}).get(param, [])) & keys}


@dataclass
class World:
    server: ServerProcess
    ids: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)

    def ref(self, key: str) -> str:
        return f"{TYPES[key]}/{self.ids[key]}"

    def key_of(self, type_: str, id_: str) -> str | None:
        for key, value in self.ids.items():
            if TYPES[key] == type_ and value == id_:
                return key
        return None


@dataclass
class Page:
    status: int
    body: dict[str, Any]
    matches: set[str]
    included: set[str]
    foreign: list[str]  # resources outside the dataset (must be none: every query is tagged)
    entries: int = 0  # resource entries (a resource twice in a Bundle is a bug)


# -- fixtures ----------------------------------------------------------------------------------------


def _tagged(resource: dict[str, Any]) -> dict[str, Any]:
    system, code = TAG.split("|")
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*(meta.get("tag") or []), {"system": system, "code": code}]
    return {**resource, "meta": meta}


def _resource(world: World, key: str) -> dict[str, Any]:
    type_ = TYPES[key]
    refs = REFS.get(key, {})
    one = {p: {"reference": world.ref(v[0])} for p, v in refs.items()}
    code_system, code = CODE.split("|")
    if type_ == "Organization":
        return {"resourceType": type_, "name": f"Clinique {RUN}"}
    if type_ == "Practitioner":
        return {"resourceType": type_, "name": [{"family": f"Soignant{RUN}"}]}
    if type_ == "Patient":
        return {"resourceType": type_, "name": [{"family": FAMILY[key], "given": [key]}]}
    if type_ == "Encounter":
        return {
            "resourceType": type_,
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": one["subject"],
            "serviceProvider": one["service-provider"],
            "participant": [{"individual": one["participant"]}],
        }
    if type_ == "Observation":
        body: dict[str, Any] = {
            "resourceType": type_,
            "status": "final",
            "code": {"coding": [{"system": code_system, "code": code}]},
            "subject": one["subject"],
        }
        if "encounter" in one:
            body["encounter"] = one["encounter"]
        if "performer" in one:
            body["performer"] = [one["performer"]]
        if "has-member" in refs:
            body["hasMember"] = [{"reference": world.ref(k)} for k in refs["has-member"]]
        return body
    if type_ == "Group":
        return {
            "resourceType": type_,
            "type": "person",
            "actual": True,
            "member": [{"entity": {"reference": world.ref(k)}} for k in refs["member"]],
        }
    assert type_ == "List"
    return {
        "resourceType": type_,
        "status": "current",
        "mode": "working",
        "subject": one["subject"],
        "entry": [{"item": {"reference": world.ref(k)}} for k in refs["item"]],
    }


@pytest.fixture(scope="module")
def world(http: httpx.Client, server: ServerProcess) -> World:
    mailbox: Mailbox = shared_server()[1].mailbox
    w = World(server)
    admin = backend_client_token(http, server, "system/*.cruds", name="backend admin")
    write = {**bearer(admin), "Content-Type": FHIR_JSON}
    w.tokens["system"] = backend_client_token(http, server, "system/*.rs", name="backend system/*.rs")
    w.tokens["limited"] = backend_client_token(http, server, LIMITED_SCOPE, name="backend limité")

    # Patients with accounts: signed up, then tagged (and named) through the API.
    app = register_client(server, "public", PATIENT_SCOPE, name="Espace patient (recherche)")
    phones = {"alice": f"+3361{secrets.randbelow(10**7):07d}", "bob": f"+3362{secrets.randbelow(10**7):07d}"}
    emails = {k: f"{k}-{RUN}@example.fr" for k in phones}
    for key in ("alice", "bob"):
        w.ids[key] = patient_signup(
            http, server, mailbox, emails[key], phones[key], given=key, family=FAMILY[key]
        )
    dependent = http.post(
        f"{root(server)}/auth/patients/dependents",
        headers=bearer(patient_token(http, server, app, PATIENT_SCOPE, emails["alice"], phones["alice"])),
        json={"given": "leo", "family": FAMILY["leo"], "birthDate": "2015-03-02", "relationship": "PRN"},
    )
    assert dependent.status_code == 201, dependent.text
    w.ids["leo"] = dependent.json()["patient"].split("/")[1]
    # Dr Martin (who launches an app on Bob's record below) is Bob's GP: a care relationship.
    ehr = register_client(server, "confidential", "openid fhirUser user/*.rs", name="Logiciel (lanceur)")
    launcher = professional_token(http, server, ehr, "openid fhirUser user/*.rs")
    for key in ("alice", "bob", "leo"):
        current = http.get(f"{server.base}/Patient/{w.ids[key]}", headers=bearer(admin)).json()
        if key == "bob":
            current["generalPractitioner"] = [{"reference": launcher["fhirUser"]}]
        done = http.put(f"{server.base}/Patient/{w.ids[key]}", json=_tagged(current), headers=write)
        assert done.status_code == 200, done.text

    # Everything else, each after what it references (Alice's obsA1 has Bob's obsB2 as a member,
    # Bob's obsB1 has obsA1).
    order = ["org", "prac", "carol", "encA", "encB", "obsB2", "obsA1", "obsA2", "obsA3", "obsL", "obsB1",
             "obsC", "grp", "listA", "listB"]  # fmt: skip
    for key in order:
        resp = http.post(f"{server.base}/{TYPES[key]}", json=_tagged(_resource(w, key)), headers=write)
        assert resp.status_code == 201, (key, resp.text)
        w.ids[key] = resp.json()["id"]
    assert set(w.ids) == ALL

    # Tokens of the roles: Alice (with Léo) and Bob; a practitioner launched on Bob's record.
    w.tokens["alice"] = patient_token(http, server, app, PATIENT_SCOPE, emails["alice"], phones["alice"])
    w.tokens["bob"] = patient_token(http, server, app, PATIENT_SCOPE, emails["bob"], phones["bob"])
    smart_app = register_client(server, "public", LAUNCH_SCOPE, name="App SMART (recherche)")
    launch = http.post(
        f"{root(server)}/auth/launch",
        headers=bearer(launcher),
        json={"patient": w.ids["bob"], "client_id": smart_app["client_id"]},
    )
    assert launch.status_code == 201, launch.text
    verifier, challenge = pkce()
    resp = professional_login(
        http,
        server,
        smart_app["client_id"],
        LAUNCH_SCOPE,
        DR_MARTIN,
        challenge,
        launch=launch.json()["launch"],
    )
    token = exchange(http, server, smart_app, redirect_query(resp)["code"], verifier)
    assert token.status_code == 200, token.text
    assert token.json()["patient"] == w.ids["bob"]
    w.tokens["pro_bob"] = token.json()
    return w


# -- helpers -----------------------------------------------------------------------------------------


def parse(world: World, resp: httpx.Response) -> Page:
    body = resp.json()
    matches: set[str] = set()
    included: set[str] = set()
    foreign: list[str] = []
    entries = 0
    if resp.status_code == 200:
        assert body["resourceType"] == "Bundle", body
        for entry in body.get("entry", []):
            resource = entry["resource"]
            if resource["resourceType"] == "OperationOutcome":
                continue
            entries += 1
            key = world.key_of(resource["resourceType"], resource["id"])
            if key is None:
                foreign.append(f"{resource['resourceType']}/{resource['id']}")
                continue
            (matches if entry["search"]["mode"] == "match" else included).add(key)
    else:
        assert body["resourceType"] == "OperationOutcome", body
    return Page(resp.status_code, body, matches, included, foreign, entries)


def get(http: httpx.Client, world: World, role: str, path: str, params: list[tuple[str, str]]) -> Page:
    resp = http.get(f"{world.server.base}/{path}", params=params, headers=bearer(world.tokens[role]))
    return parse(world, resp)


def may_search(role: str, *types: str) -> bool:
    allowed = SEARCHABLE[role]
    return allowed is None or set(types) <= allowed


def check(
    page: Page, role: str, matches: set[str], included: frozenset[str] | set[str] = frozenset()
) -> None:
    visible = VISIBLE[role]
    assert page.status == 200, page.body
    assert not page.foreign, page.foreign
    assert page.entries == len(page.matches) + len(page.included), "a resource appears twice"
    assert page.matches <= visible and page.included <= visible, (page.matches, page.included)
    assert page.matches == matches, (role, sorted(page.matches), sorted(matches))
    assert page.included == included, (role, sorted(page.included), sorted(included))


def tag() -> tuple[str, str]:
    return ("_tag", TAG)


# -- the queries, for every role -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_plain_search_total_and_summary_count(http: httpx.Client, world: World, role: str) -> None:
    mine = of_type("Observation", VISIBLE[role])
    page = get(http, world, role, "Observation", [tag(), ("_count", "100")])
    check(page, role, mine)
    page = get(http, world, role, "Observation", [tag(), ("_count", "1"), ("_total", "accurate")])
    assert page.status == 200 and page.body["total"] == len(mine)
    assert len(page.matches) == 1 and page.matches <= mine
    counted = get(http, world, role, "Observation", [tag(), ("_summary", "count")])
    assert counted.status == 200 and counted.body["total"] == len(mine) and "entry" not in counted.body
    # Naming another record's resources directly finds nothing either.
    for key in of_type("Observation", ALL) - mine:
        assert get(http, world, role, "Observation", [("_id", world.ids[key])]).matches == set()
    for key in of_type("Patient", ALL):
        page = get(http, world, role, "Observation", [tag(), ("subject", world.ref(key))])
        check(page, role, reverse({key}, "Observation", "subject") & mine)


@pytest.mark.parametrize("role", ROLES)
def test_post_search_applies_the_same_restriction(http: httpx.Client, world: World, role: str) -> None:
    mine = of_type("Observation", VISIBLE[role])
    resp = http.post(
        f"{world.server.base}/Observation/_search",
        content=f"_tag={TAG}&_include=Observation:has-member&_total=accurate".encode(),
        headers={**bearer(world.tokens[role]), "Content-Type": "application/x-www-form-urlencoded"},
    )
    page = parse(world, resp)
    check(page, role, mine, forward(mine, "has-member") & VISIBLE[role] - mine)
    assert page.body["total"] == len(mine)


@pytest.mark.parametrize("role", ROLES)
def test_forward_includes_never_bring_hidden_resources(http: httpx.Client, world: World, role: str) -> None:
    visible = VISIBLE[role]
    mine = of_type("Observation", visible)
    params = [tag(), ("_count", "100")] + [
        ("_include", f"Observation:{p}") for p in ("encounter", "performer", "subject", "has-member")
    ]
    page = get(http, world, role, "Observation", params)
    wanted = set().union(*(forward(mine, p) for p in ("encounter", "performer", "subject", "has-member")))
    check(page, role, mine, wanted & visible - mine)
    # Alice's observation has Bob's as a member: Bob's never comes with it for Alice.
    if role == "alice":
        assert "obsB2" not in page.included and "bob" not in page.included


@pytest.mark.parametrize("role", ROLES)
def test_revinclude_and_iterate(http: httpx.Client, world: World, role: str) -> None:
    visible = VISIBLE[role]
    patients = of_type("Patient", visible)
    params = [
        tag(),
        ("_count", "100"),
        ("_revinclude", "Observation:subject"),
        ("_revinclude", "Group:member"),
        ("_include:iterate", "Group:member"),
        ("_include:iterate", "Observation:performer"),
    ]
    page = get(http, world, role, "Patient", params)
    first = (reverse(patients, "Observation", "subject") | reverse(patients, "Group", "member")) & visible
    second = (forward(first, "member", "Group") | forward(first, "performer", "Observation")) & visible
    check(page, role, patients, (first | second) - patients)
    # A Group holds Alice and Bob: a patient sees the group, never the other member through it.
    if role in ("alice", "bob", "pro_bob"):
        assert "grp" in page.included
        assert not ({"alice", "bob"} - visible) & page.included


@pytest.mark.parametrize("role", ROLES)
def test_revinclude_from_reference_data(http: httpx.Client, world: World, role: str) -> None:
    visible = VISIBLE[role]
    params = [("_id", world.ids["prac"]), ("_revinclude", "Observation:performer"),
              ("_revinclude", "Encounter:participant")]  # fmt: skip
    page = get(http, world, role, "Practitioner", params)
    if not may_search(role, "Practitioner"):
        assert page.status == 403
        return
    wanted = reverse({"prac"}, "Observation", "performer") | reverse({"prac"}, "Encounter", "participant")
    check(page, role, {"prac"}, wanted & visible)


@pytest.mark.parametrize("role", ROLES)
def test_include_wildcard_and_group_members(http: httpx.Client, world: World, role: str) -> None:
    visible = VISIBLE[role]
    page = get(http, world, role, "Encounter", [tag(), ("_include", "*")])
    groups = get(http, world, role, "Group", [tag(), ("_include", "Group:member")])
    if not may_search(role, "Encounter"):
        assert page.status == groups.status == 403
        return
    encounters = of_type("Encounter", visible)
    wanted = set().union(*(forward(encounters, p) for p in ("subject", "service-provider", "participant")))
    check(page, role, encounters, wanted & visible)
    check(groups, role, of_type("Group", visible), forward(of_type("Group", visible), "member") & visible)


def _chain_expected(role: str, start: str, path: list[str], family: str) -> set[str]:
    """Resources of ``start`` type reaching a Patient of ``family`` through visible resources only."""
    visible = VISIBLE[role]
    out = set()
    for key in of_type(start, visible):
        frontier = {key}
        for param in path:
            frontier = forward(frontier, param) & visible
        if any(TYPES[k] == "Patient" and FAMILY[k] == family for k in frontier):
            out.add(key)
    return out


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("target", ["alice", "bob"])
def test_chains_at_depth_two_only_through_visible_resources(
    http: httpx.Client, world: World, role: str, target: str
) -> None:
    # Observation -> its member Observation -> that one's subject: crosses records both ways.
    page = get(http, world, role, "Observation", [tag(), ("has-member.subject.family", FAMILY[target])])
    check(page, role, _chain_expected(role, "Observation", ["has-member", "subject"], FAMILY[target]))
    if role == "bob" and target == "alice":
        # obsB1 (Bob's) has Alice's obsA1 as member: it must not match, or Bob learns obsA1's subject.
        assert page.matches == set()
    # Observation -> Encounter -> Patient, with the subject modifier spelt out.
    page = get(
        http, world, role, "Observation", [tag(), ("encounter.subject:Patient.family", FAMILY[target])]
    )
    if not may_search(role, "Encounter"):
        assert page.status == 403
        return
    check(page, role, _chain_expected(role, "Observation", ["encounter", "subject"], FAMILY[target]))


@pytest.mark.parametrize("role", ROLES)
def test_has_never_reveals_hidden_resources(http: httpx.Client, world: World, role: str) -> None:
    visible = VISIBLE[role]
    patients = of_type("Patient", visible)
    page = get(
        http, world, role, "Patient", [tag(), ("_has:Observation:subject:performer", world.ref("prac"))]
    )
    performed = {o for o in of_type("Observation", visible) if "prac" in REFS[o].get("performer", [])}
    check(page, role, forward(performed, "subject") & patients)
    # Who performed Bob's observations? Only those who may see Bob's observations learn it.
    page = get(
        http, world, role, "Practitioner", [("_id", world.ids["prac"]),
                                            ("_has:Observation:performer:subject", world.ref("bob"))]
    )  # fmt: skip
    if not may_search(role, "Practitioner"):
        assert page.status == 403
        return
    bobs = {o for o in of_type("Observation", visible) if REFS[o]["subject"] == ["bob"]}
    check(page, role, {"prac"} if bobs else set())
    # Nested: patients having an observation that is the member of another observation.
    nested = "_has:Observation:subject:_has:Observation:has-member:_id"
    page = get(http, world, role, "Patient", [tag(), (nested, world.ids["obsB1"])])
    inner = {"obsB1"} & visible
    members = forward(inner, "has-member") & visible
    check(page, role, forward(members, "subject") & patients)


def test_has_and_chain_through_a_type_without_scope_are_refused(http: httpx.Client, world: World) -> None:
    page = get(http, world, "limited", "Patient", [tag(), ("_has:Encounter:subject:status", "finished")])
    assert page.status == 403
    page = get(http, world, "limited", "Observation", [tag(), ("encounter.status", "finished")])
    assert page.status == 403
    # Includes of a type without scope are dropped silently; the matches still come.
    page = get(http, world, "limited", "Observation", [tag(), ("_include", "Observation:encounter")])
    check(page, "limited", of_type("Observation", VISIBLE["limited"]))


@pytest.mark.parametrize("role", ROLES)
def test_list_of_another_record_is_empty(http: httpx.Client, world: World, role: str) -> None:
    for key in ("listA", "listB"):
        page = get(http, world, role, "Observation", [("_list", world.ids[key])])
        if not may_search(role, "List"):
            assert page.status == 403
            continue
        expected = set(REFS[key]["item"]) if key in VISIBLE[role] else set()
        check(page, role, expected & VISIBLE[role])


@pytest.mark.parametrize("role", ROLES)
def test_system_search(http: httpx.Client, world: World, role: str) -> None:
    visible = VISIBLE[role]
    page = get(http, world, role, "", [tag(), ("_count", "100"), ("_total", "accurate")])
    check(page, role, visible)
    assert page.body["total"] == len(visible)
    page = get(http, world, role, "", [tag(), ("_type", "Observation,Encounter"), ("_count", "100")])
    if not may_search(role, "Observation", "Encounter"):
        assert page.status == 403
    else:
        check(page, role, {k for k in visible if TYPES[k] in ("Observation", "Encounter")})
    page = get(http, world, role, "", [tag(), ("_type", "Observation,Patient"), ("_count", "100"),
                                       ("_include", "Observation:subject")])  # fmt: skip
    check(page, role, {k for k in visible if TYPES[k] in ("Observation", "Patient")})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("patient", ["alice", "leo", "bob", "carol"])
def test_compartment_search(http: httpx.Client, world: World, role: str, patient: str) -> None:
    visible = VISIBLE[role]
    page = get(
        http,
        world,
        role,
        f"Patient/{world.ids[patient]}/Observation",
        [("_revinclude", "Observation:has-member"), ("_total", "accurate")],
    )
    if patient not in visible:
        assert page.status == 404, page.body  # like a read: the record's existence is not confirmed
        return
    obs = {o for o in of_type("Observation", visible) if REFS[o]["subject"] == [patient]}
    check(page, role, obs, reverse(obs, "Observation", "has-member") & visible - obs)
    assert page.body["total"] == len(obs)
    encounters = get(http, world, role, f"Patient/{world.ids[patient]}/Encounter", [])
    if not may_search(role, "Encounter"):
        assert encounters.status == 403
    else:
        check(encounters, role, {e for e in of_type("Encounter", visible) if REFS[e]["subject"] == [patient]})


def _all_pages(http: httpx.Client, world: World, role: str, first: Page) -> list[Page]:
    pages = [first]
    while True:
        links = {link["relation"]: link["url"] for link in pages[-1].body.get("link", [])}
        if "next" not in links:
            return pages
        resp = http.get(links["next"], headers=bearer(world.tokens[role]))
        pages.append(parse(world, resp))
        assert len(pages) < 50


@pytest.mark.parametrize("role", ROLES)
def test_paging_keeps_the_restriction(http: httpx.Client, world: World, role: str) -> None:
    visible = VISIBLE[role]
    mine = of_type("Observation", visible)
    first = get(
        http, world, role, "Observation", [tag(), ("_count", "1"), ("_total", "accurate"),
                                           ("_include", "Observation:has-member")]
    )  # fmt: skip
    pages = _all_pages(http, world, role, first)
    seen: list[str] = []
    for page in pages:
        assert page.status == 200 and page.body["total"] == len(mine)
        assert not page.foreign and page.matches <= visible and page.included <= visible
        seen.extend(page.matches)
    assert sorted(seen) == sorted(mine)  # every visible one once, nothing else
    assert len(pages) == max(1, len(mine))  # one match a page, no empty page at the end


def test_a_paging_link_carries_no_rights(http: httpx.Client, world: World) -> None:
    """The next page is restricted by the token that asks for it, not by the one that got the link."""
    first = get(http, world, "system", "Observation", [tag(), ("_count", "1"), ("_sort", "_id")])
    nxt = next(link["url"] for link in first.body["link"] if link["relation"] == "next")
    assert dict(parse_qsl(urlsplit(nxt).query)).get("_cursor")
    for role in ("alice", "bob"):
        pages = _all_pages(http, world, role, parse(world, http.get(nxt, headers=bearer(world.tokens[role]))))
        seen = set().union(*(p.matches for p in pages))
        assert seen <= of_type("Observation", VISIBLE[role]), (role, seen)


def test_scope_and_compartment_violations(http: httpx.Client, world: World) -> None:
    # No scope on the type: 403 for a type search, whatever the parameters.
    for path in ("Encounter", "Group", "Practitioner", "Encounter/_search"):
        method = http.post if path.endswith("_search") else http.get
        resp = method(f"{world.server.base}/{path}", headers=bearer(world.tokens["limited"]))
        assert resp.status_code == 403 and resp.json()["resourceType"] == "OperationOutcome", path
    # Another patient's compartment: 404, the same answer as for a patient that does not exist.
    for target in (world.ids["bob"], "inconnu-" + RUN):
        resp = http.get(
            f"{world.server.base}/Patient/{target}/Observation", headers=bearer(world.tokens["alice"])
        )
        assert resp.status_code == 404 and resp.json()["resourceType"] == "OperationOutcome"
    # An unrestricted token searching an unknown patient's compartment gets an empty page.
    resp = http.get(
        f"{world.server.base}/Patient/inconnu-{RUN}/Observation", headers=bearer(world.tokens["system"])
    )
    assert resp.status_code == 200 and not resp.json().get("entry")


def test_dataset_is_as_modelled(http: httpx.Client, world: World) -> None:
    """The model the other tests derive their expectations from matches the stored references."""
    page = get(http, world, "system", "", [tag(), ("_count", "100")])
    assert page.matches == ALL
    for entry in page.body["entry"]:
        resource = entry["resource"]
        key = world.key_of(resource["resourceType"], resource["id"])
        text = json.dumps(resource)
        for targets in REFS.get(key or "", {}).values():
            for target in targets:
                assert world.ref(target) in text, (key, target)
