"""The messaging service against a real auth-enabled server: both sides, through the FHIR API only.

Each user gets the service with an httpx client carrying their own token, as the portal does;
what a user must not see is checked both through the service and straight on the FHIR API.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from apps.portal.messaging import A_TRAITER, CLOS, EN_COURS, MessagingError, NotFound
from tests.fhir_server.auth_support import bearer
from tests.portal.messaging import files
from tests.portal.messaging.helpers import fhir_status, ids_of, listed, own_loop, service
from tests.portal.messaging.world import CENTRE_EMAIL, GARNIER_NAM, NIR, World, build_world


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    w = build_world()
    yield w
    w.stop()


@own_loop
async def test_patient_card_comes_from_the_coverage_and_the_fund_table(world: World) -> None:
    martin = service(world, "martin")
    card = await martin.find_patient(NIR["centre_patient"])
    assert card.id == world.ids["centre_patient"]
    assert (card.fund, card.echelon_name, card.rank, card.regime) == (
        "CPAM de Paris", "ELSM de Paris", "01", "Régime général"
    )  # fmt: skip
    assert card.birth_date == "1980-05-17" and card.name == "DUPONT Alice"
    with pytest.raises(MessagingError, match="clé"):
        await martin.find_patient("295109912611199")
    # a valid NIR of a patient she does not care for: not found (the FHIR layer hides them)
    with pytest.raises(MessagingError, match="Aucun de vos patients"):
        await martin.find_patient(NIR["lyon_patient"])
    garnier = service(world, "garnier")
    assert (await garnier.find_patient(NIR["lyon_patient"])).echelon_name == "ELSM du Rhône"
    with pytest.raises(MessagingError, match="Aucune couverture active"):
        await garnier.find_patient(NIR["no_cover"])


@own_loop
async def test_the_whole_exchange_between_a_centre_and_the_medecin_conseil(world: World) -> None:
    martin, bonnet = service(world, "martin"), service(world, "bonnet")
    paris, lyon = service(world, "conseil_paris"), service(world, "conseil_lyon")
    pid = world.ids["centre_patient"]
    report, photo = files.pdf("Bilan"), files.png()

    # the doctor writes with attachments; she writes as her health centre
    tid = await martin.start(pid, "Reprise à temps partiel", "Bonjour, voici le bilan.",
                             [("bilan.pdf", report), ("plaie.png", photo)])  # fmt: skip
    header = world.get("system", f"Communication/{tid}").json()
    assert header["sender"]["reference"] == f"Organization/{world.ids['centre']}"
    assert header["recipient"] == [{"reference": f"Organization/{world.ids['ELSM-75']}"}]

    # the médecin conseil of the patient's échelon sees it in À traiter, unread
    inbox = await listed(paris)
    thread = next(t for t in inbox if t.id == tid)
    assert thread.bin == A_TRAITER and thread.unread_by(echelon_side=True)
    assert thread.correspondent is not None and thread.correspondent.finess == "750712184"
    assert thread.started_by is not None and thread.started_by.badge == "CE75"
    opened = await paris.thread(tid)
    files_seen = opened.messages[0].attachments
    assert [(a.title, a.content_type, a.size) for a in files_seen] == [
        ("bilan.pdf", "application/pdf", len(report)), ("plaie.png", "image/png", len(photo))
    ]  # fmt: skip
    assert await paris.attachment(files_seen[0].binary) == ("application/pdf", report)
    assert not next(t for t in await listed(paris) if t.id == tid).unread_by(echelon_side=True)

    # another échelon, a patient, a doctor outside the centre: nothing (service and FHIR)
    assert tid not in {t.id for t in await listed(lyon)}
    for who in ("conseil_lyon", "patient", "garnier"):
        assert fhir_status(world, who, f"Communication/{tid}") == 404, who
        assert fhir_status(world, who, f"Communication/{opened.messages[0].id}") == 404, who
        assert fhir_status(world, who, files_seen[0].binary) == 404, who
    mine = world.get("patient", "Communication", subject=world.refs["patient"]).json()
    assert mine["resourceType"] == "Bundle" and not ids_of(mine)
    assert not ids_of(world.get("patient", "Task").json())
    assert world.get("patient", f"Patient/{pid}").status_code == 200  # her record itself is hers

    # the médecin conseil replies: the centre gets the e-mail (no health data), the thread is En cours
    await paris.reply(tid, "Merci, pouvez-vous préciser la date de reprise ?")
    mail = world.smtp.mailbox.wait_for(CENTRE_EMAIL, "service médical")
    body = mail.get_body().get_content()  # type: ignore[union-attr]
    assert f"http://portail.test/messagerie/{tid}" in body and "Reprise" not in body
    after = next(t for t in await listed(paris) if t.id == tid)
    assert after.bin == EN_COURS and after.writer == "Dr Nadia Roux"
    assert not after.read_by_other(echelon_side=True)

    # the colleague of the centre sees the thread she did not start, in bold until she opens it
    shared = next(t for t in await listed(bonnet) if t.id == tid)
    assert shared.unread_by(echelon_side=False)
    await bonnet.thread(tid)
    assert not next(t for t in await listed(martin) if t.id == tid).unread_by(echelon_side=False)
    assert next(t for t in await listed(paris) if t.id == tid).read_by_other(echelon_side=True)  # [Lu]

    # the doctor replies: back in À traiter; the échelon closes: Clos, and may not write any more
    await martin.reply(tid, "Reprise prévue le 4 janvier.")
    assert next(t for t in await listed(paris) if t.id == tid).bin == A_TRAITER
    await paris.close(tid)
    closed = next(t for t in await listed(paris) if t.id == tid)
    assert closed.bin == CLOS and closed.status == "completed"
    with pytest.raises(MessagingError, match="close"):
        await paris.reply(tid, "Encore une question")
    assert len((await paris.thread(tid)).messages) == 3  # still readable

    # the doctor writes again: the conversation is back in À traiter
    await bonnet.reply(tid, "Complément : certificat joint.", [("certificat.docx", files.docx())])
    reopened = next(t for t in await listed(paris) if t.id == tid)
    assert reopened.bin == A_TRAITER and reopened.status == "in-progress" and reopened.unread_by(True)

    # a médecin conseil never opens a thread, never deletes
    with pytest.raises(MessagingError):
        await paris.start(pid, "Objet", "Texte")
    with pytest.raises(MessagingError):
        await paris.delete(tid)


@own_loop
async def test_drafts_stay_with_their_author_until_sent(world: World) -> None:
    garnier, lyon = service(world, "garnier"), service(world, "conseil_lyon")
    pid = world.ids["lyon_patient"]
    tid = await garnier.start(pid, "", "Début du message…", [("tableau.xlsx", files.xlsx())], send=False)
    shown = next(t for t in await listed(garnier) if t.id == tid)
    assert shown.draft and shown.status == "preparation"
    assert tid not in {t.id for t in await listed(lyon)}
    assert fhir_status(world, "conseil_lyon", f"Communication/{tid}") == 404
    draft = shown.messages[0]
    # sending without an object: refused, the draft is untouched
    with pytest.raises(MessagingError, match="objet est obligatoire"):
        await garnier.save_draft(tid, draft.id, "", "Texte complet", send=True)
    # an 11 MB file, a 6th attachment: refused, the draft keeps its text and its file
    with pytest.raises(MessagingError, match="10 Mo"):
        await garnier.save_draft(tid, draft.id, "Arrêt", "Texte", [("gros.pdf", files.big(11 * 1024 * 1024))])
    with pytest.raises(MessagingError, match="5 pièces jointes"):
        await garnier.save_draft(
            tid, draft.id, "Arrêt", "Texte", [(f"{i}.png", files.png()) for i in range(5)]
        )
    kept = (await garnier.thread(tid)).messages[0]
    assert kept.text == "Début du message…" and [a.title for a in kept.attachments] == ["tableau.xlsx"]
    await garnier.save_draft(tid, draft.id, "Arrêt de travail prolongé", "Texte complet", send=True)
    seen = next(t for t in await listed(lyon) if t.id == tid)
    assert seen.topic == "Arrêt de travail prolongé" and seen.bin == A_TRAITER and not seen.draft
    assert seen.correspondent is not None and seen.correspondent.nam == GARNIER_NAM
    assert seen.correspondent.town == "Lyon" and seen.started_by is not None and seen.started_by.badge == "HG"
    # a liberal doctor is notified at his own e-mail (from Pro Santé Connect) when the échelon writes
    await lyon.reply(tid, "Bien reçu.")
    world.smtp.mailbox.wait_for("henri.garnier@test.mssante.fr", "service médical")
    # a reply kept as a draft is invisible to the échelon
    mid = await garnier.reply(tid, "Brouillon de réponse", send=False)
    assert fhir_status(world, "conseil_lyon", f"Communication/{mid}") == 404
    assert next(t for t in await listed(garnier) if t.id == tid).draft


@own_loop
async def test_delete_hides_the_conversation_from_the_whole_centre_only(world: World) -> None:
    martin, bonnet, paris = (
        service(world, "martin"),
        service(world, "bonnet"),
        service(world, "conseil_paris"),
    )
    tid = await martin.start(world.ids["centre_patient"], "À supprimer", "Message", [("a.jpg", files.jpeg())])
    await paris.reply(tid, "Réponse")
    before = await paris.thread(tid)
    await bonnet.delete(tid)  # a colleague deletes it for the centre
    for svc in (martin, bonnet):
        assert tid not in {t.id for t in await listed(svc)}
        with pytest.raises(NotFound):
            await svc.thread(tid)
    for who in ("martin", "bonnet"):
        assert fhir_status(world, who, f"Communication/{tid}") == 404
        for m in before.messages:
            assert fhir_status(world, who, f"Communication/{m.id}") == 404
            for a in m.attachments:
                assert fhir_status(world, who, a.binary) == 404
        found = world.get(who, "Communication", **{"part-of": f"Communication/{tid}"}).json()
        assert not ids_of(found)
        assert not ids_of(world.get(who, "Task", focus=f"Communication/{tid}").json())
    # definitive: they cannot bring it back by writing it again
    stored = world.get("system", f"Communication/{tid}").json()
    restored = {**stored, "meta": {}}
    headers = {**bearer(world.tokens["martin"]), "Content-Type": "application/fhir+json"}
    put = httpx.put(f"{world.base}/Communication/{tid}", json=restored, headers=headers)
    assert put.status_code == 404
    # the échelon keeps it, can read it, cannot write in it any more
    kept = await paris.thread(tid)
    assert [m.text for m in kept.messages] == ["Message", "Réponse"] and kept.withdrawn
    with pytest.raises(MessagingError, match="supprimé"):
        await paris.reply(tid, "Encore ?")


@own_loop
async def test_search_on_both_sides_is_a_paged_fhir_search(world: World) -> None:
    martin, paris = service(world, "martin"), service(world, "conseil_paris")
    tid = await martin.start(world.ids["centre_patient"], "Recherche", "Texte")
    await paris.reply(tid, "Vu")
    assert tid in {t.id for t in await listed(martin, "dupont")}
    assert tid in {t.id for t in await listed(martin, NIR["centre_patient"])}
    assert tid not in {t.id for t in await listed(martin, "Moreau")}
    with pytest.raises(MessagingError, match="NIR complet"):
        await listed(martin, "2550814")  # a token search: the whole NIR, never a prefix
    for criteria in (
        {"patient": "Alice"}, {"patient": NIR["centre_patient"]}, {"professional": "750712184"},
        {"postal_code": "75015"}, {"town": "paris"}, {"name": "centre de sante"}, {"agent": "Roux"},
        {"patient": "dupont", "town": "Paris", "agent": "nadia"},
    ):  # fmt: skip
        assert tid in {t.id for t in await listed(paris, **criteria)}, criteria
    for criteria in (
        {"patient": "Moreau"},
        {"professional": GARNIER_NAM},
        {"town": "Lyon"},
        {"agent": "Faure"},
        {"patient": "dupont", "town": "Lyon"},
    ):
        assert tid not in {t.id for t in await listed(paris, **criteria)}, criteria
    garnier_threads = await listed(service(world, "conseil_lyon"), professional=GARNIER_NAM)
    assert garnier_threads
    assert all(t.correspondent and t.correspondent.nam == GARNIER_NAM for t in garnier_threads)

    # any number of threads: the server sorts (latest activity first) and pages
    extra = [await martin.start(world.ids["centre_patient"], f"Page {i}", "Texte") for i in range(3)]
    first = await martin.threads(count=2)
    assert [t.id for t in first.threads] == [extra[2], extra[1]] and first.next and not first.previous
    second = await martin.threads(count=2, cursor=first.next)
    assert second.threads[0].id == extra[0] and second.previous
    await paris.reply(tid, "Une activité récente")  # the thread's header moves to the top
    assert (await martin.threads(count=1)).threads[0].id == tid
    bins = await paris.bin_counts(patient="dupont")
    assert bins[EN_COURS] >= 1 and sum(bins.values()) == len(await listed(paris, patient="dupont"))
    en_cours = await listed(paris, bin=EN_COURS, patient="dupont")
    assert tid in {t.id for t in en_cours} and all(t.bin == EN_COURS for t in en_cours)
    everything = await listed(martin)
    assert [t.last_date for t in everything] == sorted((t.last_date for t in everything), reverse=True)
