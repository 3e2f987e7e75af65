"""The QR code's token: a JWS by the server's signing key over the prescription number.

It carries no patient data: the number, a random nonce (so the token is unguessable even
for someone who knows the number) and the issue time. A token signed for another number,
altered in any character, or signed by another key is refused (:func:`verify`).
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

ALG = "RS256"


class TokenError(ValueError):
    """The token is not one this server signed for that prescription."""


def sign(number: str, key: RSAKey) -> str:
    payload = orjson.dumps({"n": number, "j": secrets.token_urlsafe(12), "iat": int(time.time())})
    return jws.serialize_compact({"alg": ALG, "kid": key.kid}, payload, key, algorithms=[ALG])


def verify(number: str, token: str, keys: KeySet) -> dict[str, Any]:
    """The token's claims when it is this server's token for ``number``; :class:`TokenError` otherwise."""
    if not token or len(token) > 2048 or token.count(".") != 2:
        raise TokenError("jeton mal formé")
    try:
        obj = jws.deserialize_compact(token, keys, algorithms=[ALG])
        claims = orjson.loads(obj.payload)
    except (JoseError, ValueError, orjson.JSONDecodeError) as exc:
        raise TokenError("signature invalide") from exc
    if not isinstance(claims, dict) or claims.get("n") != number:
        raise TokenError("jeton d'une autre ordonnance")
    return claims


def pharmacy_url(base: str, number: str, token: str) -> str:
    """The URL the QR code carries: the pharmacy page of this ordonnance, with its token."""
    return f"{base.rstrip('/')}/{quote(number)}?{urlencode({'t': token})}"
