"""Single-use numeric codes sent by SMS (login second factor, mobile check at sign-up).

A code is stored as the SHA-256 of (salt + code) in a sub-document of the record it belongs
to (a login session, an account), with an expiry and a try counter. One atomic
``find_one_and_update`` consumes the right code (of N parallel submissions exactly one wins)
and one atomic increment counts each wrong one, so no more than ``tries`` guesses are ever
checked. Used by the patient and professional logins and by the professional sign-up.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pymongo import ReturnDocument

from fhir_server.auth.store import now

TTL = timedelta(minutes=5)
TRIES = 3


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256((salt + code).encode()).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def pending(salt: str, code: str, ttl: timedelta = TTL, **extra: Any) -> dict[str, Any]:
    """The sub-document to ``$set`` for a new code (``extra`` is kept beside it, e.g. the account)."""
    return {"hash": _digest(salt, code), "expires": now() + ttl, "tries": 0, **extra}


@dataclass
class Redeemed:
    """The outcome of one submission: ``doc`` (before the update) when the code was right."""

    doc: dict[str, Any] | None = None
    tries: int = 0  # wrong tries so far (when wrong)
    exhausted: bool = False  # no code any more: used, expired or out of tries
    seen: dict[str, Any] | None = None  # the document as counted (wrong code)

    @property
    def ok(self) -> bool:
        return self.doc is not None


async def redeem(
    coll: Any, query: dict[str, Any], field: str, salt: str, code: str, *, tries: int = TRIES,
    on_success: dict[str, Any] | None = None,
) -> Redeemed:  # fmt: skip
    """Consume the code in ``field`` of the one document matching ``query``, atomically.

    ``on_success`` is more of the same update (e.g. ``{"$set": {"active": True}}``), applied in
    the same atomic step as the consumption."""
    update: dict[str, Any] = {"$unset": {field: 1}}
    for op, values in (on_success or {}).items():
        update[op] = {**update.get(op, {}), **values}
    won = await coll.find_one_and_update(
        {
            **query,
            f"{field}.hash": _digest(salt, code.strip()),
            f"{field}.expires": {"$gt": now()},
            f"{field}.tries": {"$lt": tries},
        },
        update,
    )
    if won is not None:
        return Redeemed(doc=won)
    counted = await coll.find_one_and_update(
        {**query, f"{field}.tries": {"$lt": tries}, f"{field}.expires": {"$gt": now()}},
        {"$inc": {f"{field}.tries": 1}},
        return_document=ReturnDocument.AFTER,
    )
    if counted is None:
        return Redeemed(exhausted=True)
    used = int(counted[field]["tries"])
    if used >= tries:
        await coll.update_one(query, {"$unset": {field: 1}})
        return Redeemed(tries=used, exhausted=True, seen=counted)
    return Redeemed(tries=used, seen=counted)
