"""How a secure-messaging thread is written in FHIR, and what the screens show of it.

- thread header: a ``Communication`` without ``partOf`` (``topic`` = the object, ``subject`` = the
  patient, ``sender`` = the doctor — or their health centre —, ``recipient`` = the échelon's
  Organization); ``preparation`` while it is a draft, ``in-progress`` once sent, ``completed``
  when the échelon closed it;
- messages: ``Communication`` ``partOf`` the header, ``inResponseTo`` the previous message,
  ``payload`` = text + attachments (``Binary`` whose ``securityContext`` is the message);
  ``preparation`` = a draft; ``received`` = opened by the other side (the read mark);
- back office: one ``Task`` per thread (``focus`` = header, ``owner`` = the échelon): ``requested``
  = À traiter, ``in-progress`` = En cours, ``completed`` = Clos (``draft``: a conversation the
  échelon is composing, in À traiter).
- a conversation the échelon opens: the header's ``sender`` is the échelon, its ``recipient`` the
  doctor (liberal) or the structure (FINESS); the messages' ``sender`` is the médecin conseil.
- a structure's message: ``sender`` = the structure (the addressee of the replies), and the
  extension :data:`fhir_server.auth.roles.WRITER_URL` names the salaried doctor who wrote it.

Every thread header is updated with each message sent (its ``_lastUpdated`` is the thread's last
activity), so that lists are one FHIR search sorted by ``-_lastUpdated`` and paged by the server.

Every resource carries the category/code :data:`CATEGORY`, the security label NOPAT (never shown
to the patient) and, once the doctor side deleted the conversation, the tag WITHDRAWN (see
:mod:`fhir_server.auth.roles`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhir_server.auth.roles import MESSAGING_SYSTEM, NOPAT, THREAD, WITHDRAWN

CATEGORY_CODE = THREAD.split("|")[1]  # the FHIR layer's rules key on it (fhir_server.auth.roles)
CATEGORY = {"system": MESSAGING_SYSTEM, "code": CATEGORY_CODE, "display": "Échange avec le médecin conseil"}
CATEGORY_TOKEN = f"{MESSAGING_SYSTEM}|{CATEGORY_CODE}"
NOPAT_CODING = {
    "system": NOPAT.split("|")[0],
    "code": "NOPAT",
    "display": "no disclosure to patient, family or caregivers without attending provider's authorization",
}
WITHDRAWN_CODING = {"system": WITHDRAWN.split("|")[0], "code": WITHDRAWN.split("|")[1]}
NAM_SYSTEM = "urn:passerelle:numero-assurance-maladie"  # N° AM of a liberal doctor (format only)

A_TRAITER, EN_COURS, CLOS = "a-traiter", "en-cours", "clos"
BINS = {A_TRAITER: "À traiter", EN_COURS: "En cours", CLOS: "Clos"}
BIN_STATUSES = {
    A_TRAITER: ("requested", "received", "draft"),
    EN_COURS: ("accepted", "in-progress"),
    CLOS: ("completed",),
}


def bin_of(task_status: str) -> str:
    return next((b for b, statuses in BIN_STATUSES.items() if task_status in statuses), A_TRAITER)


def labelled(resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` with the messaging category and the NOPAT label (kept idempotent)."""
    meta = dict(resource.get("meta") or {})
    security = [c for c in meta.get("security") or [] if c.get("code") != "NOPAT"]
    meta["security"] = [*security, NOPAT_CODING]
    meta.pop("versionId", None)
    meta.pop("lastUpdated", None)
    out = {**resource, "meta": meta}
    if out["resourceType"] == "Communication":
        out["category"] = [{"coding": [CATEGORY]}]
    else:
        out["code"] = {"coding": [CATEGORY]}
    return out


def withdrawn(resource: dict[str, Any]) -> bool:
    tags = (resource.get("meta") or {}).get("tag") or []
    return any(f"{t.get('system')}|{t.get('code')}" == WITHDRAWN for t in tags)


