"""A minimal keep-alive HTTP/1.1 client for load generation.

General-purpose clients (httpx) spend more CPU per request than the server under
test does on a small read, so on a 2-core machine they measure themselves. This one
does only what a load generator needs: one persistent connection per worker,
``Content-Length`` framing, and the status, headers and body of each answer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

# Seconds a connection may sit idle and still be reused (the server's keep-alive timeout is 5 s).
IDLE_REUSE = 2.0


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0.0

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Reply:
        if self.writer is not None and time.monotonic() - self.used > IDLE_REUSE:
            await self.close()  # the server may be closing it (keep-alive timeout): never race it
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for key, value in (headers or {}).items():
            lines.append(f"{key}: {value}")
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        parsed: dict[str, str] = {}
        for line in header_lines:
            if line:
                key, _, value = line.partition(":")
                parsed[key.strip().lower()] = value.strip()
        length = int(parsed.get("content-length", "0"))
        data = await self.reader.readexactly(length) if length else b""
        self.used = time.monotonic()
        if parsed.get("connection", "").lower() == "close":
            await self.close()
        return Reply(status, parsed, data)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()
            self.writer = None


class Pool:
    """One connection per concurrent worker, handed out and returned."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self._free: asyncio.Queue[Connection] = asyncio.Queue()
        for _ in range(size):
            self._free.put_nowait(Connection(host, port))
        self._all = list(self._free._queue)  # type: ignore[attr-defined]

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Reply:
        conn = await self._free.get()
        try:
            return await conn.request(method, path, body, headers)
        finally:
            self._free.put_nowait(conn)

    async def close(self) -> None:
        for conn in self._all:
            await conn.close()
