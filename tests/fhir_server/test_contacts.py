"""Where an e-mail about a patient goes (``fhir_server.auth.contacts``): the rule, and the server
(teleconsultation, ordonnances: from the stored resources) and the portal (through the FHIR API)
giving the same answer on the same records of a real server.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from types import SimpleNamespace
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from apps.portal.fhir import FhirClient
from apps.portal.patient import notification_email as portal_email
from bench.harness import ServerProcess
from fhir_server.auth.contacts import notification_address
from fhir_server.auth.contacts import notification_email as server_email
from tests.fhir_server import auth_support
from tests.fhir_server.auth_support import FHIR_JSON, backend_client_token, bearer, root

server, http = auth_support.server, auth_support.http  # the shared fixtures

TODAY = date(2026, 12, 6)


def _email(value: str) -> list[dict[str, str]]:
    return [{"system": "email", "value": value}]


def _holder(id_: str, email: str, active: bool = True) -> dict[str, Any]:
    return {"resourceType": "RelatedPerson", "id": id_, "active": active, "telecom": _email(email)}


# -- the rule ------------------------------------------------------------------------------------


def test_an_adult_with_an_address_gets_their_own_mail() -> None:
    adult = {"birthDate": "1990-01-01", "telecom": _email("moi@exemple.fr")}
    assert notification_address(adult, [_holder("a", "parent@exemple.fr")], today=TODAY) == "moi@exemple.fr"


def test_a_minor_never_gets_mail_at_their_own_address() -> None:
    child = {"birthDate": "2015-03-02", "telecom": _email("enfant@exemple.fr")}
    assert (
        notification_address(child, [_holder("b", "parent@exemple.fr")], today=TODAY) == "parent@exemple.fr"
    )
    assert notification_address(child, [], today=TODAY) is None
    # 18 the next day: still a minor today
    assert notification_address({**child, "birthDate": "2008-12-07"}, [], today=TODAY) is None
    assert notification_address({**child, "birthDate": "2008-12-06"}, [], today=TODAY) == "enfant@exemple.fr"


def test_the_holder_who_acted_is_preferred_and_inactive_holders_are_skipped() -> None:
    child = {"birthDate": "2015-03-02"}
    holders = [
        _holder("z", "mere@exemple.fr"),
        _holder("m", "pere@exemple.fr"),
        _holder("a", "x@e.fr", False),
    ]
    assert notification_address(child, holders, today=TODAY) == "pere@exemple.fr"  # first by id
    assert notification_address(child, holders, "mere@exemple.fr", today=TODAY) == "mere@exemple.fr"
    # somebody who is not an active holder is never written to
    assert notification_address(child, holders, "x@e.fr", today=TODAY) == "pere@exemple.fr"
    assert notification_address(child, holders, "inconnu@e.fr", today=TODAY) == "pere@exemple.fr"


def test_an_adult_without_an_address_goes_to_the_holder() -> None:
    adult = {"birthDate": "1950-01-01"}
    assert notification_address(adult, [_holder("a", "fille@exemple.fr")], today=TODAY) == "fille@exemple.fr"


# -- server and portal agree on stored records -----------------------------------------------------


def test_the_server_and_the_portal_give_the_same_address(http: httpx.Client, server: ServerProcess) -> None:
    token = backend_client_token(http, server, "system/*.cruds", name="contacts")
    write = {**bearer(token), "Content-Type": FHIR_JSON}
    mark = uuid.uuid4().hex[:8]

    def create(resource: dict[str, Any]) -> str:
        resp = http.post(f"{server.base}/{resource['resourceType']}", json=resource, headers=write)
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    def patient(birth: str, email: str | None = None) -> str:
        body: dict[str, Any] = {"resourceType": "Patient", "name": [{"family": f"Contact{mark}"}]}
        body |= {"birthDate": birth} | ({"telecom": _email(email)} if email else {})
        return create(body)

    def holder_of(pid: str, email: str, active: bool = True) -> str:
        return create(
            {"resourceType": "RelatedPerson", "active": active, "patient": {"reference": f"Patient/{pid}"},
             "telecom": _email(email)}
        )  # fmt: skip

    mother, father = f"mere-{mark}@exemple.fr", f"pere-{mark}@exemple.fr"
    mother_id, father_id = patient("1985-04-01", mother), patient("1983-09-12", father)
    child = patient("2016-06-15", f"enfant-{mark}@exemple.fr")
    rp_mother, rp_father = holder_of(child, mother), holder_of(child, father)
    holder_of(child, f"ancien-{mark}@exemple.fr", active=False)
    spouse = patient("1987-02-20", f"conjoint-{mark}@exemple.fr")
    holder_of(spouse, mother)
    orphan = patient("2018-01-01")
    first = mother if rp_mother < rp_father else father
    cases = [
        (child, None, first),
        (child, father_id, father),
        (child, mother_id, mother),
        (spouse, mother_id, f"conjoint-{mark}@exemple.fr"),
        (mother_id, None, mother),
        (orphan, None, None),
    ]
    uri = server.mongodb_uri or (server.data_dir / "db.uri").read_text().strip()

    async def both() -> list[tuple[str | None, str | None]]:
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
        repository = SimpleNamespace(db=mongo[server.env["PASSERELLE_DB"]])
        try:
            async with httpx.AsyncClient(timeout=60) as client:
                fhir = FhirClient(client, root(server), token)
                return [
                    (
                        await server_email(
                            repository, f"Patient/{pid}", f"Patient/{acting}" if acting else None
                        ),
                        await portal_email(fhir, pid, acting),
                    )
                    for pid, acting, _ in cases
                ]
        finally:
            await mongo.close()

    answers = asyncio.run(both())
    assert answers == [(expected, expected) for _, _, expected in cases]