def ref(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def ref_of(value: Any) -> str | None:
    r = value.get("reference") if isinstance(value, dict) else None
    return "/".join(r.split("/_history/")[0].split("/")[-2:]) if isinstance(r, str) and "/" in r else None


@dataclass
class Party:
    """A correspondent as the screens show it: a doctor, a health centre / establishment, an échelon."""

    ref: str
    kind: str  # "medecin" | "structure" | "echelon" | "agent"
    name: str
    email: str = ""
    nam: str = ""
    finess: str = ""
    postal_code: str = ""
    town: str = ""
    department: str = ""
    initials: str = ""

    @property
    def badge(self) -> str:
        """Who started a thread: ELSM + department; the doctor's initials; structure 2 letters + FINESS 2."""
        if self.kind == "echelon":
            return f"ELSM {self.department}".strip()
        if self.kind == "structure":
            letters = "".join(ch for ch in self.name if ch.isalpha())[:2].upper()
            return f"{letters}{self.finess[:2]}"
        return self.initials

    @property
    def identifier(self) -> str:
        return self.finess if self.kind == "structure" else self.nam


@dataclass
class AttachmentInfo:
    title: str
    content_type: str
    size: int
    binary: str  # Binary/<id>


@dataclass
class Message:
    id: str
    sender: str  # reference
    sender_name: str
    from_echelon: bool
    sent: str
    text: str
    draft: bool
    received: str = ""
    attachments: list[AttachmentInfo] = field(default_factory=list)
    version: str = ""
    writer: str = ""  # the salaried doctor who wrote for their structure (name)


@dataclass
class PatientCard:
    id: str
    name: str
    family: str
    given: str
    nir: str
    birth_date: str
    rank: str = ""
    regime: str = ""
    fund: str = ""  # management centre (the fund)
    fund_code: str = ""
    echelon_code: str = ""
    echelon_name: str = ""  # medical service


@dataclass
class Thread:
    id: str
    topic: str
    status: str  # header status
    patient: PatientCard | None
    started_by: Party | None
    correspondent: Party | None  # the doctor side (doctor or structure)
    echelon: Party | None
    messages: list[Message] = field(default_factory=list)
    task: dict[str, Any] | None = None
    header: dict[str, Any] = field(default_factory=dict)
    writer: str = ""  # the agent of the échelon who last wrote ("Rédacteur")
    doctor_writer: str = ""  # the structure's doctor who last wrote for it

    @property
    def opened_by_echelon(self) -> bool:
        return self.started_by is not None and self.started_by.kind == "echelon"

    @property
    def bin(self) -> str:
        return bin_of(str((self.task or {}).get("status") or "requested"))

    @property
    def draft(self) -> bool:
        return self.status == "preparation" or any(m.draft for m in self.messages)

    @property
    def last_date(self) -> str:
        dates = [m.sent for m in self.messages if m.sent] + [str(self.header.get("sent") or "")]
        dates.append(str((self.header.get("meta") or {}).get("lastUpdated") or ""))
        return max(dates)

    @property
    def withdrawn(self) -> bool:
        return withdrawn(self.header)

    def unread_by(self, echelon_side: bool) -> bool:
        """Whether the other side's sent messages include one not opened yet."""
        return any(not m.draft and not m.received and m.from_echelon != echelon_side for m in self.messages)

    def read_by_other(self, echelon_side: bool) -> bool:
        """ "[Lu]": the last sent message of this side has been opened by the other side."""
        mine = [m for m in self.messages if not m.draft and m.from_echelon == echelon_side]
        return bool(mine) and bool(mine[-1].received)


@dataclass
class ThreadPage:
    """One page of a list of threads, as the FHIR search returned it (newest activity first)."""

    threads: list[Thread]
    next: str | None = None  # the server's paging cursors
    previous: str | None = None
