"""NDJSON files of one export: one series per resource type, a new file beyond a size.

Lines are buffered and written by a worker thread (``asyncio.to_thread``) in chunks of about
1 MiB, so the event loop never waits on the disk; each file is flushed and fsynced before
the export reports it, so a manifest never lists a file that a crash could truncate.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

_CHUNK = 1024 * 1024


@dataclass
class OutputFile:
    type: str
    name: str
    count: int
    size: int

    def to_doc(self) -> dict[str, object]:
        return {"type": self.type, "name": self.name, "count": self.count, "size": self.size}


def _write(handle: IO[bytes], chunk: bytes) -> None:
    handle.write(chunk)


def _close(handle: IO[bytes]) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


class NdjsonSeries:
    """The files of one type (``Observation.ndjson``, ``Observation-2.ndjson``…) in ``directory``."""

    def __init__(self, directory: Path, type_: str, max_bytes: int, prefix: str = "") -> None:
        self.directory = directory
        self.type = type_
        self.max_bytes = max(1, max_bytes)
        self.prefix = prefix  # "deleted-" or "error-" for the manifest's other lists
        self.files: list[OutputFile] = []
        self._handle: IO[bytes] | None = None
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._current: OutputFile | None = None

    def _name(self) -> str:
        n = len(self.files) + 1
        return f"{self.prefix}{self.type}{'' if n == 1 else f'-{n}'}.ndjson"

    async def _open(self) -> None:
        current = OutputFile(self.type, self._name(), 0, 0)
        path = self.directory / current.name
        self._handle = await asyncio.to_thread(open, path, "wb")
        self._current = current
        self.files.append(current)

    async def add(self, line: bytes) -> None:
        """Append one resource (its JSON bytes, without the newline)."""
        size = len(line) + 1
        current = self._current
        if current is None or (current.count and current.size + size > self.max_bytes):
            await self._rotate()
            current = self._current
        assert current is not None
        current.count += 1
        current.size += size
        self._buffer.append(line)
        self._buffered += size
        if self._buffered >= _CHUNK:
            await self._flush()

    async def _flush(self) -> None:
        if not self._buffer or self._handle is None:
            return
        chunk = b"\n".join(self._buffer) + b"\n"
        self._buffer, self._buffered = [], 0
        await asyncio.to_thread(_write, self._handle, chunk)

    async def _rotate(self) -> None:
        await self.close()
        await self._open()

    async def close(self) -> None:
        """Flush, fsync and close the current file (the series may go on with a new one)."""
        await self._flush()
        handle, self._handle = self._handle, None
        if handle is not None:
            await asyncio.to_thread(_close, handle)
        self._current = None

    def discard(self) -> None:
        """Remove every file of the series (an interrupted type is exported again)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        for f in self.files:
            (self.directory / f.name).unlink(missing_ok=True)
        self.files = []
        self._current = None
