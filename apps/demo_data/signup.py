"""Demo: a doctor without a CPS/e-CPS card (a local account at the lower assurance level).

Dr Antoine Lemaire logs in with e-mail, password and an SMS code (the dev SMS outbox); his
tokens carry ``acr`` "2fa", and the cross-border service refuses him (PSC only). His RPPS is
a test number (997… prefix) with a valid Luhn key, taken by no dev PSC professional.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_server.auth.pro_accounts import ACCOUNT_ACR, TERMS_VERSION, practitioner_resource

PRACTITIONER = "demo-pra-lemaire"
ACCOUNT = {
    "_id": "demo-account-lemaire",
    "kind": "practitioner",
    "email": "antoine.lemaire@exemple.fr",
    "phone": "+33611223344",
    "given": "Antoine",
    "family": "Lemaire",
    "rpps": "99700012349",
    "profession": "10",
    "practitioner": PRACTITIONER,
}
PASSWORD = "demo-passerelle"


def resources(today: date) -> list[dict[str, Any]]:
    practitioner = practitioner_resource(ACCOUNT)
    practitioner["id"] = PRACTITIONER
    patient = {
        "resourceType": "Patient",
        "id": "demo-pt-fabre",
        "active": True,
        "name": [{"use": "official", "family": "Fabre", "given": ["Louise"]}],
        "gender": "female",
        "birthDate": "1967-05-21",
        "generalPractitioner": [{"reference": f"Practitioner/{PRACTITIONER}"}],
    }
    return [practitioner, patient]


async def after_load(db: Any) -> None:
    """The account record (credentials outside FHIR), confirmed and activated; idempotent."""
    from fhir_server.auth.accounts import hash_password
    from fhir_server.auth.store import ACCOUNTS, now

    if await db[ACCOUNTS].find_one({"_id": ACCOUNT["_id"]}) is not None:
        return
    await db[ACCOUNTS].insert_one(
        {
            **ACCOUNT,
            "password": hash_password(PASSWORD),
            "confirmed": True,
            "phone_verified": True,
            "terms": {"version": TERMS_VERSION, "accepted": now()},
            "assurance": ACCOUNT_ACR,
            "failures": 0,
            "locked_until": None,
            "created": now(),
        }
    )
