"""The médecin conseil opens conversations, and what the FHIR layer refuses them (raw FHIR API).

Which insured an échelon reaches is decided by the FHIR access rules from the fund → ELSM table
(``fhir_server/auth/echelons.json``: CPAM de Paris → ELSM de Paris, CPAM du Rhône → ELSM du
Rhône): the attacks below go straight to the FHIR API with the médecin conseil's own token.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from apps.portal.messaging import A_TRAITER, EN_COURS, MessagingError
from apps.portal.messaging.model import CATEGORY, NOPAT_CODING
from fhir_server.auth.roles import WRITER_URL
from fhir_server.identifiers import NIR_SYSTEM
from tests.fhir_server.auth_support import FHIR_JSON, bearer
from tests.portal.messaging import files
from tests.portal.messaging.helpers import fhir_status, ids_of, listed, own_loop, service
from tests.portal.messaging.world import CENTRE_EMAIL, GARNIER_NAM, NIR, World, build_world

GARNIER_EMAIL = "henri.garnier@test.mssante.fr"  # from the dev Pro Santé Connect


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    w = build_world()
    yield w
    w.stop()


def post(world: World, who: str, resource: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{world.base}/{resource['resourceType']}",
        json=resource,
        headers={**bearer(world.tokens[who]), "Content-Type": FHIR_JSON},
        timeout=60,
    )


def put(world: World, who: str, resource: dict[str, Any]) -> httpx.Response:
    return httpx.put(
        f"{world.base}/{resource['resourceType']}/{resource['id']}",
        json=resource,
        headers={**bearer(world.tokens[who]), "Content-Type": FHIR_JSON},
        timeout=60,
    )


def header(world: World, patient: str, recipient: str, sender: str = "ELSM-75") -> dict[str, Any]:
    """A thread header as the échelon would write it (raw FHIR)."""
    return {
        "resourceType": "Communication",
        "meta": {"security": [NOPAT_CODING]},
        "status": "preparation",
        "category": [{"coding": [CATEGORY]}],
        "subject": {"reference": f"Patient/{world.ids[patient]}"},
        "sender": {"reference": f"Organization/{world.ids[sender]}"},
        "recipient": [{"reference": recipient}],
        "topic": {"text": "Contrôle"},
    }


def refused(resp: httpx.Response, status: int, text: str, expression: str | None = None) -> None:
    assert resp.status_code == status, resp.text
    issue = resp.json()["issue"][0]
    assert text in issue["diagnostics"], issue
    if expression is not None:
        assert issue.get("expression") == [expression], issue


@own_loop
async def test_an_echelon_finds_by_nir_only_the_insured_of_its_funds(world: World) -> None:
    paris, lyon = service(world, "conseil_paris"), service(world, "conseil_lyon")
    # insured at the CPAM de Paris, in no thread: the ELSM de Paris finds her, with her fund
    card = await paris.find_insured(NIR["paris_insured"])
    assert (card.id, card.fund, card.echelon_name) == (
        world.ids["paris_insured"],
        "CPAM de Paris",
        "ELSM de Paris",
    )
    # the CPAM du Rhône's insured are the ELSM du Rhône's, not Paris's — and the other way round
    with pytest.raises(MessagingError, match="Aucun assuré des caisses de votre échelon"):
        await paris.find_insured(NIR["lyon_patient"])
    with pytest.raises(MessagingError, match="Aucun assuré des caisses de votre échelon"):
        await lyon.find_insured(NIR["paris_insured"])
    assert (await lyon.find_insured(NIR["lyon_patient"])).echelon_name == "ELSM du Rhône"
    with pytest.raises(MessagingError, match="clé"):
        await paris.find_insured("253072A07300444")
    # the FHIR API agrees: search by NIR, read, coverage, chained search
    for who, key, visible in (
        ("conseil_paris", "lyon_patient", False), ("conseil_lyon", "paris_insured", False),
        ("conseil_paris", "paris_insured", True), ("conseil_lyon", "lyon_patient", True),
    ):  # fmt: skip
        pid = world.ids[key]
        found = world.get(who, "Patient", identifier=f"{NIR_SYSTEM}|{NIR[key]}").json()
        assert ids_of(found) == ({pid} if visible else set()), (who, key)
        assert fhir_status(world, who, f"Patient/{pid}") == (200 if visible else 404), (who, key)
        covers = world.get(who, "Coverage", beneficiary=f"Patient/{pid}").json()
        assert bool(ids_of(covers)) is visible, (who, key)
        chained = world.get(
            who, "Communication", **{"subject:Patient.identifier": f"{NIR_SYSTEM}|{NIR[key]}"}
        )
        assert chained.status_code == 200 and not ids_of(chained.json())  # no thread about them yet
    # the insured of the échelon's funds are found one NIR at a time, never listed
    for path, params in (
        ("Patient", {}), ("Patient", {"identifier": f"{NIR_SYSTEM}|"}), ("Patient", {"birthdate": "ge1900"}),
        ("Patient", {"identifier:missing": "false"}), ("Coverage", {"status": "active"}),
        ("", {"_type": "Patient"}), ("Coverage", {"beneficiary:Patient.birthdate": "ge1900"}),
    ):  # fmt: skip
        answer = world.get("conseil_paris", path, **params)
        assert answer.status_code == 403 and "NIR" in answer.text, (path, params)
    # no coverage, no thread: nobody's insured
    assert not ids_of(
        world.get("conseil_lyon", "Patient", identifier=f"{NIR_SYSTEM}|{NIR['no_cover']}").json()
    )


@own_loop
async def test_the_echelon_writes_to_the_treating_doctor_by_nir_or_by_nam(world: World) -> None:
    lyon, garnier = service(world, "conseil_lyon"), service(world, "garnier")
    card, doctor = await lyon.addressee("medecin", "nir", {"nir": NIR["lyon_patient"]})
    assert card.id == world.ids["lyon_patient"] and doctor.ref == world.refs["garnier"]
    _, by_nam = await lyon.addressee("medecin", "nam", {"nir": NIR["lyon_patient"], "nam": GARNIER_NAM})
    assert by_nam.ref == world.refs["garnier"] and by_nam.nam == GARNIER_NAM
    for values, text in (
        ({"nir": NIR["lyon_patient"], "nam": "12345"}, "9 chiffres"),
        ({"nir": NIR["lyon_patient"], "nam": "999999999"}, "Aucun médecin n'a ce N° AM"),
        ({"nir": "295109912611199", "nam": GARNIER_NAM}, "clé"),
    ):
        with pytest.raises(MessagingError, match=text):
            await lyon.addressee("medecin", "nam", values)
    # a liberal doctor has no structure to be written to
    with pytest.raises(MessagingError, match="n'exerce pas dans un centre"):
        await lyon.addressee("structure", "nir", {"nir": NIR["lyon_patient"]})

    # a draft first: the doctor sees nothing of it (screens and FHIR)
    tid = await lyon.open_thread(card.id, doctor.ref, "", "Début", [("note.pdf", files.pdf())], send=False)
    assert tid not in {t.id for t in await listed(garnier)}
    assert fhir_status(world, "garnier", f"Communication/{tid}") == 404
    drafted = next(t for t in await listed(lyon) if t.id == tid)
    assert drafted.draft and drafted.bin == A_TRAITER and drafted.opened_by_echelon
    draft = drafted.messages[0]
    with pytest.raises(MessagingError, match="objet est obligatoire"):
        await lyon.save_draft(tid, draft.id, "", "Texte complet", send=True)
    await lyon.save_draft(tid, draft.id, "Arrêt de travail : contrôle", "Pouvez-vous préciser ?", send=True)

    # sent: the doctor gets the e-mail (a link, no health data) and the thread, started by the échelon
    mail = world.smtp.mailbox.wait_for(GARNIER_EMAIL, "service médical")
    body = mail.get_body().get_content()  # type: ignore[union-attr]
    assert f"/messagerie/{tid}" in body and "contrôle" not in body
    seen = next(t for t in await listed(garnier) if t.id == tid)
    assert seen.topic == "Arrêt de travail : contrôle" and seen.unread_by(echelon_side=False)
    assert seen.started_by is not None and seen.started_by.badge == "ELSM 69"
    assert [a.title for a in seen.messages[0].attachments] == ["note.pdf"]
    assert next(t for t in await listed(lyon) if t.id == tid).bin == EN_COURS  # waiting for the doctor
    stored = world.get("system", f"Communication/{tid}").json()
    assert stored["sender"]["reference"] == f"Organization/{world.ids['ELSM-69']}"
    assert stored["recipient"] == [{"reference": world.refs["garnier"]}]
    # the doctor answers: À traiter for the échelon, in bold
    await garnier.reply(tid, "Reprise prévue lundi.")
    back = next(t for t in await listed(lyon) if t.id == tid)
    assert back.bin == A_TRAITER and back.unread_by(echelon_side=True)
    # the other échelon never sees it
    assert fhir_status(world, "conseil_paris", f"Communication/{tid}") == 404


@own_loop
async def test_the_echelon_writes_to_a_centre_never_to_its_salaried_doctor(world: World) -> None:
    paris = service(world, "conseil_paris")
    martin, bonnet = service(world, "martin"), service(world, "bonnet")
    nir = NIR["centre_patient"]
    # her médecin traitant is salaried at the centre: the centre is the addressee, never Dr Martin
    with pytest.raises(MessagingError, match="salarié"):
        await paris.addressee("medecin", "nir", {"nir": nir})
    card, centre = await paris.addressee("structure", "nir", {"nir": nir})
    assert centre.ref == f"Organization/{world.ids['centre']}" and centre.finess == "750712184"
    _, by_finess = await paris.addressee("structure", "finess", {"nir": nir, "finess": "750 712 184"})
    assert by_finess.ref == centre.ref
    with pytest.raises(MessagingError, match="FINESS invalide"):
        await paris.addressee("structure", "finess", {"nir": nir, "finess": "750712185"})
    with pytest.raises(MessagingError, match="Aucun médecin traitant"):
        await paris.addressee("structure", "nir", {"nir": NIR["paris_insured"]})

    tid = await paris.open_thread(card.id, centre.ref, "Mi-temps thérapeutique", "Merci de nous écrire.")
    world.smtp.mailbox.wait_for(CENTRE_EMAIL, "service médical")  # the centre's main e-mail
    for svc in (martin, bonnet):  # every salaried doctor of the centre sees it
        assert tid in {t.id for t in await listed(svc)}
    # Dr Bonnet answers for the centre: the centre stays the sender, the row names her
    await bonnet.reply(tid, "Voici le certificat.", [("certificat.pdf", files.pdf("Certificat"))])
    thread = next(t for t in await listed(paris) if t.id == tid)
    assert thread.doctor_writer == "Dr Julie Bonnet" and thread.bin == A_TRAITER
    answer = thread.messages[-1]
    assert answer.sender == centre.ref and answer.writer == "Dr Julie Bonnet"
    stored = world.get("system", f"Communication/{answer.id}").json()
    assert [e["valueReference"]["reference"] for e in stored["extension"] if e["url"] == WRITER_URL] == [
        world.refs["bonnet"]
    ]
    # a doctor of the centre cannot sign a message with a colleague's name (raw FHIR)
    forged = {
        **stored,
        "extension": [{"url": WRITER_URL, "valueReference": {"reference": world.refs["martin"]}}],
    }
    refused(put(world, "bonnet", forged), 403, "ne peut être que vous-même", "Communication.extension")
    assert world.get("system", f"Communication/{answer.id}").json()["extension"] == stored["extension"]


def test_fhir_api_refuses_what_the_back_office_would_not_do(world: World) -> None:
    martin, garnier = world.refs["martin"], world.refs["garnier"]
    centre = f"Organization/{world.ids['centre']}"
    # a salaried doctor is never addressed individually
    refused(post(world, "conseil_paris", header(world, "centre_patient", martin)), 403, "salarié",
            "Communication.recipient[0]")  # fmt: skip
    # a patient outside the échelon's funds: 403 naming the subject, nothing stored
    resp = post(world, "conseil_paris", header(world, "lyon_patient", garnier))
    refused(resp, 403, "hors de votre accès")
    # in the name of another échelon
    refused(post(world, "conseil_paris", header(world, "centre_patient", centre, "ELSM-69")), 403, "échelon")
    # an addressee who does not care for the patient: the message would open her record to him
    stranger = post(world, "conseil_paris", header(world, "paris_insured", garnier))
    refused(stranger, 403, "ne suit pas ce patient", "Communication.recipient[0]")
    # a structure without FINESS, an échelon's fund, a role: not an addressee
    fund = f"Organization/{world.ids['01-751']}"
    refused(post(world, "conseil_paris", header(world, "centre_patient", fund)), 403, "FINESS")
    created = post(world, "conseil_paris", header(world, "centre_patient", centre))
    assert created.status_code == 201, created.text
    # the FHIR layer checks a changed addressee on update too
    moved = {**created.json(), "recipient": [{"reference": martin}]}
    refused(put(world, "conseil_paris", moved), 403, "salarié")
    # Garnier's record stays closed to the échelon that is not his patient's
    assert not ids_of(
        world.get("conseil_paris", "Communication", subject=f"Patient/{world.ids['lyon_patient']}").json()
    )


@own_loop
async def test_a_reply_into_a_deleted_or_closed_thread_is_refused_by_the_fhir_layer(world: World) -> None:
    martin, paris = service(world, "martin"), service(world, "conseil_paris")
    pid = world.ids["centre_patient"]

    def message(thread_id: str, status: str = "completed") -> dict[str, Any]:
        return {
            "resourceType": "Communication", "meta": {"security": [NOPAT_CODING]}, "status": status,
            "category": [{"coding": [CATEGORY]}], "partOf": [{"reference": f"Communication/{thread_id}"}],
            "subject": {"reference": f"Patient/{pid}"}, "sender": {"reference": world.refs["conseil_paris"]},
            "recipient": [{"reference": f"Organization/{world.ids['centre']}"}],
            "sent": "2026-01-05T10:00:00Z", "payload": [{"contentString": "Encore une question"}],
        }  # fmt: skip

    deleted = await martin.start(pid, "Supprimée", "Texte")
    await paris.reply(deleted, "Réponse")
    await martin.delete(deleted)
    before = len((await paris.thread(deleted, mark_read=False)).messages)
    # the issue's reading: the échelon keeps it (reads it) and may start again — a NEW conversation
    for status in ("completed", "preparation"):
        answer = post(world, "conseil_paris", message(deleted, status))
        refused(answer, 422, "ouvrez une nouvelle conversation", "Communication.partOf")
    stored = world.get("conseil_paris", f"Communication/{deleted}").json()
    undo = {**stored, "meta": {"security": stored["meta"]["security"]}}
    refused(put(world, "conseil_paris", undo), 422, "ne peut pas être annulée", "Communication.meta.tag")
    assert len((await paris.thread(deleted, mark_read=False)).messages) == before
    assert fhir_status(world, "martin", f"Communication/{deleted}") == 404  # still gone for the doctor
    again = await paris.open_thread(
        pid, f"Organization/{world.ids['centre']}", "Reprise de l'échange", "Bonjour"
    )
    assert again in {t.id for t in await listed(martin)}

    closed = await martin.start(pid, "Close", "Texte")
    await paris.close(closed)
    refused(post(world, "conseil_paris", message(closed)), 422, "Conversation close", "Communication.partOf")
    header_body = world.get("conseil_paris", f"Communication/{closed}").json()
    refused(put(world, "conseil_paris", {**header_body, "status": "in-progress"}), 422, "ne se rouvre que")
    await martin.reply(closed, "Je reprends")  # the doctor reopens it; the échelon may answer again
    await paris.reply(closed, "Bien noté")
