"""The server running on a data dir: one ``passerelle serve`` per embedded database.

``passerelle serve`` holds an exclusive lock on ``<data-dir>/serve.lock`` for its whole
life (released by the system even when the process is killed) and writes where it serves
in ``<data-dir>/serve.json``. A second ``serve`` on the same data dir is refused with a clear
message instead of the embedded database's "resource busy", and the commands working on a
data dir (``load``, ``clients``, ``terminology load``) find the running server there.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any

LOCK = "serve.lock"
INFO = "serve.json"


class DataDirBusy(Exception):
    """Another server holds the data dir; ``info`` is what it published (may be empty)."""

    def __init__(self, data_dir: Path, info: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.info = info
        where = f" sur {info['url']}" if info.get("url") else ""
        pid = f" (processus {info['pid']})" if info.get("pid") else ""
        super().__init__(
            f"le dossier de données {data_dir} est déjà utilisé par un serveur en cours{where}{pid} : "
            "arrêtez-le (Ctrl-C) ou choisissez un autre dossier avec --data-dir"
        )


class ServerLock:
    """The exclusive claim of a data dir by one server process."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._handle: IO[str] | None = None

    def acquire(self) -> ServerLock:
        """Take the lock, or raise :class:`DataDirBusy`."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.data_dir / LOCK, "a+")  # noqa: SIM115 - held for the server's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise DataDirBusy(self.data_dir, _read_info(self.data_dir)) from None
        self._handle = handle
        (self.data_dir / INFO).unlink(missing_ok=True)  # a killed server's stale record
        return self

    def publish(self, **info: Any) -> None:
        """Say where this server serves (``url`` of the FHIR base, ``auth``, ``db_uri``...)."""
        path = self.data_dir / INFO
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), **info}))
        tmp.replace(path)

    def release(self) -> None:
        if self._handle is None:
            return
        (self.data_dir / INFO).unlink(missing_ok=True)
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None


def _read_info(data_dir: Path) -> dict[str, Any]:
    try:
        info = json.loads((data_dir / INFO).read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def running_server(data_dir: Path) -> dict[str, Any] | None:
    """What the server holding ``data_dir`` published, or None when no server holds it."""
    path = data_dir / LOCK
    if not path.exists():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_info(data_dir)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None
