"""The access rules secure messaging with the médecin conseil adds (issue 18), over HTTP.

- a patient never reads a resource labelled ``NOPAT`` (HL7 v3-ActCode, "no disclosure to
  patient"), even in their own compartment: not by id, not by search, not through an include;
- care practitioners never read again a thread resource the doctor side withdrew (tag
  ``urn:passerelle:messagerie|supprime-cote-professionnel``), break-the-glass included, and cannot
  rewrite it; the médecin conseil of the échelon still reads it;
- a professional files an attachment as a ``Binary`` only under a ``securityContext`` they can
  read (their message), and the Binary is read by whoever reads that resource.

Users and records: :mod:`tests.fhir_server.roles_data` (what is created here is deleted afterwards).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.fhir_server.roles_data import RoleWorld, ScratchClient, role_world

NOPAT = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "NOPAT"}
WITHDRAWN = {"system": "urn:passerelle:messagerie", "code": "supprime-cote-professionnel"}
GLASS = {"X-Break-Glass-Reason": quote("Urgence vitale : patient inconscient aux urgences")}
PDF = "JVBERi0xLjQKJSVFT0YK"


@pytest.fixture(scope="module")
def world() -> RoleWorld:
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        return role_world(client)


@pytest.fixture(scope="module")
def http(world: RoleWorld) -> Iterator[httpx.Client]:
    with ScratchClient(world) as client:
        yield client


def create(http: httpx.Client, world: RoleWorld, who: str, resource: dict[str, Any]) -> httpx.Response:
    return http.post(f"{world.base}/{resource['resourceType']}", json=resource, headers=world.headers(who))


def made(http: httpx.Client, world: RoleWorld, resource: dict[str, Any], who: str = "system") -> str:
    resp = create(http, world, who, resource)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def status(http: httpx.Client, world: RoleWorld, who: str, path: str, **headers: str) -> int:
    return http.get(f"{world.base}/{path}", headers=world.headers(who, **headers)).status_code


def found(
    http: httpx.Client,
    world: RoleWorld,
    who: str,
    path: str,
    headers: dict[str, str] | None = None,
    **params: str,
) -> set[str]:
    resp = http.get(f"{world.base}/{path}", params=params, headers=world.headers(who, **(headers or {})))
    assert resp.status_code == 200, resp.text
    return {e["resource"]["id"] for e in resp.json().get("entry", [])}


def note(subject: str, sender: str, recipient: str, **meta: Any) -> dict[str, Any]:
    return {
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": subject},
        "sender": {"reference": sender},
        "recipient": [{"reference": recipient}],
        "payload": [{"contentString": "Échange avec le service médical"}],
        **({"meta": meta} if meta else {}),
    }


def test_a_patient_never_reads_what_is_labelled_no_disclosure_to_patient(
    http: httpx.Client, world: RoleWorld
) -> None:
    alice, martin = world.refs["alice"], world.refs["martin"]
    elsm = f"Organization/{world.ids['elsm_a']}"
    hidden = made(http, world, note(alice, martin, elsm, security=[NOPAT]))
    shown = made(http, world, note(alice, martin, elsm))
    assert status(http, world, "alice", f"Communication/{shown}") == 200
    for path in (
        f"Communication/{hidden}",
        f"Communication/{hidden}/_history/1",
        f"Communication/{hidden}/_history",
    ):
        assert status(http, world, "alice", path) == 404, path
    assert found(http, world, "alice", "Communication", subject=alice) >= {shown}
    assert hidden not in found(http, world, "alice", "Communication", subject=alice)
    assert hidden not in found(http, world, "alice", "Communication", _security=f"{NOPAT['system']}|NOPAT")
    included = found(
        http, world, "alice", "Patient", _id=alice.split("/")[1], _revinclude="Communication:subject"
    )
    assert shown in included and hidden not in included
    # the patient cannot write it either (a 404 like any resource out of reach), nor get it back by id
    body = {**note(alice, alice, martin), "id": hidden}
    assert (
        http.put(
            f"{world.base}/Communication/{hidden}", json=body, headers=world.headers("alice")
        ).status_code
        == 404
    )
    # professionals are not concerned by the label
    assert status(http, world, "system", f"Communication/{hidden}") == 200


def test_a_withdrawn_thread_is_gone_for_care_practitioners_and_kept_by_the_echelon(
    http: httpx.Client, world: RoleWorld
) -> None:
    enc, martin = f"Patient/{world.patients['enc']}", world.refs["martin"]
    elsm = f"Organization/{world.ids['elsm_a']}"
    gone = made(http, world, note(enc, martin, elsm, tag=[WITHDRAWN]))
    kept = made(http, world, note(enc, martin, elsm))
    task = made(
        http,
        world,
        {
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "meta": {"tag": [WITHDRAWN]},
            "focus": {"reference": f"Communication/{gone}"},
            "for": {"reference": enc},
            "owner": {"reference": elsm},
        },
    )
    for who in ("martin", "bonnet"):  # the doctor and her colleague of the centre
        assert status(http, world, who, f"Communication/{kept}") == 200, who
        assert status(http, world, who, f"Communication/{gone}") == 404, who
        assert status(http, world, who, f"Task/{task}") == 404, who
        assert status(http, world, who, f"Communication/{gone}", **GLASS) == 404, who  # definitive
        listed = found(http, world, who, "Communication", subject=enc)
        assert kept in listed and gone not in listed, who
        assert gone not in found(http, world, who, "Communication", GLASS, subject=enc), who
        assert task not in found(http, world, who, "Task", patient=enc), who
        everything = found(http, world, who, f"Patient/{world.patients['enc']}/$everything")
        assert kept in everything and gone not in everything, who
    # no bringing it back: writing it again is answered like a missing resource
    untagged = {**note(enc, martin, elsm), "id": gone}
    put = http.put(f"{world.base}/Communication/{gone}", json=untagged, headers=world.headers("martin"))
    assert put.status_code == 404
    assert (
        http.delete(f"{world.base}/Communication/{gone}", headers=world.headers("martin")).status_code == 404
    )
    # the échelon keeps it (and its follow-up), and nothing was erased
    assert status(http, world, "conseil_a", f"Communication/{gone}") == 200
    assert status(http, world, "conseil_a", f"Task/{task}") == 200
    assert gone in found(http, world, "conseil_a", "Communication", recipient=elsm)
    stored = http.get(f"{world.base}/Communication/{gone}", headers=world.headers("system")).json()
    assert stored["meta"]["tag"][0]["code"] == WITHDRAWN["code"]


def test_a_thread_is_read_by_its_parties_not_by_every_doctor_of_the_patient(
    http: httpx.Client, world: RoleWorld
) -> None:
    enc, martin = f"Patient/{world.patients['enc']}", world.refs["martin"]
    centre, elsm = f"Organization/{world.ids['centre']}", f"Organization/{world.ids['elsm_a']}"
    category = [{"coding": [{"system": "urn:passerelle:messagerie", "code": "echange-medecin-conseil"}]}]
    hers = made(http, world, {**note(enc, martin, elsm), "category": category})
    ours = made(http, world, {**note(enc, centre, elsm), "category": category})
    answer = made(http, world, {**note(enc, world.refs["conseil_a"], centre), "category": category})
    task = made(
        http,
        world,
        {
            "resourceType": "Task",
            "status": "requested",
            "intent": "order",
            "code": {"coding": category[0]["coding"]},
            "focus": {"reference": f"Communication/{hers}"},
            "for": {"reference": enc},
            "owner": {"reference": elsm},
            "requester": {"reference": martin},
        },
    )
    plain = made(http, world, note(enc, martin, elsm))  # an ordinary message about the patient
    # Dr Bonnet cares for the patient (same centre) but is no party to Dr Martin's own thread
    expected = {"martin": {hers, ours, answer, task, plain}, "bonnet": {ours, answer, plain}}
    for who, visible in expected.items():
        for rid, path in (
            (hers, "Communication"),
            (ours, "Communication"),
            (answer, "Communication"),
            (task, "Task"),
            (plain, "Communication"),
        ):
            assert status(http, world, who, f"{path}/{rid}") == (200 if rid in visible else 404), (who, path)
            assert status(http, world, who, f"{path}/{rid}", **GLASS) == (200 if rid in visible else 404), who
        listed = found(http, world, who, "Communication", subject=enc) | found(
            http, world, who, "Task", patient=enc
        )
        assert listed & {hers, ours, answer, task, plain} == visible, who
    assert status(http, world, "conseil_a", f"Communication/{hers}") == 200


def test_attachments_are_binaries_read_through_their_message(http: httpx.Client, world: RoleWorld) -> None:
    enc, martin = f"Patient/{world.patients['enc']}", world.refs["martin"]
    message = made(http, world, note(enc, martin, world.refs["garnier"]), who="martin")

    def binary(context: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"resourceType": "Binary", "contentType": "application/pdf", "data": PDF}
        if context:
            out["securityContext"] = {"reference": context}
        return out

    mine = made(http, world, binary(f"Communication/{message}"), who="martin")
    assert status(http, world, "martin", f"Binary/{mine}") == 200
    assert status(http, world, "bonnet", f"Binary/{mine}") == 200  # reads the message: reads the file
    assert status(http, world, "pharmacist", f"Binary/{mine}") == 403
    # attacks: under a resource out of reach, under nothing, under another échelon's message
    hidden_obs = f"Observation/{world.observations['other']}"
    assert create(http, world, "martin", binary(hidden_obs)).status_code == 403
    assert create(http, world, "martin", binary(None)).status_code == 403
    assert create(http, world, "martin", binary("Communication/nope")).status_code == 403
    ours = made(http, world, binary(f"Communication/{world.ids['message_a']}"), who="conseil_a")
    assert (
        create(http, world, "conseil_a", binary(f"Communication/{world.ids['message_b']}")).status_code == 403
    )
    assert status(http, world, "conseil_a", f"Binary/{ours}") == 200
    assert status(http, world, "conseil_b", f"Binary/{ours}") == 404
    assert status(http, world, "alice", f"Binary/{ours}") == 404
    # a Binary is created, never rewritten by these roles (answered like an instance out of reach)
    again = {**binary(f"Communication/{message}"), "id": mine}
    assert (
        http.put(f"{world.base}/Binary/{mine}", json=again, headers=world.headers("martin")).status_code
        == 404
    )
