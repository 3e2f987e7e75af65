"""Role rules for professionals: who is a médecin conseil or a pharmacist, and what each may touch.

A practitioner token (``kind == "practitioner"``) gets one role, decided per request by
:func:`fhir_server.auth.relationships.resolve`:

``care`` (every other professional: médecin, infirmier, sage-femme...)
    the patients they have a care relationship with (see :mod:`.relationships`), and the
    patients of their health centre (FINESS); their own agenda, messages and tasks that
    name no patient, and those of their centre's shared inbox (``policy.OWN_PARAMS``);
    reference data (Practitioner, Organization, Medication...) read-only; a new Patient
    may be created. Break-the-glass lifts the
    patient restriction (never the directory's: no writes outside patients' records).

``conseil`` — médecin conseil of an ELSM (Assurance Maladie, docs/france.md §4.c)
    Rule: a PSC practice situation with profession 10 (médecin, TRE_G15) AND a
    PractitionerRole of their Practitioner coded :data:`ROLE_SYSTEM` | ``medecin-conseil``
    whose ``organization`` references the ELSM Organization (their échelon). PSC cannot
    say who is a médecin conseil (no such code in the claims), so the Assurance Maladie
    (a backend client) declares it with that PractitionerRole; PSC-derived roles never
    carry that code, and a non-médecin with such a role gets no conseil rights.
    They see only the secure-messaging threads of their échelon — the thread headers
    addressed to it or opened in its name (``Communication.recipient`` / ``sender`` = the
    ELSM), their messages (``partOf`` = a header) except other people's drafts (``status =
    preparation``), the back-office Tasks (``owner`` = the ELSM or themselves, or ``focus`` =
    a header) — and two sets of Patients (read/search) with their Coverages: those the
    threads are about, and the insured of the funds attached to their échelon (the fund →
    ELSM table, :mod:`.echelons`: an échelon serves the insured of its funds, as the
    Assurance Maladie is organised). Directory types are readable. They may reply in a
    thread, open one in their échelon's name about a patient they reach (addressed to a
    liberal doctor or a structure, never to a salaried doctor individually, and only to
    someone who already cares for the patient: :func:`fhir_server.auth.access.check_conseil_addressee`),
    and create/update the Tasks of those threads; no new message in a thread the doctor
    deleted or the échelon closed (422, :func:`conseil_thread_over`); they never delete
    (retention), and nothing they write may name a patient outside their reach.

``pharmacist`` — PSC profession 21 (pharmacien, TRE_G15; docs/france.md §3.4, §4.b)
    What the prescription check needs, nothing more:

    - MedicationRequest: search only by the prescription number (``group-identifier``
      or ``identifier``, exact non-empty value, no modifier or chain:
      :func:`exact_prescription_number`, enforced by the guard and Bundle entries), and
      only prescriptions in status active / on-hold / completed; read by id in those
      statuses; update = status (and statusReason) changes only, forward only
      (:data:`PHARMACIST_TRANSITIONS`: never back from completed or stopped), nothing else of
      the prescription (narrative, security labels, tags) changing; never a new prescription;
    - MedicationDispense: create / read / update / search those whose
      ``performer.actor`` is the pharmacist (Practitioner or PractitionerRole), and
      each ``authorizingPrescription`` must be a dispensable prescription of the same
      subject (checked by :func:`fhir_server.auth.relationships.check_role_write`);
    - Patient: read by id only (no search, no include, no history), only the subject
      of an active or on-hold prescription, and only name, birth date and gender are
      returned (:data:`PHARMACIST_PATIENT_FIELDS`);
    - Medication and directory types: read and search.

Everything else is a 403 for these two roles (a type they can never reach: saying so
leaks nothing); instances of allowed types out of their reach are 404s.
"""

from __future__ import annotations

from typing import Any

ROLE_SYSTEM = "urn:passerelle:practitioner-role"
CONSEIL_CODE = "medecin-conseil"
MEDECIN = "10"
PHARMACIEN = "21"

CARE, CONSEIL, PHARMACIST = "care", "conseil", "pharmacist"


def is_conseil_role(role: dict[str, Any]) -> bool:
    """Whether a PractitionerRole is a médecin conseil's (an échelon of the Assurance Maladie)."""
    return any(
        c.get("system") == ROLE_SYSTEM and c.get("code") == CONSEIL_CODE
        for cc in role.get("code") or []
        for c in cc.get("coding") or []
    )


