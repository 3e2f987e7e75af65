"""Access control through search for the practitioner roles, black-box over HTTP.

The users and records are the ones of :mod:`tests.fhir_server.roles_data` (care
relationships of Dr Martin, her colleague Dr Bonnet and Dr Garnier; médecins conseils of
two échelons; a pharmacist). Instance reads are covered by ``test_auth_roles_access``;
here every search form - plain, ``_total``, includes and revincludes, chains, ``_has``,
compartment searches, system search and paging - must show a practitioner the records of
the patients they care for and nothing else, and the other roles only what their rules allow.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fhir_server import auth_support
from tests.fhir_server.auth_support import bearer
from tests.fhir_server.roles_data import RoleWorld, role_world

# The patients each practitioner cares for (see roles_data: encounter, appointment, care team,
# GP, the centre's patient; an accepted tele-expertise and an explicit consent).
REACH = {
    "martin": {"enc", "appt", "team", "gp", "managed"},
    "bonnet": {"enc", "appt", "team", "gp", "managed"},
    "garnier": {"tele", "consent"},
}
CARE = sorted(REACH)
WEIGHT = "http://loinc.org|29463-7"


http = auth_support.http  # the shared fixtures


@pytest.fixture(scope="module")
def world(http: httpx.Client) -> RoleWorld:
    return role_world(http)


def search(http: httpx.Client, world: RoleWorld, who: str, path: str, params: Any) -> httpx.Response:
    return http.get(f"{world.base}/{path}", params=params, headers=bearer(world.tokens[who]))


def ids(resp: httpx.Response, mode: str = "match", type_: str | None = None) -> set[str]:
    assert resp.status_code == 200, resp.text
    return {
        e["resource"]["id"]
        for e in resp.json().get("entry", [])
        if e["search"]["mode"] == mode and type_ in (None, e["resource"]["resourceType"])
    }


def every_patient(world: RoleWorld) -> str:
    return ",".join(world.patients.values())


def subjects(resp: httpx.Response) -> set[str]:
    return {
        e["resource"]["subject"]["reference"]
        for e in resp.json().get("entry", [])
        if e["resource"]["resourceType"] == "Observation"
    }


@pytest.mark.parametrize("who", CARE)
def test_care_searches_see_the_patients_cared_for_only(
    http: httpx.Client, world: RoleWorld, who: str
) -> None:
    reach = {world.patients[k] for k in REACH[who]}
    refs = {f"Patient/{p}" for p in reach}
    all_refs = ",".join(f"Patient/{p}" for p in world.patients.values())
    patients = search(http, world, who, "Patient", {"_id": every_patient(world), "_total": "accurate"})
    assert ids(patients) == reach and patients.json()["total"] == len(reach)
    obs = search(
        http, world, who, "Observation", {"subject": all_refs, "_count": "500", "_total": "accurate"}
    )
    assert subjects(obs) <= refs  # other tests may add observations, never in another record
    assert {world.observations[k] for k in REACH[who]} <= ids(obs)
    assert obs.json()["total"] == len(ids(obs))
    count = search(http, world, who, "Observation", {"subject": all_refs, "_summary": "count"})
    assert count.json()["total"] == len(ids(obs))
    # The same through POST _search and system search.
    posted = http.post(
        f"{world.base}/Patient/_search",
        data={"_id": every_patient(world)},
        headers=bearer(world.tokens[who]),
    )
    assert ids(posted) == reach
    system = search(http, world, who, "", {"_type": "Patient,Observation", "_id": every_patient(world)})
    assert ids(system) == reach


@pytest.mark.parametrize("who", CARE)
def test_care_includes_and_revincludes(http: httpx.Client, world: RoleWorld, who: str) -> None:
    reach = {world.patients[k] for k in REACH[who]}
    all_refs = ",".join(f"Patient/{p}" for p in world.patients.values())
    resp = search(
        http,
        world,
        who,
        "Patient",
        [("_id", every_patient(world)), ("_revinclude", "Observation:subject"),
         ("_revinclude", "Encounter:subject"), ("_count", "500")],
    )  # fmt: skip
    assert ids(resp) == reach
    assert subjects(resp) <= {f"Patient/{p}" for p in reach}
    resp = search(
        http, world, who, "Observation", [("subject", all_refs), ("_include", "Observation:subject")]
    )
    assert ids(resp, "include", "Patient") <= reach
    # Dr Martin took part in two encounters; the one entered in error gives no relationship,
    # and its patient's Encounter must not come back through her Practitioner record.
    martin_id = world.refs["martin"].split("/")[1]
    resp = search(
        http,
        world,
        who,
        "Practitioner",
        [
            ("_id", martin_id),
            ("_revinclude", "Encounter:participant"),
            ("_include:iterate", "Encounter:subject"),
        ],
    )
    assert ids(resp) == {martin_id}  # directory data: readable by every care practitioner
    assert ids(resp, "include", "Patient") <= reach
    expected = {world.patients["enc"]} & reach
    assert ids(resp, "include", "Patient") == expected
    assert len(ids(resp, "include", "Encounter")) == len(expected)


@pytest.mark.parametrize("who", CARE)
def test_care_chains_has_and_compartments(http: httpx.Client, world: RoleWorld, who: str) -> None:
    for key, pid in world.patients.items():
        cared = key in REACH[who]
        chained = search(http, world, who, "Observation", {"subject:Patient.family": f"Rôle-{key}"})
        assert (world.observations[key] in ids(chained)) == cared, (who, key)
        assert subjects(chained) <= {f"Patient/{world.patients[k]}" for k in REACH[who]}
        has = search(http, world, who, "Patient", {"_id": pid, "_has:Observation:subject:code": WEIGHT})
        assert ids(has) == ({pid} if cared else set()), (who, key)
        compartment = search(http, world, who, f"Patient/{pid}/Observation", {})
        if cared:
            assert world.observations[key] in ids(compartment)
        else:
            assert compartment.status_code == 404, (who, key)


@pytest.mark.parametrize("who", CARE)
def test_care_paging_keeps_the_restriction(http: httpx.Client, world: RoleWorld, who: str) -> None:
    reach = {world.patients[k] for k in REACH[who]}
    resp = search(http, world, who, "Patient", {"_id": every_patient(world), "_count": "1"})
    seen: list[str] = []
    while True:
        seen.extend(ids(resp))
        nxt = [link["url"] for link in resp.json()["link"] if link["relation"] == "next"]
        if not nxt:
            break
        resp = http.get(nxt[0], headers=bearer(world.tokens[who]))
        assert len(seen) < 50
    assert sorted(seen) == sorted(reach)


def test_break_the_glass_search_reaches_further_and_only_with_the_header(
    http: httpx.Client, world: RoleWorld
) -> None:
    other = world.patients["other"]
    plain = search(http, world, "martin", "Patient", {"_id": other})
    assert ids(plain) == set()
    from urllib.parse import quote

    headers = {
        **bearer(world.tokens["martin"]),
        "X-Break-Glass-Reason": quote("Urgence vitale : inconscient"),
    }
    glass = http.get(f"{world.base}/Patient", params={"_id": other}, headers=headers)
    assert ids(glass) == {other}


@pytest.mark.parametrize(("who", "mine", "theirs"), [("conseil_a", "a", "b"), ("conseil_b", "b", "a")])
def test_medecin_conseil_searches_their_threads_only(
    http: httpx.Client, world: RoleWorld, who: str, mine: str, theirs: str
) -> None:
    w = world.ids
    headers = ",".join(w[k] for k in ("header_a", "header_b"))
    resp = search(
        http, world, who, "Communication",
        [("_id", headers), ("_revinclude", "Communication:part-of"), ("_include", "Communication:subject"),
         ("_total", "accurate")],
    )  # fmt: skip
    assert ids(resp) == {w[f"header_{mine}"]} and resp.json()["total"] == 1
    assert ids(resp, "include", "Communication") == {w[f"message_{mine}"]}  # not Dr Martin's draft
    # Patients are not includable from a thread through Communication:subject unless they are the échelon's.
    assert ids(resp, "include", "Patient") <= {world.patients[f"thread_{mine}"]}
    patients = search(http, world, who, "Patient", {"_id": every_patient(world)})
    assert ids(patients) == {world.patients[f"thread_{mine}"]}
    tasks = search(http, world, who, "Task", {"_id": ",".join(w[k] for k in ("task_a", "task_b"))})
    assert ids(tasks) == {w[f"task_{mine}"]}
    # A chain through the other échelon's thread does not match; through one's own it does.
    for side, expected in ((theirs, set()), (mine, {w[f"message_{mine}"]})):
        chained = search(
            http,
            world,
            who,
            "Communication",
            {"part-of:Communication.subject": world.patients[f"thread_{side}"]},
        )
        assert ids(chained) == expected, side
    has = search(
        http,
        world,
        who,
        "Patient",
        {"_id": every_patient(world), "_has:Communication:subject:status": "completed"},
    )
    assert ids(has) == {world.patients[f"thread_{mine}"]}
    # Outside the role's types: 403, for searches as for reads.
    assert search(http, world, who, "Observation", {}).status_code == 403
    assert search(http, world, who, "", {"_type": "Observation"}).status_code == 403


def test_pharmacist_search_by_prescription_number_includes_no_patient(
    http: httpx.Client, world: RoleWorld
) -> None:
    w = world.ids
    resp = search(
        http, world, "pharmacist", "MedicationRequest",
        [("identifier", "urn:passerelle:prescription|ORD-0001"), ("_include", "MedicationRequest:medication"),
         ("_include", "MedicationRequest:subject"), ("_include", "MedicationRequest:requester"),
         ("_total", "accurate")],
    )  # fmt: skip
    assert ids(resp) == {w["mr1"], w["mr2"]} and resp.json()["total"] == 2
    assert ids(resp, "include", "Medication") == {w["medication"]}
    assert ids(resp, "include", "Patient") == set()  # patients are read one by one, masked
    draft = search(
        http, world, "pharmacist", "MedicationRequest", {"identifier": "urn:passerelle:prescription|ORD-0002"}
    )
    assert ids(draft) == set()


@pytest.mark.parametrize("who", ["pharmacist", "conseil_a", "martin"])
def test_system_search_without_type_keeps_what_the_role_may_search(
    http: httpx.Client, world: RoleWorld, who: str
) -> None:
    """No ``_type``: every type the role may search, none it may not (no 403 for the others).

    (A pharmacist searches prescriptions by number only: the role refuses a system search.)
    """
    w = world.ids
    every = ",".join([*world.patients.values(), *world.observations.values(), *w.values()])
    resp = search(http, world, who, "", {"_id": every, "_count": "500"})
    if who == "pharmacist" and resp.status_code == 403:
        return
    assert resp.status_code == 200, resp.text
    found = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in resp.json().get("entry", [])}
    types = {t for t, _ in found}
    if who == "pharmacist":
        assert ("MedicationRequest", w["mr1"]) in found and ("Medication", w["medication"]) in found
        assert ("MedicationRequest", w["mr_draft"]) not in found
        assert not types & {"Patient", "Observation", "Communication"}
    elif who == "conseil_a":
        assert ("Communication", w["header_a"]) in found and ("Communication", w["header_b"]) not in found
        assert ("Patient", world.patients["thread_a"]) in found
        assert not types & {"Observation", "MedicationRequest"}
    else:
        patients = {i for t, i in found if t == "Patient"}
        assert patients == {world.patients[k] for k in REACH["martin"]}
