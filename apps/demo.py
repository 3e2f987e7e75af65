"""Demo data for ``make run``: a small French practice with a ready login for every role.

Every ``*.json`` file of ``apps/demo_data/`` is loaded, in name order. A file holds either
a list of FHIR resources, or an object with any of these keys:

``resources``
    FHIR resources with fixed ids;
``professionals``
    ``{"idnat", "id", "mobile"?}``: a test professional of the development Pro Santé Connect
    provider (``/dev-psc``) whose Practitioner (and PractitionerRoles) get this fixed id,
    built from the provider's claims exactly as a login would build them, so that demo
    resources can name them and their first login writes nothing new;
``patient_accounts``
    ``{"id", "email", "password", "phone", "given", "family", "patient", "dependents":
    [{"patient", "relationship", "related"}]}``: a confirmed patient account (the
    RelatedPerson of each dependent is created).

Python modules of the package add resources whose dates follow today's (the portal's agenda,
consultations and vital signs: see ``apps/demo_data/__init__.py``). Professionals are stored
first, then resources, then accounts. Resources go through the
same validation as the API; whatever exists already is left as it is, so restarting never
creates new versions and never undoes what a user changed.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import orjson
from pymongo import AsyncMongoClient

from apps import demo_data
from fhir_server import MongoRepository, Settings
from fhir_server.validation import validate_resource

log = logging.getLogger("passerelle.demo")
DATA_DIR = Path(__file__).parent / "demo_data"


def read_demo(data_dir: Path = DATA_DIR) -> dict[str, list[dict[str, Any]]]:
    """Every demo file's content, merged by kind (resources, professionals, patient_accounts)."""
    out: dict[str, list[dict[str, Any]]] = {"resources": [], "professionals": [], "patient_accounts": []}
    for path in sorted(data_dir.glob("*.json")):
        content = orjson.loads(path.read_bytes())
        if isinstance(content, list):
            content = {"resources": content}
        unknown = set(content) - set(out)
        if unknown:
            raise ValueError(f"{path.name}: unknown demo keys {sorted(unknown)}")
        for key, items in content.items():
            out[key].extend(items)
    return out


def dev_professionals() -> dict[str, dict[str, Any]]:
    """The development PSC provider's professionals by idNat (its users file when one is set)."""
    from fhir_server.auth.devpsc import default_professionals

    users = os.environ.get("PASSERELLE_DEV_PSC_USERS")
    pros = json.loads(Path(users).read_text()) if users else default_professionals()
    return {p["SubjectNameID"]: p for p in pros}


def professional_resources(
    pro: dict[str, Any], pid: str, mobile: str | None = None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The Practitioner and PractitionerRoles a PSC login of ``pro`` builds, with fixed ids.

    Returns the resources and the role map (situation key -> PractitionerRole id) of the
    login's matching table.
    """
    from fhir_server.auth.practitioners import practitioner_resource, role_key, role_resource

    exercices = list(pro.get("SubjectRefPro", {}).get("exercices") or [])
    practitioner = {**practitioner_resource(pro, exercices), "id": pid}
    if mobile:  # kept across logins like a phone set in the portal's profile (practitioners._kept)
        practitioner["telecom"] = [
            *practitioner.get("telecom", []),
            {"system": "sms", "value": mobile, "use": "mobile"},
        ]
    resources = [practitioner]
    roles: dict[str, str] = {}
    for ex in exercices:
        for act in ex.get("activities") or []:
            rid = f"{pid}-role-{len(roles) + 1}"
            roles[role_key(ex, act)] = rid
            resources.append({**role_resource(pid, ex, act), "id": rid})
    return resources, roles


async def _store(repository: MongoRepository, resource: dict[str, Any]) -> bool:
    problems = [p for p in validate_resource(resource) if p.severity == "error"]
    if problems:
        raise ValueError(f"demo resource {resource['resourceType']}/{resource['id']} is invalid: {problems}")
    if await repository.read(resource["resourceType"], resource["id"]) is not None:
        return False
    await repository.update(resource["resourceType"], resource["id"], resource)
    return True


async def load_demo(settings: Settings, data_dir: Path = DATA_DIR) -> int:
    """Store the demo content that is not there yet; return how many resources were stored."""
    from fhir_server.auth.accounts import hash_password, related_person
    from fhir_server.auth.practitioners import PROFESSIONALS
    from fhir_server.auth.store import ACCOUNTS, now

    demo = read_demo(data_dir)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongodb_uri, tz_aware=True)
    repository = MongoRepository(client, settings.database)
    stored = total = 0
    try:
        await repository.ensure_indexes()
        known = dev_professionals()
        for entry in demo["professionals"]:
            pro = known.get(entry["idnat"])
            if pro is None:
                raise ValueError(f"demo professional {entry['idnat']} is not a dev PSC professional")
            resources, roles = professional_resources(pro, entry["id"], entry.get("mobile"))
            for resource in resources:
                total += 1
                stored += await _store(repository, resource)
            mapping = repository.db[PROFESSIONALS]
            if await mapping.find_one({"_id": entry["idnat"]}) is None:
                await mapping.insert_one({"_id": entry["idnat"], "practitioner": entry["id"], "roles": roles})
        for resource in [*demo["resources"], *demo_data.extra_resources()]:
            total += 1
            stored += await _store(repository, resource)
        accounts = repository.db[ACCOUNTS]
        for account in demo["patient_accounts"]:
            dependents = account.get("dependents", [])
            holder = {"given": account["given"], "family": account["family"], "email": account["email"]}
            for dep in dependents:
                related = related_person(dep["patient"], holder, dep["relationship"])
                related["id"] = dep["related"]
                total += 1
                stored += await _store(repository, related)
            if await accounts.find_one({"_id": account["id"]}) is not None:
                continue
            await accounts.insert_one(
                {
                    "_id": account["id"],
                    "email": account["email"].strip().lower(),
                    "phone": account["phone"],
                    "password": hash_password(account["password"]),
                    "given": account["given"],
                    "family": account["family"],
                    "patient": account["patient"],
                    "dependents": [{"patient": d["patient"], "related": d["related"]} for d in dependents],
                    "confirmed": True,
                    "failures": 0,
                    "locked_until": None,
                    "created": now(),
                }
            )
        await demo_data.after_load(repository.db)
    finally:
        await client.close()
    log.info("demo data: %d resources stored, %d already there", stored, total - stored)
    return stored


def register_gateway_client(settings: Settings) -> bool:
    """Demo: register the eHDSI gateway as the backend client it reads FHIR data with (idempotent).

    In production the operator does it (``passerelle clients create --type backend --client-id
    ehdsi-gateway --jwks-file <data-dir>/ehdsi/fhir-client.jwks``, scope as ``BackendToken.SCOPE``).
    """
    import json

    from pymongo import MongoClient

    from ehdsi_gateway.fhir_client import BackendToken
    from fhir_server.auth.clients import create_client, find_client

    key = settings.data_dir / "ehdsi" / "fhir-client.jwk"
    BackendToken.ensure_key(key)
    jwks = json.loads(key.with_suffix(".jwks").read_text())
    with MongoClient(settings.mongodb_uri, tz_aware=True) as client:
        db = client[settings.database]
        if find_client(db, "ehdsi-gateway") is not None:
            return False
        create_client(
            db, name="passerelle ehdsi gateway", kind="backend", scope=BackendToken.SCOPE, jwks=jwks,
            client_id="ehdsi-gateway",
        )  # fmt: skip
    return True