# Reference data every professional may read and search (directory and terminology).
DIRECTORY = frozenset(
    {
        "Practitioner", "PractitionerRole", "Organization", "HealthcareService", "Location",
        "CodeSystem", "ValueSet", "ConceptMap",
    }
)  # fmt: skip
# Per role and type: the SMART interaction letters allowed (on top of what the scopes allow).
ROLE_TYPES: dict[str, dict[str, str]] = {
    CONSEIL: {
        "Communication": "crus",
        "Task": "crus",
        "Patient": "rs",
        "Binary": "cr",  # attachments, through their securityContext (auth.access)
        "Coverage": "rs",  # the insured's fund, rank and regime (the compose screen's patient card)
        **dict.fromkeys(DIRECTORY, "rs"),
    },
    PHARMACIST: {
        "MedicationRequest": "rus",
        "MedicationDispense": "crus",
        "Patient": "r",
        "Medication": "rs",
        **dict.fromkeys(DIRECTORY, "rs"),
    },
}
DISPENSABLE = frozenset({"active", "on-hold"})
PHARMACIST_READABLE = frozenset({"active", "on-hold", "completed"})
PHARMACIST_STATUSES = frozenset({"active", "on-hold", "completed", "stopped"})
PHARMACIST_PATIENT_FIELDS = ("resourceType", "id", "meta", "name", "birthDate", "gender")
PRESCRIPTION_PARAMS = frozenset({"group-identifier", "identifier"})


def _names_one(params: list[tuple[str, str]], keys: frozenset[str]) -> bool:
    """Whether one of ``keys`` (no modifier, no chain) has one exact value (no comma), ``value`` or
    ``system|value`` with a non-empty value: ``system|`` alone would match everything of that system."""
    for key, value in params:
        if key not in keys or not value or "," in value or "\\" in value:
            continue
        tail = value.rsplit("|", 1)[-1] if "|" in value else value
        if tail.strip() and tail != "*":
            return True
    return False


def exact_prescription_number(params: list[tuple[str, str]]) -> bool:
    """Whether search parameters name one prescription number exactly: ``group-identifier`` or
    ``identifier`` (see :func:`_names_one`)."""
    return _names_one(params, PRESCRIPTION_PARAMS)


# A médecin conseil finds an insured person by NIR, never lists the funds' insured: their top-level
# searches of these types must name one patient exactly (these parameters, see :func:`_names_one`).
CONSEIL_EXACT = {
    "Patient": frozenset({"identifier", "_id"}),
    "Coverage": frozenset({"beneficiary", "patient"}),
}


def exact_patient_lookup(type_: str | None, params: list[tuple[str, str]]) -> bool:
    """Whether a médecin conseil's search of ``type_`` (None: a system search) names its patients
    exactly: each value of one of the :data:`CONSEIL_EXACT` parameters (no modifier, no chain) a
    complete identifier or id — a list of known NIRs or ids is a look-up, not a listing."""
    wanted = frozenset({"_id", "identifier"}) if type_ is None else CONSEIL_EXACT.get(type_)
    if wanted is None:
        return True
    for key, value in params:
        if key in wanted and value and "\\" not in value:
            tails = [v.rsplit("|", 1)[-1] for v in value.split(",")]
            if all(t.strip() and t != "*" for t in tails):
                return True
    return False


def professions(exercices: tuple[dict[str, str], ...]) -> set[str]:
    return {str(e.get("profession") or "") for e in exercices}


def ref_of(value: Any) -> str | None:
    """The ``Type/id`` tail of a Reference (relative, absolute or versioned), or None."""
    ref = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(ref, str) or "/" not in ref:
        return None
    return "/".join(ref.split("/_history/")[0].split("/")[-2:])


def refs(values: Any) -> set[str]:
    items = values if isinstance(values, list) else [values]
    return {r for r in (ref_of(v) for v in items if v is not None) if r}


def has_conseil_code(role: dict[str, Any]) -> bool:
    return any(
        c.get("system") == ROLE_SYSTEM and c.get("code") == CONSEIL_CODE
        for cc in role.get("code") or []
        if isinstance(cc, dict)
        for c in cc.get("coding") or []
        if isinstance(c, dict)
    )


def _status(resource: dict[str, Any]) -> str:
    return str(resource.get("status") or "")


# -- médecin conseil -------------------------------------------------------------------------------


