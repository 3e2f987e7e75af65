"""What one access token may read and write: :class:`AccessPolicy`, computed once per request.

The policy is the single place where scopes, the kind of user and the patient
compartment meet. Writes obey one rule, :meth:`AccessPolicy.check_named`: every patient a
written resource names (anywhere, contained resources included, before and after the change)
must already be within reach — so no write can open a record (SECURITY.md).
Instance interactions ask :meth:`AccessPolicy.grant` and then
:meth:`AccessPolicy.can_read` / :meth:`AccessPolicy.check_write` on the stored or
incoming resource; searches and includes ask :meth:`AccessPolicy.search_filter` (a
Mongo filter to AND into the query) and :meth:`AccessPolicy.can_read` for every
resource they add to a Bundle, so that ``_include``/``_revinclude`` cannot leak.

How search applies it (:mod:`fhir_server.search.access`; Bundles, conditional
interactions and operations: see :mod:`fhir_server.auth.guard`) — the policy of the
request is ``request.state.access`` (``AccessPolicy.unrestricted()`` under ``--no-auth``):

1. for each type searched: ``restriction = policy.search_filter(type_)`` (403 when no
   scope; for system search without ``_type``, ``policy.readable_types(types)``) is ANDed
   into the query — also in ``_total`` counts and in the compartment search condition;
2. every inner search of a chain or of ``_has`` on type T ANDs ``policy.search_filter(T)``
   (otherwise a match would reveal a hidden resource's existence);
3. ``_include``/``_revinclude`` look-ups AND ``policy.search_filter(T, "read")`` for the
   target type T and silently drop types without a read scope (no 403 for an include);
4. every resource put in a Bundle also passes ``policy.can_read`` (a last line of defence).

Handlers that apply the policy themselves are marked ``applies_access_policy = True``
(search, Bundles, conditional interactions, operations); the guard checks instance
interactions itself and refuses restricted tokens any other interaction.

Practitioners: the guard calls :func:`fhir_server.auth.relationships.resolve` once per
request, which fills ``role`` (:mod:`.roles`: ``care``, ``conseil`` or ``pharmacist``),
``actors`` (the references that designate the caller), and ``patients`` (for ``care``,
the patients they have a care relationship with, or their health centre has; for
``conseil``, the subjects of their échelon's threads); ``user/`` scopes then reach those
patients' compartments (``care``) or what the role rules allow (:mod:`.roles`). Types
outside the Patient compartment (Practitioner, Organization, Medication...) are
reference data and stay readable by ``care`` practitioners. A practitioner policy that was
not resolved reaches no patient at all. Break-the-glass (``care`` only) lifts the patient
restriction of ``user/`` and ``patient/`` scopes; the scopes still limit types and
interactions.

SMART v2 granular scopes (``patient/Observation.rs?category=…``): when every scope that
grants an interaction on a type carries a query, the grant is narrowed to resources
matching one of those queries (:class:`Grant` ``narrowing``), for reads, writes and
searches alike (:mod:`fhir_server.search.narrowing` gives the filter and the test of one
resource); a scope without a query beside them widens it again. Queries the server
cannot enforce (non-token parameters, modifiers, ``*``) are refused when requested.

403 vs 404: a missing scope is a 403 (the client asked for something its token can
never do, and saying so leaks nothing); an instance outside the caller's compartment
is a 404, exactly like a resource that does not exist, because a 403 would confirm
that the id exists in somebody else's record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fhir_server.auth import roles
from fhir_server.auth.compartment import (
    compartment_filter,
    compartment_params,
    in_compartment,
    in_patient_compartment_type,
    named_patients,
    patient_refs,
    references_at,
)
from fhir_server.auth.scopes import INTERACTION_LETTER, ScopeSet
from fhir_server.errors import FhirError

# Resource types only roles with an explicit scope on them may read (never through "*").
EXPLICIT_ONLY = frozenset({"AuditEvent"})
IMMUTABLE = frozenset({"AuditEvent"})
# Outside the Patient compartment but holding patient data: never reference data for a
# restricted token. A Binary is read through its securityContext (fhir_server.auth.access),
# stored Bundles (documents, messages) only with an unrestricted grant, a Device by its patient.
# A prescriber's drafts (ordonnances not yet signed) are not shown to patients (issue 17).
DRAFTS_HIDDEN_FROM_PATIENTS = frozenset({"MedicationRequest", "ServiceRequest"})
THROUGH_CONTEXT = frozenset({"Binary"})
# A care practitioner's own resources outside every patient's record (their agenda, messages and
# tasks between professionals): types of the Patient compartment that name no patient, reached
# through the parameters that name the practitioner.
OWN_PARAMS: dict[str, tuple[str, ...]] = {
    "Schedule": ("actor",),
    "Appointment": ("actor",),
    "Communication": ("sender", "recipient"),
    "Task": ("owner", "requester"),
    "CareTeam": ("participant",),
    "List": ("source",),
    "DocumentReference": ("subject",),  # the professional's own papers (Ordre registration, insurance)
}
_PATIENT_REF = re.compile("^Patient/")
UNRESTRICTED_ONLY = frozenset({"Bundle"})
# Types a practitioner token (with an explicit scope on them) reads only where they are the agent:
# their own logins, sign-up and security events, their own accesses (the account history screen).
SELF_AGENT_ONLY = frozenset({"AuditEvent"})
BREAK_GLASS_HEADER = "x-break-glass-reason"  # percent-encoded UTF-8
BREAK_GLASS_MIN = 10


@dataclass(frozen=True, slots=True)
class Grant:
    """What a scope allows for one type × interaction: everything, or these patients' compartments."""

    unrestricted: bool
    patients: frozenset[str] = frozenset()
    # SMART v2 granular scopes: when every scope granting this is narrowed (``?category=…``),
    # their queries; a resource must match one of them (then ``unrestricted`` is False and
    # ``everyone`` says the scopes would otherwise reach every patient).
    narrowing: tuple[str, ...] = ()
    everyone: bool = False


