"""Demo content of the teleconsultation queue (issue 16): three waiting questions, so that the
doctors' queue (``/file-attente``) is not empty after ``make run``, and the three Questionnaires
the answers name (the question, the rating, the doctors' COVID-19 form).

The questions are timed from the moment the demo is loaded (asked 2 to 6 minutes earlier): they
wait out their 15 minutes like any other, then leave the queue (a fresh data dir shows them again).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from fhir_server.operations.teleconsultation import QUESTION, WAIT

BASE = "https://passerelle.fr/fhir/Questionnaire/"
QUESTIONS = [
    # id, patient, channel, specialty, covid, minutes ago, symptoms
    ("1", "demo-pat-nguyen", "chat", "dermatologie", False, 6,
     "Depuis une semaine, une plaque rouge qui démange sur l'avant-bras gauche, de la taille d'une pièce de "
     "deux euros, qui s'étend un peu chaque jour malgré une crème hydratante."),
    ("2", "demo-pat-dupont", "video", "generaliste", True, 4,
     "Fièvre à 38,7 depuis deux jours, toux sèche, courbatures et perte du goût depuis ce matin ; mon "
     "conjoint a été testé positif au COVID-19 avant-hier."),
    ("3", "demo-pat-petit", "audio", "generaliste", False, 2,
     "Douleur à l'oreille droite depuis cette nuit, avec des pleurs à plusieurs reprises, et "
     "37,9 de température ce matin ; pas d'écoulement."),
]  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _questionnaire(name: str, title: str, items: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {
        "resourceType": "Questionnaire",
        "id": f"demo-q-teleconsultation-{name}",
        "url": BASE + f"teleconsultation-{name}",
        "status": "active",
        "title": title,
        "subjectType": ["Patient"],
        "item": [{"linkId": link, "text": text, "type": kind} for link, text, kind in items],
    }


def questionnaires() -> list[dict[str, Any]]:
    return [
        _questionnaire(
            "question",
            "Question de téléconsultation",
            [
                ("symptomes", "Symptômes (100 caractères au moins)", "text"),
                ("traitements", "Traitements en cours", "text"),
                ("antecedents", "Antécédents médicaux", "text"),
                ("grossesse", "Grossesse", "string"),
                ("pays", "Pays où se trouve le patient", "string"),
            ],
        ),
        _questionnaire(
            "evaluation",
            "Évaluation de la téléconsultation",
            [
                (
                    "visite-evitee",
                    "Cette téléconsultation vous a-t-elle évité une visite chez le médecin ?",
                    "boolean",
                ),
                ("note", "Note (1 à 5 étoiles)", "integer"),
                ("commentaire", "Commentaire pour l'équipe qualité", "text"),
            ],
        ),
        _questionnaire(
            "covid19",
            "COVID-19 : formulaire du médecin",
            [
                ("type", "Type de téléconsultation", "choice"),
                ("parcours", "Parcours du patient", "choice"),
                ("pcr", "Confirmation par test PCR", "choice"),
                ("debut", "Date de début des symptômes", "date"),
                ("evaluation", "Évaluation de la situation", "choice"),
                ("commentaire", "Commentaire", "text"),
            ],
        ),
    ]


def resources(today: date) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    out = questionnaires()
    for key, patient, channel, specialty, covid, ago, symptoms in QUESTIONS:
        asked = now - timedelta(minutes=ago)
        encounter = f"demo-tc-encounter-{key}"
        subject = {"reference": f"Patient/{patient}"}
        out.append(
            {
                "resourceType": "Encounter",
                "id": encounter,
                "status": "arrived",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
                "subject": subject,
                "reasonCode": [{"text": "COVID-19" if covid else "Question de téléconsultation"}],
            }
        )
        out.append(
            {
                "resourceType": "QuestionnaireResponse",
                "id": f"demo-tc-question-{key}",
                "questionnaire": BASE + "teleconsultation-question",
                "status": "completed",
                "subject": subject,
                "encounter": {"reference": f"Encounter/{encounter}"},
                "authored": _iso(asked),
                "item": [
                    {"linkId": "symptomes", "text": "Symptômes", "answer": [{"valueString": symptoms}]},
                    {
                        "linkId": "pays",
                        "text": "Pays où se trouve le patient",
                        "answer": [{"valueString": "France"}],
                    },
                ],
            }
        )
        out.append(
            {
                "resourceType": "Task",
                "id": f"demo-tc-task-{key}",
                "status": "requested",
                "businessStatus": {"text": "en-attente"},
                "intent": "order",
                "priority": "asap",
                "code": {"coding": [QUESTION]},
                "focus": {"reference": f"Encounter/{encounter}"},
                "encounter": {"reference": f"Encounter/{encounter}"},
                "for": subject,
                "requester": subject,
                "authoredOn": _iso(asked),
                "lastModified": _iso(asked),
                "restriction": {"period": {"start": _iso(asked), "end": _iso(asked + WAIT)}},
                "input": [
                    {"type": {"text": "channel"}, "valueCode": channel},
                    {"type": {"text": "specialty"}, "valueCode": specialty},
                    {"type": {"text": "routed"}, "valueCode": specialty},
                    {"type": {"text": "covid"}, "valueBoolean": covid},
                ],
            }
        )
    return out
