"""The server's signing keys: generated on first start, kept under the data dir, published as a JWKS.

Access tokens and ID tokens are JWTs signed with these keys, so every process serving
the same data dir must use the same ones: they are written once (mode 0600) and read
back on every later start, never regenerated while the file exists.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from joserfc.jwk import KeySet, RSAKey

ALG = "RS256"
_lock = threading.Lock()


def _generate(path: Path) -> KeySet:
    key = RSAKey.generate_key(2048, parameters={"kid": uuid.uuid4().hex, "use": "sig", "alg": ALG})
    keyset = KeySet([key])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keyset.as_dict(private=True), fh)
    try:
        os.link(tmp, path)  # atomic and refuses to replace a key written meanwhile
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return KeySet.import_key_set(json.loads(path.read_text()))


@cache
def signing_keys(path: Path) -> KeySet:
    """The private key set stored at ``path``, created on first use."""
    with _lock:
        if path.exists():
            return KeySet.import_key_set(json.loads(path.read_text()))
        return _generate(path)


def signing_key(path: Path) -> RSAKey:
    key = signing_keys(path).keys[0]
    assert isinstance(key, RSAKey)
    return key


def public_jwks(path: Path) -> dict[str, Any]:
    return dict(signing_keys(path).as_dict(private=False))
