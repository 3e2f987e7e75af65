"""Demo content of the portal (clinician's workspace): who logs in as whom, and their patients.

The dev Pro Santé Connect look-alike's professionals are given fixed Practitioner ids here
(the login maps an idNat_PS to its Practitioner through the ``auth_professionals`` record
that :func:`after_load` seeds), so that the demo patients, agenda and requests can name them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from fhir_server.identifiers import FINESS_SYSTEM, IDNATPS_SYSTEM, RPPS_SYSTEM

# idNat_PS of the dev PSC professionals -> fixed Practitioner id
PROFESSIONALS = {
    "899700366240": "demo-psc-martin",  # Dr Marie Martin, GP, health centre Paris 15 (FINESS 750712184)
    "899700007075": "demo-psc-bonnet",  # Dr Julie Bonnet, GP, same health centre
    "899700008081": "demo-psc-garnier",  # Dr Henri Garnier, GP, own practice (shares no patient)
}
HEALTH_CENTRE = "demo-org-cds-paris15"


def _practitioner(pid: str, idnat: str, given: str, family: str) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": pid,
        "identifier": [
            {"system": IDNATPS_SYSTEM, "value": idnat},
            {"system": RPPS_SYSTEM, "value": idnat[1:]},
        ],
        "active": True,
        "name": [{"use": "official", "prefix": ["Dr"], "family": family, "given": [given]}],
    }


LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
TASKS = "https://passerelle.fr/fhir/CodeSystem/portal-task"


def _at(day: date, hour: int = 10) -> str:
    return datetime.combine(day, time(hour, 0)).isoformat() + "+01:00"


def _patient(pid: str, given: str, family: str, gender: str, born: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": gender,
        "birthDate": born,
        **extra,
    }


def _vital(oid: str, patient: str, day: date, code: str, display: str, **value: Any) -> dict[str, Any]:
    cat = "http://terminology.hl7.org/CodeSystem/observation-category"
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [{"coding": [{"system": cat, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": _at(day),
        "performer": [{"reference": "Practitioner/demo-psc-martin"}],
        **value,
    }


def _bp(oid: str, patient: str, day: date, sys_: int, dia: int) -> dict[str, Any]:
    def comp(code: str, display: str, v: int) -> dict[str, Any]:
        return {
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "valueQuantity": {"value": v, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        }

    obs = _vital(oid, patient, day, "85354-9", "Blood pressure panel")
    obs["component"] = [comp("8480-6", "Systolic blood pressure", sys_), comp("8462-4", "Diastolic", dia)]
    return obs


def clinical(today: date) -> list[dict[str, Any]]:
    """Dr Martin's patients with history, vital signs and pending requests; one of Dr Garnier's."""
    martin = {"reference": "Practitioner/demo-psc-martin"}
    out: list[dict[str, Any]] = [
        _patient("demo-pt-bernard", "Jeanne", "Bernard", "female", "1958-04-09",
                 identifier=[{"use": "official", "system": INS_NIR, "value": "258047512345669"}],
                 telecom=[{"system": "phone", "value": "06 11 22 33 44", "use": "mobile"}],
                 generalPractitioner=[martin]),
        _patient("demo-pt-moreau", "Lucas", "Moreau", "male", "1990-11-23", generalPractitioner=[martin]),
        _patient("demo-pt-haddad", "Sarah", "Haddad", "female", "1975-02-14",
                 managingOrganization={"reference": f"Organization/{HEALTH_CENTRE}"}),
        _patient("demo-pt-roussel", "Camille", "Roussel", "female", "1988-09-03",
                 managingOrganization={"reference": f"Organization/{HEALTH_CENTRE}"}),
        _patient("demo-pt-lefevre", "Paul", "Lefèvre", "male", "1949-07-30",
                 generalPractitioner=[{"reference": "Practitioner/demo-psc-garnier"}]),
        {
            "resourceType": "Condition",
            "id": "demo-cond-bernard-hta",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003",
                                 "display": "Hypertension artérielle"}], "text": "Hypertension artérielle"},
            "subject": {"reference": "Patient/demo-pt-bernard"},
            "onsetDateTime": "2019-03-01",
        },
        {
            "resourceType": "Encounter",
            "id": "demo-enc-bernard-1",
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": "Patient/demo-pt-bernard"},
            "participant": [{"individual": martin}],
            "period": {"start": _at(today - timedelta(days=60)), "end": _at(today - timedelta(days=60), 11)},
            "reasonCode": [{"text": "Suivi tension artérielle"}],
        },
        {
            "resourceType": "Encounter",
            "id": "demo-enc-moreau-avis",
            "status": "planned",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
            "subject": {"reference": "Patient/demo-pt-moreau"},
            "participant": [{"individual": martin}],
            "period": {"start": _at(today - timedelta(days=1), 18)},
            "reasonCode": [{"text": "Éruption cutanée depuis trois jours"}],
        },
        {
            "resourceType": "Task",
            "id": "demo-task-moreau-avis",
            "identifier": [{"system": "urn:passerelle:demande", "value": "DA-2026-0001"}],
            "status": "requested",
            "intent": "order",
            "code": {"coding": [{"system": TASKS, "code": "demande-avis", "display": "Demande d'avis"}]},
            "description": "Éruption cutanée depuis trois jours, démangeaisons la nuit.",
            "focus": {"reference": "Encounter/demo-enc-moreau-avis"},
            "for": {"reference": "Patient/demo-pt-moreau"},
            "authoredOn": _at(today - timedelta(days=1), 18),
            "requester": {"reference": "Patient/demo-pt-moreau"},
            "owner": martin,
        },
        {
            "resourceType": "Encounter",
            "id": "demo-enc-bernard-avis",
            "status": "planned",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
            "subject": {"reference": "Patient/demo-pt-bernard"},
            "participant": [{"individual": martin}],
            "period": {"start": _at(today, 8)},
            "reasonCode": [{"text": "Vertiges au lever"}],
        },
        {
            "resourceType": "Task",
            "id": "demo-task-bernard-avis",
            "identifier": [{"system": "urn:passerelle:demande", "value": "DA-2026-0002"}],
            "status": "requested",
            "intent": "order",
            "code": {"coding": [{"system": TASKS, "code": "demande-avis", "display": "Demande d'avis"}]},
            "description": "Vertiges le matin au lever depuis une semaine, sous traitement pour la tension.",
            "focus": {"reference": "Encounter/demo-enc-bernard-avis"},
            "for": {"reference": "Patient/demo-pt-bernard"},
            "authoredOn": _at(today, 8),
            "requester": {"reference": "Patient/demo-pt-bernard"},
            "owner": martin,
        },
    ]  # fmt: skip
    weights = [72.4, 72.0, 71.6, 71.1, 70.8, 70.2]
    pressures = [(152, 94), (148, 92), (145, 90), (141, 88), (138, 86), (134, 84)]
    for i, (weight, (sys_, dia)) in enumerate(zip(weights, pressures, strict=True)):
        day = today - timedelta(days=30 * (len(weights) - 1 - i) + 1)
        out.append(
            _vital(f"demo-obs-bernard-poids-{i}", "demo-pt-bernard", day, "29463-7", "Body weight",
                   valueQuantity={"value": weight, "unit": "kg", "system": UCUM, "code": "kg"})
        )  # fmt: skip
        out.append(_bp(f"demo-obs-bernard-pa-{i}", "demo-pt-bernard", day, sys_, dia))
    return out


def agenda(today: date) -> list[dict[str, Any]]:
    """Dr Martin's agenda: téléconsultation slots tomorrow morning, office slots the day after,
    one urgent slot, two of them booked (a video appointment with Lucas Moreau)."""
    act = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    v2 = "http://terminology.hl7.org/CodeSystem/v2-0276"
    out: list[dict[str, Any]] = [
        {"resourceType": "Schedule", "id": "demo-sched-martin", "active": True,
         "actor": [{"reference": "Practitioner/demo-psc-martin"}], "comment": "Agenda du praticien"},
    ]  # fmt: skip
    plan = [
        (today + timedelta(days=1), 9, "VR", "ROUTINE", "Téléconsultation"),
        (today + timedelta(days=2), 14, "AMB", "ROUTINE", "Consultation au cabinet"),
    ]
    for day, hour, service, kind, label in plan:
        for i in range(6):
            start = datetime.combine(day, time(hour, 0)) + timedelta(minutes=20 * i)
            out.append(
                {
                    "resourceType": "Slot",
                    "id": f"demo-slot-{day:%m%d}-{i}",
                    "schedule": {"reference": "Schedule/demo-sched-martin"},
                    "status": "busy" if i == 0 else "free",
                    "start": start.isoformat() + "+01:00",
                    "end": (start + timedelta(minutes=20)).isoformat() + "+01:00",
                    "serviceType": [{"coding": [{"system": act, "code": service}], "text": label}],
                    "appointmentType": {"coding": [{"system": v2, "code": kind}]},
                }
            )
    urgent = datetime.combine(today + timedelta(days=1), time(18, 0))
    out.append(
        {
            "resourceType": "Slot",
            "id": "demo-slot-urgence",
            "schedule": {"reference": "Schedule/demo-sched-martin"},
            "status": "free",
            "start": urgent.isoformat() + "+01:00",
            "end": (urgent + timedelta(minutes=30)).isoformat() + "+01:00",
            "serviceType": [{"coding": [{"system": act, "code": "AMB"}], "text": "Urgence"}],
            "appointmentType": {"coding": [{"system": v2, "code": "EMERGENCY"}]},
        }
    )
    for appt_id, (day, hour, service, kind, label), patient, reason in (
        ("demo-appt-moreau-video", plan[0], "demo-pt-moreau", "Suivi de l'éruption cutanée"),
        ("demo-appt-bernard-cabinet", plan[1], "demo-pt-bernard", "Renouvellement du traitement"),
    ):
        start = datetime.combine(day, time(hour, 0))
        out.append(
            {
                "resourceType": "Appointment",
                "id": appt_id,
                "status": "booked",
                "serviceType": [{"coding": [{"system": act, "code": service}], "text": label}],
                "appointmentType": {"coding": [{"system": v2, "code": kind}]},
                "description": reason,
                "start": start.isoformat() + "+01:00",
                "end": (start + timedelta(minutes=20)).isoformat() + "+01:00",
                "slot": [{"reference": f"Slot/demo-slot-{day:%m%d}-0"}],
                "participant": [
                    {"actor": {"reference": "Practitioner/demo-psc-martin"}, "status": "accepted"},
                    {"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"},
                ],
            }
        )
    return out


def resources(today: date) -> list[dict[str, Any]]:
    return [*_base(), *clinical(today), *agenda(today)]


def _base() -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Organization",
            "id": HEALTH_CENTRE,
            "identifier": [{"system": FINESS_SYSTEM, "value": "750712184"}],
            "active": True,
            "name": "Centre de santé Paris 15",
            "address": [{"line": ["20 rue de Vaugirard"], "city": "Paris", "postalCode": "75015"}],
        },
        _practitioner("demo-psc-martin", "899700366240", "Marie", "Martin"),
        _practitioner("demo-psc-bonnet", "899700007075", "Julie", "Bonnet"),
        _practitioner("demo-psc-garnier", "899700008081", "Henri", "Garnier"),
    ]


async def after_load(db: Any) -> None:
    """Map each dev PSC professional to their fixed Practitioner (first login keeps it)."""
    for idnat, pid in PROFESSIONALS.items():
        await db["auth_professionals"].update_one(
            {"_id": idnat}, {"$setOnInsert": {"practitioner": pid, "roles": {}}}, upsert=True
        )