def conseil_sees(
    type_: str,
    resource: dict[str, Any],
    *,
    actors: frozenset[str],
    inbox: frozenset[str],
    threads: frozenset[str],
    patients: frozenset[str],
) -> bool:
    """Whether a médecin conseil sees ``resource`` (``inbox``: the ELSM references)."""
    thread_refs = {f"Communication/{t}" for t in threads}
    if type_ == "Communication":
        mine = bool(refs(resource.get("sender")) & (actors | inbox))
        if _status(resource) == "preparation" and not mine:
            return False  # drafts are the author's alone (a header drafted in the échelon's name: its)
        return (
            resource.get("id") in threads
            or bool(refs(resource.get("partOf")) & thread_refs)
            or bool(refs(resource.get("recipient")) & inbox)
            or mine
        )
    if type_ == "Task":
        return bool(refs(resource.get("owner")) & (inbox | actors)) or bool(
            refs(resource.get("focus")) & thread_refs
        )
    if type_ == "Patient":
        return resource.get("id") in patients
    if type_ == "Coverage":
        return any(
            r.split("/", 1)[1] in patients
            for r in refs(resource.get("beneficiary"))
            if r.startswith("Patient/")
        )
    return type_ in DIRECTORY


def conseil_filter(
    type_: str,
    *,
    actors: frozenset[str],
    inbox: frozenset[str],
    threads: frozenset[str],
    patients: frozenset[str],
) -> dict[str, Any] | None:
    """The Mongo filter (on ``s``) equivalent to :func:`conseil_sees`."""
    thread_refs = sorted(f"Communication/{t}" for t in threads)
    mine = sorted(actors | inbox)
    if type_ == "Communication":
        return {
            "$and": [
                {
                    "$or": [
                        {"_id": {"$in": sorted(threads)}},
                        {"s.part-of": {"$in": thread_refs}},
                        {"s.recipient": {"$in": sorted(inbox)}},
                        {"s.sender": {"$in": mine}},
                    ]
                },
                {"$or": [{"s.status": {"$ne": "preparation"}}, {"s.sender": {"$in": mine}}]},
            ]
        }
    if type_ == "Task":
        return {"$or": [{"s.owner": {"$in": sorted(inbox | actors)}}, {"s.focus": {"$in": thread_refs}}]}
    if type_ == "Patient":
        return {"_id": {"$in": sorted(patients)}}
    if type_ == "Coverage":
        return {"s.beneficiary": {"$in": sorted(f"Patient/{p}" for p in patients)}}
    return None


def opens_thread(resource: dict[str, Any]) -> bool:
    """Whether a Communication is a secure-messaging thread header (category THREAD, no ``partOf``)."""
    return not resource.get("partOf") and THREAD in _codings(resource.get("category"))


def conseil_thread_over(
    type_: str,
    resource: dict[str, Any],
    current: dict[str, Any] | None,
    *,
    withdrawn: frozenset[str],
    closed: frozenset[str],
) -> tuple[str, str] | None:
    """(why, FHIRPath) when a médecin conseil writes in a conversation that is over for the échelon.

    Deleted on the doctor side: the échelon keeps it (reads it, may mark messages read) but writes
    no new message in it — it starts a new conversation instead. Closed by the échelon: the same
    until the doctor writes again (which reopens it). Neither may be undone by the échelon.
    """
    if type_ != "Communication":
        return None
    parts = {r.split("/", 1)[1] for r in refs(resource.get("partOf")) if r.startswith("Communication/")}
    new_message = current is None or _status(current) == "preparation"
    if parts and new_message:
        if parts & withdrawn:
            return (
                "Le médecin a supprimé cette conversation : l'échelon la conserve en lecture mais n'y "
                "écrit plus ; ouvrez une nouvelle conversation.",
                "Communication.partOf",
            )
        if parts & closed:
            return (
                "Conversation close : l'échelon n'y écrit plus (elle se rouvre quand le médecin écrit).",
                "Communication.partOf",
            )
    if current is not None and not parts:
        if withdrawn_by_professional(type_, current) and not withdrawn_by_professional(type_, resource):
            return ("La suppression faite par le médecin ne peut pas être annulée.", "Communication.meta.tag")
        if _status(current) == "completed" and _status(resource) != "completed":
            return (
                "Une conversation close ne se rouvre que lorsque le médecin écrit de nouveau.",
                "Communication.status",
            )
    return None