def forbidden(text: str) -> FhirError:
    return FhirError(403, "forbidden", text)


def hidden(resource_type: str, id_: str) -> FhirError:
    """The 404 given for an instance outside the caller's compartment (same text as a real 404)."""
    return FhirError(404, "not-found", f"{resource_type}/{id_} introuvable.")


@dataclass(frozen=True)
class AccessPolicy:
    """The rights carried by one token (or by ``--no-auth``: :meth:`unrestricted`)."""

    kind: str  # "patient" | "practitioner" | "system" | "unrestricted"
    scopes: ScopeSet
    subject: str = ""
    client_id: str = ""
    fhir_user: str | None = None
    token_id: str | None = None
    # Patient users: their own Patient id and their dependents'. Practitioners: the launch patient.
    patients: frozenset[str] = frozenset()
    launch_patient: str | None = None
    launch_encounter: str | None = None
    # Professionals: practice situations from PSC (profession, specialty, finess, sector...), for role rules.
    exercices: tuple[dict[str, str], ...] = ()
    # Break-the-glass: a practitioner's stated reason to reach beyond their usual patients (audited).
    break_glass: str | None = None
    # Practitioners, filled per request by relationships.resolve(): see roles.py.
    role: str = ""
    resolved: bool = False
    actors: frozenset[str] = frozenset()  # Practitioner/x and PractitionerRole/y of the caller
    # médecin conseil: the échelon (ELSM Organization); care: their organisations (shared inbox)
    inbox: frozenset[str] = frozenset()
    threads: frozenset[str] = frozenset()  # médecin conseil: ids of the Communications of their échelon
    # médecin conseil: thread headers deleted on the doctor side / closed by the échelon (no new message)
    withdrawn: frozenset[str] = frozenset()
    closed: frozenset[str] = frozenset()
    claims: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def unrestricted(cls) -> AccessPolicy:
        return _unrestricted()

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> AccessPolicy:
        kind = str(claims.get("kind") or "system")
        patients = frozenset(str(p) for p in claims.get("patients") or ())
        launch_patient = claims.get("patient")
        if kind == "patient" and launch_patient:
            patients = patients | {str(launch_patient)}
        return cls(
            kind=kind,
            scopes=ScopeSet.parse(claims.get("scope")),
            subject=str(claims.get("sub") or ""),
            client_id=str(claims.get("client_id") or ""),
            fhir_user=claims.get("fhirUser"),
            token_id=claims.get("jti"),
            patients=patients,
            launch_patient=str(launch_patient) if launch_patient else None,
            launch_encounter=claims.get("encounter"),
            exercices=tuple(e for e in claims.get("exercices") or () if isinstance(e, dict)),
            claims=dict(claims),
        )

    def with_break_glass(self, reason: str) -> AccessPolicy:
        """This practitioner's policy without the patient restriction, for an emergency; 400/403 otherwise."""
        if self.kind != "practitioner" or self.role not in ("", roles.CARE):
            raise forbidden("Le bris de glace est réservé aux professionnels de santé.")
        if len(reason.strip()) < BREAK_GLASS_MIN:
            raise FhirError(
                400, "required", f"Bris de glace : motif obligatoire ({BREAK_GLASS_MIN} caractères au moins)."
            )
        from dataclasses import replace

        return replace(self, break_glass=reason.strip()[:500])

    @property
    def is_unrestricted(self) -> bool:
        return self.kind == "unrestricted"

    # -- scopes ------------------------------------------------------------------------

    def grant(self, resource_type: str, interaction: str) -> Grant:
        """The grant for ``interaction`` (a CapabilityStatement code) on ``resource_type``; 403 when none."""
        if self.is_unrestricted:
            return Grant(True)
        letter = INTERACTION_LETTER.get(interaction)
        if letter is None:
            raise forbidden(f"Interaction {interaction} non autorisée par ce jeton.")
        scopes = self.scopes.matching(resource_type, letter)
        if resource_type in EXPLICIT_ONLY:
            scopes = [s for s in scopes if s.explicit_for(resource_type) and s.context != "patient"]
            if self.kind == "patient":
                scopes = []
        unrestricted = covered = False
        patients: set[str] = set()
        practitioner = self.kind == "practitioner"
        glass = practitioner and bool(self.break_glass) and self.role == roles.CARE
        queries: list[str | None] = []  # the queries of the scopes that grant something
        for scope in scopes:
            grants = True
            if scope.context == "system":
                grants = self.kind == "system"
                unrestricted = unrestricted or grants
            elif scope.context == "user":
                if self.kind == "patient":
                    patients |= self.patients
                elif practitioner:
                    # the patients of their care relationships (or role), resolved per request
                    unrestricted = unrestricted or glass
                    covered = True
                    patients |= self.patients
                else:
                    grants = False
            elif scope.context == "patient":
                if self.kind == "patient":
                    patients |= self.patients
                elif glass:
                    unrestricted = True  # the scope still limits types and interactions
                elif self.launch_patient and (not practitioner or self.launch_patient in self.patients):
                    # a practitioner's launch context counts while they care for that patient
                    patients.add(self.launch_patient)
                else:
                    grants = False
            if grants:
                queries.append(scope.query)
        if practitioner and resource_type in SELF_AGENT_ONLY and scopes and not self.is_unrestricted:
            # a professional reads the audit trail of their own actions only (agent.who = themself),
            # whatever their patients, and break-the-glass does not widen it
            unrestricted, covered, patients = False, True, set()
        if not unrestricted and not patients and not covered:
            raise forbidden(
                f"Le jeton ne donne pas accès à {resource_type} ({interaction}) : portée insuffisante."
            )
        if practitioner and self.role in roles.ROLE_TYPES:
            if letter not in roles.ROLE_TYPES[self.role].get(resource_type, ""):
                raise forbidden(f"Votre rôle ne donne pas accès à {resource_type} ({interaction}).")
            unrestricted = False
        narrowing = tuple(q for q in queries if q) if queries and None not in queries else ()
        if narrowing:
            return Grant(False, frozenset(patients), narrowing, everyone=unrestricted)
        return Grant(unrestricted, frozenset(patients))

    def _wide(self, letters: str) -> bool:
        """Whether one unrestricted scope covers every type with all of ``letters``."""
        if self.is_unrestricted:
            return True
        if self.kind == "practitioner" and not (self.break_glass and self.role == roles.CARE):
            return False  # their reach is their patients (or role), whatever the scope's breadth
        context = {"system": "system", "practitioner": "user"}.get(self.kind)
        return any(
            s.context == context
            and s.resource_type == "*"
            and s.query is None
            and set(letters) <= s.interactions
            for s in self.scopes.resources
        )

    def reads_everything(self) -> bool:
        return self._wide("rs")

    def reads_and_writes_everything(self) -> bool:
        return self._wide("cruds")

    # -- instances ---------------------------------------------------------------------

    def can_read(self, resource_type: str, resource: dict[str, Any], interaction: str = "read") -> bool:
        """Whether a resource (as stored) may be shown; used for reads and for every search/include entry."""
        try:
            grant = self.grant(resource_type, interaction)
        except FhirError:
            return False
        return self.within(grant, resource_type, resource)

    def check_write(
        self,
        resource_type: str,
        resource: dict[str, Any],
        interaction: str,
        current: dict[str, Any] | None = None,
    ) -> None:
        """403 unless the token may write ``resource`` (the new content of a create or update;
        ``current``: the version it replaces, which must obey the same rule)."""
        grant = self.grant(resource_type, interaction)
        if grant.narrowing and not _narrowed_in(grant, resource_type, resource):
            allowed = " ou ".join(grant.narrowing)
            raise forbidden(f"Le jeton ne permet d'écrire que des {resource_type} {allowed}.")
        if grant.unrestricted or grant.everyone:
            self.check_glass_write(resource_type)
            return
        self.check_named(grant, resource_type, resource, current)
        if self.role == roles.CONSEIL:
            stale = roles.conseil_thread_over(
                resource_type, resource, current, withdrawn=self.withdrawn, closed=self.closed
            )
            if stale:
                raise FhirError(422, "business-rule", stale[0], expression=[stale[1]])
        if self.role == roles.CONSEIL or self.role == roles.PHARMACIST:
            why = (
                roles.conseil_may_write(
                    resource_type, resource, threads=self.threads, patients=self.patients, inbox=self.inbox
                )
                if self.role == roles.CONSEIL
                else roles.pharmacist_may_write(resource_type, resource, actors=self.actors)
            )
            if why:
                raise forbidden(why)
            return
        if self.kind == "practitioner" and resource_type == "Patient" and interaction == "create":
            return  # a new record reveals nothing (the relationship comes with Encounter, CareTeam...)
        if not in_patient_compartment_type(resource_type):
            raise forbidden(f"Ce jeton ne peut pas écrire de {resource_type} (hors dossier patient).")
        if not in_compartment(resource_type, resource, grant.patients) and not self._own(
            resource_type, resource
        ):
            raise forbidden("La ressource doit appartenir au dossier du patient autorisé par le jeton.")

    def write_reach(self, grant: Grant) -> frozenset[str] | None:
        """The patients whose records a restricted write may name (None: no limit, or a role's rules)."""
        if grant.unrestricted or grant.everyone or self.is_unrestricted:
            return None
        if self.role == roles.PHARMACIST:
            return None  # the prescription rules (roles.pharmacist_update, relationships.check_dispense)
        if self.role == roles.CONSEIL:
            return self.patients
        return grant.patients

    def check_named(
        self,
        grant: Grant,
        resource_type: str,
        resource: dict[str, Any],
        current: dict[str, Any] | None = None,
    ) -> None:
        """THE write rule: every patient a written resource names — anywhere in it, contained
        resources included, in the content written and in the version it replaces — must already
        be within the caller's reach; otherwise 403 naming the first reference out of reach.

        Why every reference and not "one patient of the compartment": care relationships are read
        from stored resources (``relationships.resolve``), so a write naming a patient out of reach
        (an Appointment actor, a Communication subject, an Observation performer) would open that
        record. With this rule, a relationship that grants access can only be written by someone
        who already has it (the patient themself, a professional who cares for them, or a system
        client with an unrestricted grant).
        """
        reach = self.write_reach(grant)
        if reach is None:
            return
        for body, label in ((resource, "La ressource"), (current, "La version remplacée")):
            if body is None:
                continue
            for ref, path in named_patients(resource_type, body).items():
                if ref.split("/", 1)[1] not in reach:
                    raise FhirError(
                        403,
                        "forbidden",
                        f"{label} cite {ref}, un patient hors de votre accès : écriture refusée.",
                        expression=[path],
                    )

    def _is_agent(self, resource: dict[str, Any]) -> bool:
        """Whether the caller is an ``agent.who`` of this AuditEvent (by its reference)."""
        if not self.fhir_user:
            return False
        for agent in resource.get("agent") or []:
            if isinstance(agent, dict) and roles.ref_of(agent.get("who")) == self.fhir_user:
                return True
        return False

    def _own(self, resource_type: str, resource: dict[str, Any]) -> bool:
        """A care practitioner's own resource that names no patient (see :data:`OWN_PARAMS`)."""
        params = OWN_PARAMS.get(resource_type)
        if self.role != roles.CARE or params is None or patient_refs(resource_type, resource):
            return False
        return bool(references_at(resource_type, params, resource) & (self.actors | self.inbox))

    def check_glass_write(self, resource_type: str) -> None:
        """Break-the-glass opens patients' records, not the directory (a role, an organisation): 403."""
        if self.kind != "practitioner" or in_patient_compartment_type(resource_type):
            return
        raise forbidden(f"Bris de glace : pas d'écriture de {resource_type} (hors dossier patient).")

    def within(self, grant: Grant, resource_type: str, resource: dict[str, Any]) -> bool:
        """Whether ``resource`` (as stored) is in the reach ``grant`` gives (compartment or role rules)."""
        if grant.narrowing and not _narrowed_in(grant, resource_type, resource):
            return False
        if self._withheld(resource_type, resource):
            return False
        if grant.unrestricted or grant.everyone:
            return True
        if (
            self.kind == "patient"
            and resource_type in DRAFTS_HIDDEN_FROM_PATIENTS
            and resource.get("status") == "draft"
        ):
            return False
        if self.role == roles.CONSEIL:
            return roles.conseil_sees(
                resource_type,
                resource,
                actors=self.actors,
                inbox=self.inbox,
                threads=self.threads,
                patients=self.patients,
            )
        if self.role == roles.PHARMACIST:
            return roles.pharmacist_sees(resource_type, resource, actors=self.actors)
        if self.kind == "practitioner" and resource_type in SELF_AGENT_ONLY:
            return self._is_agent(resource)
        if resource_type in THROUGH_CONTEXT or resource_type in UNRESTRICTED_ONLY:
            return False  # a Binary read by id is decided on its securityContext (auth.access)
        if resource_type == "Device":
            owners = {
                r.split("/", 1)[1] for r in roles.refs(resource.get("patient")) if r.startswith("Patient/")
            }
            return owners <= grant.patients
        if not in_patient_compartment_type(resource_type):
            return True
        return in_compartment(resource_type, resource, grant.patients) or self._own(resource_type, resource)

    # -- searches (applied by fhir_server.search) ---------------------------------------

    def search_filter(self, resource_type: str, interaction: str = "search-type") -> dict[str, Any] | None:
        """The Mongo filter (on the type's current-version collection) to AND into a search; 403 if no scope.

        None means no restriction. Types outside the Patient compartment (Practitioner,
        Organization, Medication...) are reference data and are not restricted.
        """
        grant = self.grant(resource_type, interaction)
        withheld = self._withheld_filter(resource_type)
        if grant.unrestricted:
            return withheld
        reach = None if grant.everyone else self._reach_filter(resource_type, grant)
        if not grant.narrowing:
            return _excluding(reach, withheld)
        from fhir_server.search import scope_filter

        return _excluding(
            _conjunction(reach, [scope_filter(resource_type, q) for q in grant.narrowing]), withheld
        )

    def _withheld(self, resource_type: str, resource: dict[str, Any]) -> bool:
        """Hidden from this user whatever their reach: the secure-messaging labels of :mod:`.roles`."""
        if self.kind == "patient":
            return roles.not_for_patient(resource)
        if self.kind == "practitioner" and self.role == roles.CARE:
            return roles.hidden_from_care(resource_type, resource, self.actors | self.inbox)
        return False

    def _withheld_filter(self, resource_type: str) -> dict[str, Any] | None:
        """The search form of :meth:`_withheld` (None: nothing withheld)."""
        if self.kind == "patient":
            return roles.not_for_patient_filter() if in_patient_compartment_type(resource_type) else None
        if self.kind == "practitioner" and self.role == roles.CARE:
            return roles.hidden_from_care_filter(resource_type, self.actors | self.inbox)
        return None

    def _reach_filter(self, resource_type: str, grant: Grant) -> dict[str, Any] | None:
        """The compartment or role part of :meth:`search_filter` (403 for what a role may not search)."""
        if self.role == roles.CONSEIL:
            return roles.conseil_filter(
                resource_type,
                actors=self.actors,
                inbox=self.inbox,
                threads=self.threads,
                patients=self.patients,
            )
        if self.role == roles.PHARMACIST:
            if resource_type == "Patient":
                raise forbidden(
                    "Un pharmacien ne recherche pas de patients : lecture par l'ordonnance seulement."
                )
            return roles.pharmacist_filter(resource_type, actors=self.actors)
        if self.kind == "practitioner" and resource_type in SELF_AGENT_ONLY:
            return {"s.agent": {"$in": [self.fhir_user or "-"]}}
        if resource_type in THROUGH_CONTEXT or resource_type in UNRESTRICTED_ONLY:
            raise forbidden(f"Recherche de {resource_type} réservée aux accès sans restriction de dossier.")
        if resource_type == "Device":
            refs = sorted(f"Patient/{p}" for p in grant.patients)
            return {"$or": [{"s.patient": {"$exists": False}}, {"s.patient": {"$in": refs}}]}
        records = compartment_filter(resource_type, grant.patients)
        if self.kind == "patient" and resource_type in DRAFTS_HIDDEN_FROM_PATIENTS and records is not None:
            records = {**records, "s.status": {"$ne": "draft"}}
        if self.role == roles.CARE and resource_type in OWN_PARAMS and records is not None:
            mine = [{f"s.{p}": {"$in": sorted(self.actors | self.inbox)}} for p in OWN_PARAMS[resource_type]]
            no_patient = [{f"s.{p}": {"$not": _PATIENT_REF}} for p in compartment_params(resource_type) or ()]
            return {"$or": [records, {"$and": [{"$or": mine}, *no_patient]}]}
        return records

    def readable_types(self, types: Iterable[str], interaction: str = "search-type") -> list[str]:
        """The subset of ``types`` this token may search at all (for ``_type`` and system search)."""
        out = []
        for t in types:
            try:
                self.search_filter(t, interaction)
            except FhirError:
                continue
            out.append(t)
        return out

    # -- audit -------------------------------------------------------------------------

    @property
    def assurance(self) -> str | None:
        """How the user authenticated (the token's ``acr``): PSC's eidas1, a local account's lower
        level (:data:`fhir_server.auth.pro_accounts.ACCOUNT_ACR`); None for backend services."""
        acr = self.claims.get("acr")
        return str(acr) if acr and self.kind in ("practitioner", "patient") else None

    @property
    def who(self) -> dict[str, Any]:
        """The AuditEvent ``agent.who`` of this token's user (or client, for backend services)."""
        if self.fhir_user:
            return {"reference": self.fhir_user}
        return {"identifier": {"system": "urn:passerelle:client", "value": self.client_id or self.subject}}


