"""The teleconsultation queue's server rules, through the FHIR API with real tokens.

Concurrent takes (exactly one wins), the 15-minute deadline with the server clock moved, the
symptoms checked server-side, what the queue reveals before a question is taken, and the
attacks: a doctor who did not take the question, another patient, a direct write of the Task.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bench.harness import ServerProcess
from tests.fhir_server.auth_support import SmtpSink
from tests.portal.browser import DR_BONNET, DR_GARNIER, DR_MARTIN
from tests.portal.tc_support import TC, ask, doctor_api, new_patient, params, patient_api, task_of


@pytest.fixture(scope="module")
def doctors(portal_server: ServerProcess) -> dict[str, httpx.Client]:
    return {idnat: doctor_api(portal_server, idnat) for idnat in (DR_MARTIN, DR_BONNET, DR_GARNIER)}


def test_concurrent_takes_one_wins_and_only_the_taker_reads_the_record(
    portal_server: ServerProcess, smtp: SmtpSink, doctors: dict[str, httpx.Client]
) -> None:
    who = new_patient(portal_server, smtp)
    patient = patient_api(portal_server, who)
    submitted = ask(patient, who["id"])
    assert submitted.status_code == 201, submitted.text
    task = task_of(submitted)
    assert task["status"] == "requested" and task["for"]["reference"] == f"Patient/{who['id']}"
    smtp.mailbox.wait_for(who["email"], "bien été envoyée")
    # before anyone takes it: Dr Garnier sees it in the queue, without the patient
    queue = doctors[DR_GARNIER].get("/Task/$tc-queue").json()
    entry = next(e["resource"] for e in queue["entry"] if e["resource"]["id"] == task["id"])
    assert not {"for", "encounter", "focus", "requester", "description"} & set(entry)
    assert doctors[DR_GARNIER].get(f"/Patient/{who['id']}").status_code == 404
    assert doctors[DR_GARNIER].get(f"/Task/{task['id']}").status_code == 404
    # 12 parallel takes by three doctors: exactly one wins
    takers = [doctors[d] for d in (DR_MARTIN, DR_BONNET, DR_GARNIER)] * 4
    with ThreadPoolExecutor(len(takers)) as pool:
        codes = list(pool.map(lambda c: c.post(f"/Task/{task['id']}/$tc-take", json=params()), takers))
    statuses = sorted(r.status_code for r in codes)
    assert statuses.count(200) == 1 and statuses.count(409) == len(takers) - 1, statuses
    winner = next(r for r in codes if r.status_code == 200)
    owner = task_of(winner)["owner"]["reference"]
    taker = {
        "Practitioner/demo-pra-martin": DR_MARTIN,
        "Practitioner/demo-pra-bonnet": DR_BONNET,
        "Practitioner/demo-pra-garnier": DR_GARNIER,
    }[owner]
    assert doctors[taker].get(f"/Patient/{who['id']}").status_code == 200
    assert doctors[taker].get(f"/Task/{task['id']}").json()["owner"]["reference"] == owner
    # a doctor outside the taker's health centre still cannot read the record
    outsider = DR_GARNIER if taker != DR_GARNIER else DR_MARTIN
    for path in (
        f"/Patient/{who['id']}",
        f"/Task/{task['id']}",
        f"/Encounter/{task['encounter']['reference'].split('/')[1]}",
    ):
        assert doctors[outsider].get(path).status_code == 404, path
    found = doctors[outsider].get("/QuestionnaireResponse", params={"subject": f"Patient/{who['id']}"}).json()
    assert found.get("total", len(found.get("entry", []))) == 0
    # the queue Task is written by the operations only: even its owner cannot PUT it
    stored = doctors[taker].get(f"/Task/{task['id']}").json()
    stored["restriction"]["period"]["end"] = "2099-01-01T00:00:00Z"
    refused = doctors[taker].put(f"/Task/{task['id']}", json=stored)
    assert refused.status_code == 403 and "$tc" in refused.text
    # and taken, it has left the queue
    queue = doctors[DR_GARNIER].get("/Task/$tc-queue").json()
    assert task["id"] not in {e["resource"]["id"] for e in queue.get("entry", [])}


def test_patient_cannot_forge_a_queue_entry_nor_read_another_question(
    portal_server: ServerProcess, smtp: SmtpSink
) -> None:
    alice, bob = new_patient(portal_server, smtp), new_patient(portal_server, smtp)
    api_a, api_b = patient_api(portal_server, alice), patient_api(portal_server, bob)
    forged = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": TC, "code": "question"}]},
        "for": {"reference": f"Patient/{alice['id']}"},
        "restriction": {"period": {"end": "2099-01-01T00:00:00Z"}},
    }
    assert api_a.post("/Task", json=forged).status_code == 403
    task = task_of(ask(api_a, alice["id"]))
    assert api_b.get(f"/Task/{task['id']}/$tc-status").status_code == 404
    assert api_b.post(f"/Task/{task['id']}/$tc-cancel", json=params()).status_code == 404
    assert api_b.get(f"/Task/{task['id']}").status_code == 404
    # nor submit a question for a record out of reach
    other = api_a.post(
        "/Task/$tc-submit",
        json=params(encounter=task["encounter"]["reference"], channel="chat", specialty="generaliste"),
    )
    assert other.status_code == 409  # already sent
    bob_try = api_b.post(
        "/Task/$tc-submit",
        json=params(encounter=task["encounter"]["reference"], channel="chat", specialty="generaliste"),
    )
    assert bob_try.status_code == 404


def test_short_symptoms_refused_by_the_server(portal_server: ServerProcess, smtp: SmtpSink) -> None:
    who = new_patient(portal_server, smtp)
    answer = ask(patient_api(portal_server, who), who["id"], symptoms="Mal à la gorge depuis hier.")
    assert answer.status_code == 422
    issue = answer.json()["issue"][0]
    assert "100 caractères" in issue["diagnostics"] and "symptomes" in issue["expression"][0]


def test_fifteen_minutes_then_wait_again_or_cancel(
    portal_server: ServerProcess,
    smtp: SmtpSink,
    doctors: dict[str, httpx.Client],
    tc_clock: Callable[[float], None],
) -> None:
    who = new_patient(portal_server, smtp)
    api = patient_api(portal_server, who)
    task = task_of(ask(api, who["id"]))
    status = api.get(f"/Task/{task['id']}/$tc-status")
    assert task_of(status)["status"] == "requested"
    tc_clock(14 * 60)  # not yet
    assert task_of(api.get(f"/Task/{task['id']}/$tc-status"))["status"] == "requested"
    tc_clock(15 * 60 + 5)
    expired = task_of(api.get(f"/Task/{task['id']}/$tc-status"))
    assert expired["status"] == "on-hold" and expired["businessStatus"]["text"] == "expire"
    mail = smtp.mailbox.wait_for(who["email"], "attend toujours")
    assert f"/teleconsultation/{task['encounter']['reference'].split('/')[1]}" in mail.get_content()
    queue = doctors[DR_MARTIN].get("/Task/$tc-queue").json()
    assert task["id"] not in {e["resource"]["id"] for e in queue.get("entry", [])}
    assert doctors[DR_MARTIN].post(f"/Task/{task['id']}/$tc-take", json=params()).status_code == 409
    # wait again: a new 15-minute deadline from the (moved) clock
    again = task_of(api.post(f"/Task/{task['id']}/$tc-wait-again", json=params()))
    assert again["status"] == "requested"
    queue = doctors[DR_MARTIN].get("/Task/$tc-queue").json()
    assert task["id"] in {e["resource"]["id"] for e in queue.get("entry", [])}
    # cancel: the "forte affluence" e-mail
    cancelled = task_of(api.post(f"/Task/{task['id']}/$tc-cancel", json=params()))
    assert cancelled["status"] == "cancelled"
    smtp.mailbox.wait_for(who["email"], "forte affluence")
    assert doctors[DR_MARTIN].post(f"/Task/{task['id']}/$tc-take", json=params()).status_code == 409


def test_a_question_nobody_looks_at_expires_by_itself(
    portal_server: ServerProcess, smtp: SmtpSink, tc_clock: Callable[[float], None]
) -> None:
    """The patient closed the page and no doctor opens the queue: the server's own sweep still
    expires the question after 15 minutes and sends the e-mail, with a working link, once."""
    who = new_patient(portal_server, smtp)
    api = patient_api(portal_server, who)
    task = task_of(ask(api, who["id"]))
    page = f"/teleconsultation/{task['encounter']['reference'].split('/')[1]}"
    tc_clock(15 * 60 + 5)
    mail = smtp.mailbox.wait_for(who["email"], "attend toujours", timeout=60)  # no request made
    root = portal_server.base.removesuffix("/fhir")
    assert smtp.mailbox.link(mail) == f"{root}{page}"
    expired = task_of(api.get(f"/Task/{task['id']}/$tc-status"))
    assert expired["status"] == "on-hold" and expired["businessStatus"]["text"] == "expire"
    sent = [
        m for m in smtp.mailbox.messages if m["To"] == who["email"] and "attend toujours" in str(m["Subject"])
    ]
    assert len(sent) == 1
