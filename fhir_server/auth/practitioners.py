"""From Pro Santé Connect claims to Practitioner and PractitionerRole resources (FR Core shapes).

PSC is authoritative: at every login the Practitioner is matched on its idNat_PS
(``SubjectNameID``) and rewritten from the claims when they changed (an unchanged login
writes no new version), and each practice situation (``activities[]``) becomes one
PractitionerRole, rewritten likewise only when it changed. The match goes through a small
mapping collection keyed by idNat_PS, so it needs no search on identifiers.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server.identifiers import FINESS_SYSTEM, IDNATPS_SYSTEM, RPPS_SYSTEM, rpps_from_idnat

PROFESSIONALS = "auth_professionals"
ID_TYPE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
G15 = "https://mos.esante.gouv.fr/NOS/TRE_G15-ProfessionSante/FHIR/TRE-G15-ProfessionSante"
R38 = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"
R23 = "https://mos.esante.gouv.fr/NOS/TRE_R23-ModeExercice/FHIR/TRE-R23-ModeExercice"
SIRET_SYSTEM = "https://sirene.fr"


def practitioner_resource(claims: dict[str, Any], exercices: list[dict[str, Any]]) -> dict[str, Any]:
    idnat = str(claims["SubjectNameID"])
    identifiers: list[dict[str, Any]] = [
        {
            "use": "official",
            "type": {"coding": [{"system": ID_TYPE, "code": "IDNPS"}]},
            "system": IDNATPS_SYSTEM,
            "value": idnat,
        }
    ]
    rpps = rpps_from_idnat(idnat)
    if rpps:
        identifiers.append(
            {
                "use": "official",
                "type": {"coding": [{"system": ID_TYPE, "code": "RPPS"}]},
                "system": RPPS_SYSTEM,
                "value": rpps,
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "identifier": identifiers,
        "active": True,
        "name": [
            {"use": "usual", "family": claims.get("family_name", ""), "given": [claims.get("given_name", "")]}
        ],
    }
    if claims.get("email"):
        resource["telecom"] = [{"system": "email", "value": claims["email"]}]
    quals = []
    for ex in exercices:
        quals.append({"code": {"coding": [{"system": G15, "code": str(ex.get("codeProfession"))}]}})
        if ex.get("codeSavoirFaire"):
            quals.append({"code": {"coding": [{"system": R38, "code": str(ex["codeSavoirFaire"])}]}})
    if quals:
        resource["qualification"] = quals
    return resource


def role_resource(practitioner_id: str, exercice: dict[str, Any], activity: dict[str, Any]) -> dict[str, Any]:
    role: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "active": True,
        "practitioner": {"reference": f"Practitioner/{practitioner_id}"},
        "code": [{"coding": [{"system": G15, "code": str(exercice.get("codeProfession"))}]}],
    }
    if activity.get("codeModeExercice"):
        role["code"].append({"coding": [{"system": R23, "code": str(activity["codeModeExercice"])}]})
    if exercice.get("codeSavoirFaire"):
        role["specialty"] = [{"coding": [{"system": R38, "code": str(exercice["codeSavoirFaire"])}]}]
    org: dict[str, Any] = {}
    if activity.get("numeroFinessSite"):
        org["identifier"] = {"system": FINESS_SYSTEM, "value": str(activity["numeroFinessSite"])}
    elif activity.get("numeroSiretSite"):
        org["identifier"] = {"system": SIRET_SYSTEM, "value": str(activity["numeroSiretSite"])}
    if activity.get("raisonSocialeSite"):
        org["display"] = str(activity["raisonSocialeSite"])
    if org:
        role["organization"] = org
    return role


def role_key(exercice: dict[str, Any], activity: dict[str, Any]) -> str:
    """What identifies one practice situation across logins (the mapping's key for its role)."""
    return "|".join(
        str(x)
        for x in (
            exercice.get("codeProfession"),
            activity.get("identifiantTechniqueDeLaStructure"),
            activity.get("numeroFinessSite"),
            activity.get("codeModeExercice"),
        )
    )


async def _changed(repository: Any, type_: str, id_: str, resource: dict[str, Any]) -> bool:
    """Whether ``resource`` differs from the current version (``meta`` aside), or there is none."""
    current = await repository.read(type_, id_)
    if current is None or current.deleted or current.body is None:
        return True
    stored = orjson.loads(current.body)
    stored.pop("meta", None)
    return bool(stored != {**resource, "id": id_})


async def _kept(repository: Any, pid: str, practitioner: dict[str, Any]) -> dict[str, Any]:
    """The new Practitioner with what the professional keeps across logins (PSC does not carry it):
    their phones (the mobile receiving the ordonnance signature codes) and addresses."""
    current = await repository.read("Practitioner", pid)
    if current is None or current.body is None:
        return practitioner
    stored = orjson.loads(current.body)
    out = dict(practitioner)
    phones = [t for t in stored.get("telecom") or [] if isinstance(t, dict) and t.get("system") != "email"]
    if phones:
        out["telecom"] = [*practitioner.get("telecom", []), *phones]
    if stored.get("address"):
        out["address"] = stored["address"]
    return out


async def upsert_professional(
    repository: Any, claims: dict[str, Any], exercices: list[dict[str, Any]]
) -> tuple[str, list[tuple[str, str]]]:
    """Match or create the Practitioner and its PractitionerRoles.

    Returns the Practitioner id and the writes done, as (interaction, ``Type/id``), for the audit.
    """
    mapping = repository.db[PROFESSIONALS]
    idnat = str(claims["SubjectNameID"])
    known = await mapping.find_one({"_id": idnat})
    practitioner = practitioner_resource(claims, exercices)
    writes: list[tuple[str, str]] = []
    if known is None:
        version = await repository.create("Practitioner", practitioner)
        pid = version.id
        writes.append(("create", f"Practitioner/{pid}"))
    else:
        pid = known["practitioner"]
        updated = {**(await _kept(repository, pid, practitioner)), "id": pid}
        if await _changed(repository, "Practitioner", pid, updated):
            await repository.update("Practitioner", pid, updated)
            writes.append(("update", f"Practitioner/{pid}"))
    roles: dict[str, str] = dict((known or {}).get("roles", {}))
    for ex in exercices:
        for act in ex.get("activities") or []:
            key = role_key(ex, act)
            resource = role_resource(pid, ex, act)
            if key in roles:
                if not await _changed(repository, "PractitionerRole", roles[key], resource):
                    continue
                await repository.update("PractitionerRole", roles[key], {**resource, "id": roles[key]})
                writes.append(("update", f"PractitionerRole/{roles[key]}"))
            else:
                roles[key] = (await repository.create("PractitionerRole", resource)).id
                writes.append(("create", f"PractitionerRole/{roles[key]}"))
    await mapping.update_one({"_id": idnat}, {"$set": {"practitioner": pid, "roles": roles}}, upsert=True)
    return pid, writes


def practice_situations(claims: dict[str, Any], exercices: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The eligible practice situations, flattened for the access token (claim ``exercices``).

    What the role rules need and nothing more: profession (G15), specialty (R38),
    structure (FINESS site, else SIRET, else the RPPS technical id), sector (R02), and
    whether the professional may act as a medical regulator.
    """
    regulation = str(claims.get("Acces_Regulation_Medicale", "")).upper() == "VRAI"
    out: list[dict[str, str]] = []
    for ex in exercices:
        for act in ex.get("activities") or [{}]:
            item = {
                "profession": str(ex.get("codeProfession") or ""),
                "specialty": str(ex.get("codeSavoirFaire") or ""),
                "finess": str(act.get("numeroFinessSite") or ""),
                "siret": str(act.get("numeroSiretSite") or ""),
                "structure": str(act.get("identifiantTechniqueDeLaStructure") or ""),
                "sector": str(act.get("codeSecteurDactivite") or ""),
                "mode": str(act.get("codeModeExercice") or ""),
            }
            if regulation:
                item["regulation"] = "true"
            out.append({k: v for k, v in item.items() if v})
    return out
