"""Server-side portal sessions, in the database beside the authorization server's records.

The browser holds only a random session id (HttpOnly, SameSite cookie); the record, keyed
by the id's SHA-256, holds who is logged in, their access and refresh tokens, the CSRF
token, the lock flag and pending flash messages. A session ends after ``idle_minutes``
without a request or ``max_hours`` in all; a locked session keeps no usable token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

SESSIONS = "portal_sessions"
LOGINS = "portal_logins"
LOGIN_TTL = timedelta(minutes=15)
TOUCH_EVERY = timedelta(seconds=60)  # sliding expiry written at most this often


def now() -> datetime:
    return datetime.now(UTC)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class PortalUser:
    """Who is logged in: a professional (through Pro Santé Connect) or a patient."""

    kind: str  # "practitioner" | "patient"
    fhir_user: str  # "Practitioner/…" | "Patient/…"
    name: str = ""
    conseil: bool = False  # a médecin conseil (found at login from their PractitionerRoles)

    @property
    def menu_kind(self) -> str:
        """Whose menu and home page: "practitioner", "patient", or "conseil" for a médecin conseil."""
        return "conseil" if self.conseil and self.kind == "practitioner" else self.kind

    @property
    def id(self) -> str:
        return self.fhir_user.split("/", 1)[1]

    @property
    def is_practitioner(self) -> bool:
        return self.kind == "practitioner"

    def to_doc(self) -> dict[str, Any]:
        return {"kind": self.kind, "fhir_user": self.fhir_user, "name": self.name, "conseil": self.conseil}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> PortalUser:
        return cls(
            kind=doc["kind"],
            fhir_user=doc["fhir_user"],
            name=doc.get("name", ""),
            conseil=bool(doc.get("conseil")),
        )


@dataclass
class Tokens:
    access_token: str
    expires_at: datetime
    refresh_token: str | None = None

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> Tokens:
        return cls(
            access_token=str(body["access_token"]),
            expires_at=now() + timedelta(seconds=int(body.get("expires_in") or 300)),
            refresh_token=body.get("refresh_token"),
        )


@dataclass
class Session:
    key: str  # SHA-256 of the cookie value
    user: PortalUser
    csrf: str
    root: str  # the authorization server / FHIR root the tokens are for
    tokens: Tokens | None
    locked: bool
    expires: datetime
    deadline: datetime
    flash: list[dict[str, str]] = field(default_factory=list)
    # What areas remember for the session's life (the terms version already checked...).
    marks: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Session:
        tokens = None
        if doc.get("access_token"):
            tokens = Tokens(doc["access_token"], _aware(doc["access_expires"]), doc.get("refresh_token"))
        return cls(
            key=doc["_id"],
            user=PortalUser.from_doc(doc["user"]),
            csrf=doc["csrf"],
            root=doc["root"],
            tokens=tokens,
            locked=bool(doc.get("locked")),
            expires=_aware(doc["expires"]),
            deadline=_aware(doc["deadline"]),
            flash=list(doc.get("flash") or []),
            marks=dict(doc.get("marks") or {}),
        )


class SessionStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], idle: timedelta, maximum: timedelta) -> None:
        self.db = db
        self.idle = idle
        self.maximum = maximum

    async def ensure_indexes(self) -> None:
        await self.db[SESSIONS].create_index([("purge", ASCENDING)], expireAfterSeconds=0)
        await self.db[LOGINS].create_index([("expires", ASCENDING)], expireAfterSeconds=0)

    # -- sessions -----------------------------------------------------------------------

    async def create(self, user: PortalUser, tokens: Tokens, root: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        t = now()
        deadline = t + self.maximum
        doc = {
            "_id": digest(sid),
            "user": user.to_doc(),
            "csrf": secrets.token_urlsafe(32),
            "root": root,
            "access_token": tokens.access_token,
            "access_expires": tokens.expires_at,
            "refresh_token": tokens.refresh_token,
            "locked": False,
            "created": t,
            "seen": t,
            "expires": min(t + self.idle, deadline),
            "deadline": deadline,
            "purge": deadline,
            "flash": [],
        }
        await self.db[SESSIONS].insert_one(doc)
        return sid, Session.from_doc(doc)

    async def load(self, sid: str | None) -> tuple[Session | None, str]:
        """The live session of this cookie value, its expiry pushed back; (None, why) otherwise."""
        if not sid:
            return None, "none"
        doc = await self.db[SESSIONS].find_one({"_id": digest(sid)})
        if doc is None:
            return None, "unknown"
        t = now()
        if _aware(doc["expires"]) <= t or _aware(doc["deadline"]) <= t:
            await self.db[SESSIONS].delete_one({"_id": doc["_id"]})
            return None, "expired"
        if t - _aware(doc["seen"]) >= TOUCH_EVERY:
            expires = min(t + self.idle, _aware(doc["deadline"]))
            await self.db[SESSIONS].update_one({"_id": doc["_id"]}, {"$set": {"seen": t, "expires": expires}})
            doc["expires"] = expires
        return Session.from_doc(doc), "ok"

    async def set_tokens(self, session: Session, tokens: Tokens) -> None:
        session.tokens = tokens
        await self.db[SESSIONS].update_one(
            {"_id": session.key},
            {
                "$set": {
                    "access_token": tokens.access_token,
                    "access_expires": tokens.expires_at,
                    "refresh_token": tokens.refresh_token,
                }
            },
        )

    async def lock(self, session: Session) -> None:
        session.locked = True
        session.tokens = None
        await self.db[SESSIONS].update_one(
            {"_id": session.key},
            {"$set": {"locked": True}, "$unset": {"access_token": 1, "refresh_token": 1}},
        )

    async def unlock(self, session: Session, tokens: Tokens) -> None:
        await self.db[SESSIONS].update_one(
            {"_id": session.key},
            {
                "$set": {
                    "locked": False,
                    "access_token": tokens.access_token,
                    "access_expires": tokens.expires_at,
                    "refresh_token": tokens.refresh_token,
                    "csrf": secrets.token_urlsafe(32),
                }
            },
        )

    async def destroy(self, session: Session) -> None:
        await self.db[SESSIONS].delete_one({"_id": session.key})

    async def mark(self, session: Session, key: str, value: str) -> None:
        session.marks[key] = value
        await self.db[SESSIONS].update_one({"_id": session.key}, {"$set": {f"marks.{key}": value}})

    async def flash(self, session: Session, level: str, text: str) -> None:
        await self.db[SESSIONS].update_one(
            {"_id": session.key}, {"$push": {"flash": {"level": level, "text": text}}}
        )

    async def take_flash(self, session: Session) -> list[dict[str, str]]:
        if not session.flash:
            return []
        await self.db[SESSIONS].update_one({"_id": session.key}, {"$set": {"flash": []}})
        messages, session.flash = session.flash, []
        return messages

    # -- pending logins (state, PKCE verifier), single use --------------------------------

    async def start_login(self, data: dict[str, Any]) -> str:
        state = secrets.token_urlsafe(24)
        await self.db[LOGINS].insert_one({"_id": digest(state), **data, "expires": now() + LOGIN_TTL})
        return state

    async def consume_login(self, state: str) -> dict[str, Any] | None:
        """The pending login of ``state``, removed atomically (a replayed callback finds nothing)."""
        if not state:
            return None
        doc = await self.db[LOGINS].find_one_and_delete({"_id": digest(state)})
        if doc is None or _aware(doc["expires"]) <= now():
            return None
        return doc