def conseil_may_write(
    type_: str,
    resource: dict[str, Any],
    *,
    threads: frozenset[str],
    patients: frozenset[str],
    inbox: frozenset[str] = frozenset(),
) -> str | None:
    """Why a médecin conseil may not write ``resource`` (None when allowed).

    They write in their échelon's threads, and open a thread (a header of category THREAD) in
    their échelon's name (``sender`` = the ELSM) about a patient they reach — an insured person of
    the échelon's funds. Whom they may address is checked against the directory by
    :func:`fhir_server.auth.access.check_conseil_addressee`.
    """
    thread_refs = {f"Communication/{t}" for t in threads}
    named = {
        r.split("/", 1)[1]
        for r in refs(resource.get("subject")) | refs(resource.get("for"))
        if r.startswith("Patient/")
    }
    if not named <= patients:
        return "Le message ne peut concerner qu'un patient des échanges de votre échelon."
    if type_ == "Communication":
        if resource.get("id") in threads or refs(resource.get("partOf")) & thread_refs:
            return None
        if opens_thread(resource):
            if refs(resource.get("sender")) and refs(resource.get("sender")) <= inbox:
                return None
            return "Une conversation s'ouvre au nom de votre échelon (sender = l'ELSM)."
        return "Un médecin conseil écrit dans un échange de son échelon (partOf) ou en ouvre un (en-tête)."
    if type_ == "Task":
        if refs(resource.get("focus")) & thread_refs:
            return None
        return "La tâche doit porter sur un échange de votre échelon (focus)."
    return f"Un médecin conseil ne peut pas écrire de {type_}."


# -- pharmacist ----------------------------------------------------------------------------------------