def _narrowed_in(grant: Grant, resource_type: str, resource: dict[str, Any]) -> bool:
    """Whether ``resource`` matches one of the granular scope queries of ``grant``."""
    from fhir_server.search import scope_matches

    return any(scope_matches(resource_type, q, resource) for q in grant.narrowing)


def _excluding(reach: dict[str, Any] | None, clause: dict[str, Any] | None) -> dict[str, Any] | None:
    """``reach`` AND ``clause``, the clause repeated in each alternative of an ``$or`` (the flat shapes
    :mod:`fhir_server.search.access` splits into indexed queries)."""
    if clause is None:
        return reach
    if reach is None:
        return clause
    alternatives = reach["$or"] if list(reach) == ["$or"] else [reach]
    combined = [{**a, **clause} if not set(a) & set(clause) else {"$and": [a, clause]} for a in alternatives]
    return combined[0] if len(combined) == 1 else {"$or": combined}


def _conjunction(reach: dict[str, Any] | None, narrowing: list[dict[str, Any]]) -> dict[str, Any]:
    """``reach`` AND (any of ``narrowing``), as an ``$or`` of flat alternatives (the shape
    :mod:`fhir_server.search.access` splits into indexed queries)."""
    alternatives = reach["$or"] if reach is not None and list(reach) == ["$or"] else [reach or {}]
    combined = [
        {**a, **n} if not set(a) & set(n) else {"$and": [a, n]} for a in alternatives for n in narrowing
    ]
    return combined[0] if len(combined) == 1 else {"$or": combined}


@cache
def _unrestricted() -> AccessPolicy:
    """One shared ``--no-auth`` policy (immutable): not rebuilt on every request."""
    return AccessPolicy(kind="unrestricted", scopes=ScopeSet.parse("system/*.cruds"))