def _performers(resource: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for p in resource.get("performer") or []:
        if isinstance(p, dict):
            out |= refs(p.get("actor"))
    return out


def pharmacist_sees(type_: str, resource: dict[str, Any], *, actors: frozenset[str]) -> bool:
    if type_ == "MedicationRequest":
        return _status(resource) in PHARMACIST_READABLE
    if type_ == "MedicationDispense":
        return bool(_performers(resource) & actors)
    if type_ == "Patient":
        return False  # read by id only, checked against the prescriptions by the guard
    return type_ == "Medication" or type_ in DIRECTORY


def pharmacist_filter(type_: str, *, actors: frozenset[str]) -> dict[str, Any] | None:
    if type_ == "MedicationRequest":
        return {"s.status": {"$in": sorted(PHARMACIST_READABLE)}}
    if type_ == "MedicationDispense":
        return {"s.performer": {"$in": sorted(actors)}}
    return None


def pharmacist_may_write(type_: str, resource: dict[str, Any], *, actors: frozenset[str]) -> str | None:
    if type_ == "MedicationDispense":
        if not _performers(resource) & actors:
            return "La dispensation doit désigner le pharmacien qui l'enregistre (performer.actor)."
        if not refs(resource.get("authorizingPrescription")):
            return "La dispensation doit citer la prescription exécutée (authorizingPrescription)."
        return None
    if type_ == "MedicationRequest":
        if _status(resource) not in PHARMACIST_STATUSES:
            return "Statut de prescription non autorisé pour un pharmacien."
        return None
    return f"Un pharmacien ne peut pas écrire de {type_}."


# What a pharmacist may do to a prescription's status: move it forward (dispensing pauses,
# completes or stops it), never reopen one that is completed or stopped (it could be dispensed again).
PHARMACIST_TRANSITIONS: dict[str, frozenset[str]] = {
    "active": frozenset({"on-hold", "completed", "stopped"}),
    "on-hold": frozenset({"active", "completed", "stopped"}),
}
# meta elements the server sets itself on every write (anything else in meta is content).
_SERVER_META = ("versionId", "lastUpdated")


def _without(resource: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    out = {k: v for k, v in resource.items() if k not in keys}
    meta = out.get("meta")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in _SERVER_META}
        if meta:
            out["meta"] = meta
        else:
            out.pop("meta")
    return out


def pharmacist_update(current: dict[str, Any], new: dict[str, Any]) -> str | None:
    """A pharmacist moves a prescription's status forward (with its reason), nothing else: not its
    narrative, not its security labels or tags, and never back from completed / stopped."""
    ignored = ("status", "statusReason")
    if _without(current, ignored) != _without(new, ignored):
        return "Un pharmacien ne modifie que le statut d'une prescription (ni texte, ni étiquettes)."
    before, after = _status(current), _status(new)
    if before != after and after not in PHARMACIST_TRANSITIONS.get(before, frozenset()):
        return f"Un pharmacien ne fait pas passer une prescription de « {before} » à « {after} »."
    return None


def masked_patient(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: resource[k] for k in PHARMACIST_PATIENT_FIELDS if k in resource}


# -- secure messaging with the médecin conseil: what stays hidden whatever the reach -----------------
#
# Two labels the messaging service puts on its resources (docs/france.md §4.c):
#
# - ``meta.security`` v3-ActCode ``NOPAT`` ("no disclosure to patient, family or caregivers without
#   attending provider's authorization", HL7 security labels): the exchanges between a doctor and
#   the médecin conseil are about the patient but not for the patient. A patient's token never reads
#   a resource carrying it, even in their own compartment.
# - ``meta.tag`` :data:`WITHDRAWN` on a thread's header, messages and Task: the doctor (or their
#   health centre) deleted the conversation on their side. Care practitioners never read such a
#   resource again (the deletion is definitive for the doctor and the whole centre); the échelon
#   keeps it (the médecin conseil's rules ignore the tag) and records are never hard-deleted.

#
# And a thread's resources (Communication ``category`` / Task ``code`` :data:`THREAD`) are private
# correspondence: a care practitioner reads them only as a party — ``sender`` / ``recipient``
# (Communication), ``requester`` / ``owner`` (Task) is them or their structure — not because they
# care for the patient the thread is about; a draft (``preparation``) only as its sender.

NOPAT = "http://terminology.hl7.org/CodeSystem/v3-ActCode|NOPAT"
MESSAGING_SYSTEM = "urn:passerelle:messagerie"
THREAD = f"{MESSAGING_SYSTEM}|echange-medecin-conseil"
WITHDRAWN = f"{MESSAGING_SYSTEM}|supprime-cote-professionnel"
WITHDRAWABLE = frozenset({"Communication", "Task"})
# Who, of a structure's salaried doctors, wrote a message the structure sends (``sender`` stays the
# structure: it is the addressee of the replies; this extension records the individual author).
WRITER_URL = "https://passerelle.fr/fhir/StructureDefinition/messagerie-redacteur"


def writer_of(resource: dict[str, Any]) -> str | None:
    for ext in resource.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == WRITER_URL:
            return ref_of(ext.get("valueReference"))
    return None


def writer_claim(
    resource: dict[str, Any], current: dict[str, Any] | None, actors: frozenset[str]
) -> str | None:
    """Why a care practitioner may not name this author (None: unchanged, or themselves)."""
    writer = writer_of(resource)
    if writer is None or (current is not None and writer_of(current) == writer) or writer in actors:
        return None
    return "L'auteur d'un message (extension messagerie-redacteur) ne peut être que vous-même."


# per type: (the element and search parameter carrying THREAD, the parties' parameters)
PARTIES = {"Communication": ("category", ("sender", "recipient")), "Task": ("code", ("requester", "owner"))}


def _labels(resource: dict[str, Any], kind: str) -> set[str]:
    meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
    return {f"{c.get('system')}|{c.get('code')}" for c in (meta or {}).get(kind) or [] if isinstance(c, dict)}


def not_for_patient(resource: dict[str, Any]) -> bool:
    return NOPAT in _labels(resource, "security")


def withdrawn_by_professional(type_: str, resource: dict[str, Any]) -> bool:
    return type_ in WITHDRAWABLE and WITHDRAWN in _labels(resource, "tag")


def _codings(value: Any) -> set[str]:
    items = value if isinstance(value, list) else [value]
    return {
        f"{c.get('system')}|{c.get('code')}"
        for cc in items
        if isinstance(cc, dict)
        for c in cc.get("coding") or []
        if isinstance(c, dict)
    }


def thread_party(type_: str, resource: dict[str, Any], mine: frozenset[str]) -> bool:
    """Whether a care practitioner designated by ``mine`` may read ``resource`` as far as threads go."""
    if type_ not in PARTIES:
        return True
    element, params = PARTIES[type_]
    if THREAD not in _codings(resource.get(element)):
        return True
    if type_ == "Communication" and _status(resource) == "preparation":
        params = ("sender",)  # a draft is its author's (the échelon's drafts stay in the back office)
    return any(refs(resource.get(p)) & mine for p in params)


def hidden_from_care(type_: str, resource: dict[str, Any], mine: frozenset[str]) -> bool:
    return withdrawn_by_professional(type_, resource) or not thread_party(type_, resource, mine)


def hidden_from_care_filter(type_: str, mine: frozenset[str]) -> dict[str, Any] | None:
    """The search form of :func:`hidden_from_care`."""
    if type_ not in PARTIES:
        return None
    element, params = PARTIES[type_]
    party: list[dict[str, Any]] = [{f"s.{element}": {"$ne": THREAD}}]
    for p in params:
        clause: dict[str, Any] = {f"s.{p}": {"$in": sorted(mine)}}
        if type_ == "Communication" and p != "sender":
            clause["s.status"] = {"$ne": "preparation"}
        party.append(clause)
    return {"s._tag": {"$ne": WITHDRAWN}, "$or": party}


def not_for_patient_filter() -> dict[str, Any]:
    return {"s._security": {"$ne": NOPAT}}
