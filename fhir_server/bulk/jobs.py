"""Export jobs: stored in MongoDB (``bulk_jobs``), run in the background, resumed after a restart.

A job document holds what to export (the parsed request, the types, the patients, the
token's claims so its access policy can be rebuilt), its ``transactionTime``, its state
(``accepted`` → ``running`` → ``completed`` | ``failed``) and the types already exported
with their files. The manifest is built only from a ``completed`` job, written in one
update after every file is fsynced: a client never sees half a manifest.

Running: each server process runs at most ``concurrency`` exports at once, as asyncio tasks
that read the database through the async driver and write files from a worker thread, so the
event loop keeps serving requests. A running job holds a lease, renewed every third of its
length; a job whose lease ran out (its server stopped or crashed) is taken over by the next
process that looks, at start-up and then periodically. A resumed job keeps the types it had
finished and exports the interrupted one again (its partial files are removed first); after
``max_attempts`` starts it is failed with an OperationOutcome instead. A cancelled job
(``DELETE``) is removed with its files; an expired one too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from fhir_server.bulk.exporter import Export, TypeResult, non_empty
from fhir_server.bulk.request import ExportRequest
from fhir_server.bulk.settings import BulkSettings
from fhir_server.bulk.writer import NdjsonSeries
from fhir_server.errors import FhirError, issue, operation_outcome
from fhir_server.storage import MongoRepository
from fhir_server.storage.records import now_ms

log = logging.getLogger("passerelle.bulk")

JOBS = "bulk_jobs"
ACTIVE = ("accepted", "running")


def policy_from(job: dict[str, Any]) -> Any:
    """The access policy the job runs with: the kick-off token's (rebuilt from its claims)."""
    from fhir_server.auth.policy import AccessPolicy

    claims = job.get("claims")
    return AccessPolicy.unrestricted() if claims is None else AccessPolicy.from_claims(claims)


def result_doc(result: TypeResult) -> dict[str, Any]:
    return {
        "type": result.type,
        "output": [f.to_doc() for f in result.output],
        "deleted": [f.to_doc() for f in result.deleted],
        "errors": result.errors,
    }


class BulkJobs:
    """The export jobs of one server process (``app.state.bulk``)."""

    def __init__(self, repository: MongoRepository, data_dir: Path, settings: BulkSettings) -> None:
        self.repository = repository
        self.jobs = repository.db[JOBS]
        self.root = (data_dir / "bulk").resolve()
        self.settings = settings
        self.instance = uuid.uuid4().hex
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._loop: asyncio.Task[None] | None = None

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await self.jobs.create_index([("status", ASCENDING), ("lease", ASCENDING)], name="status_lease")
        await self.jobs.create_index([("owner", ASCENDING), ("status", ASCENDING)], name="owner_status")
        await self.jobs.create_index([("expires", ASCENDING)], name="expires", sparse=True)
        self.root.mkdir(parents=True, exist_ok=True)
        await self._remove_orphan_dirs()
        await self.tick()
        self._loop = asyncio.create_task(self._watch(), name="bulk-jobs")

    async def stop(self) -> None:
        """Stop this process's exports; their leases are released so a restart resumes them at once."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        mine = list(self._tasks)
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if mine:
            await self.jobs.update_many(
                {"_id": {"$in": mine}, "instance": self.instance, "status": {"$in": list(ACTIVE)}},
                {"$set": {"lease": now_ms() - timedelta(seconds=1)}},
            )

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 3)
            try:
                await self.tick()
            except Exception:
                log.exception("bulk job housekeeping failed")

    async def tick(self) -> None:
        """Renew our leases, notice cancellations, take over orphaned jobs, remove expired ones."""
        now = now_ms()
        lease = now + timedelta(seconds=self.settings.lease_seconds)
        for job_id in list(self._tasks):
            renewed = await self.jobs.update_one(
                {"_id": job_id, "instance": self.instance, "status": {"$in": list(ACTIVE)}},
                {"$set": {"lease": lease}},
            )
            if renewed.matched_count == 0:  # cancelled, or taken over: stop writing
                task = self._tasks.get(job_id)
                if task is not None:
                    task.cancel()
        orphans = self.jobs.find({"status": {"$in": list(ACTIVE)}, "lease": {"$lt": now}}, {"_id": 1})
        async for doc in orphans:
            claimed = await self.jobs.find_one_and_update(
                {"_id": doc["_id"], "status": {"$in": list(ACTIVE)}, "lease": {"$lt": now}},
                {"$set": {"lease": lease, "instance": self.instance}},
                return_document=ReturnDocument.AFTER,
            )
            if claimed is not None and claimed["_id"] not in self._tasks:
                log.info("resuming export %s", claimed["_id"])
                self._spawn(claimed["_id"])
        async for doc in self.jobs.find({"expires": {"$lt": now}}, {"_id": 1}):
            # files first: once the status URL says 404, nothing of the export is left
            await asyncio.to_thread(shutil.rmtree, self.directory(doc["_id"]), True)
            await self.jobs.delete_one({"_id": doc["_id"], "expires": {"$lt": now}})

    async def _remove_orphan_dirs(self) -> None:
        names = [p.name for p in self.root.iterdir() if p.is_dir()]
        if not names:
            return
        known = {d["_id"] async for d in self.jobs.find({"_id": {"$in": names}}, {"_id": 1})}
        for name in names:
            if name not in known:
                await asyncio.to_thread(shutil.rmtree, self.root / name, True)

    # -- jobs -----------------------------------------------------------------------------

    def directory(self, job_id: str) -> Path:
        return self.root / job_id

    async def active_count(self, owner: str) -> int:
        return int(await self.jobs.count_documents({"owner": owner, "status": {"$in": list(ACTIVE)}}))

    async def submit(
        self,
        *,
        request: ExportRequest,
        types: list[str],
        patients: list[str] | None,
        owner: str,
        who: dict[str, Any],
        claims: dict[str, Any] | None,
        kick_off_url: str,
        base: str,
        requires_token: bool,
        transaction_time: datetime,
    ) -> str:
        job_id = uuid.uuid4().hex
        now = now_ms()
        await self.jobs.insert_one(
            {
                "_id": job_id,
                "status": "accepted",
                "owner": owner,
                "who": who,
                "claims": claims,
                "request_url": kick_off_url,
                "base": base,
                "requires_token": requires_token,
                "request": request.to_doc(),
                "types": types,
                "patients": patients,
                "transaction_time": transaction_time,
                "created": now,
                "attempts": 0,
                "done": [],
                "progress": {"type": None, "count": 0},
                "instance": self.instance,
                "lease": now + timedelta(seconds=self.settings.lease_seconds),
            }
        )
        self._spawn(job_id)
        return job_id

    def _spawn(self, job_id: str) -> None:
        task = asyncio.create_task(self._run(job_id), name=f"bulk-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job_id, None))

    async def get(self, job_id: str) -> dict[str, Any] | None:
        return await self.jobs.find_one({"_id": job_id})

    async def remove(self, job_id: str) -> None:
        """Cancel (when running here) and delete a job and its files."""
        await self.jobs.delete_one({"_id": job_id})
        task = self._tasks.get(job_id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), timeout=30)
        await asyncio.to_thread(shutil.rmtree, self.directory(job_id), True)

    # -- running ---------------------------------------------------------------------------

    async def _run(self, job_id: str) -> None:
        async with self._slots:
            job = await self.jobs.find_one_and_update(
                {"_id": job_id, "instance": self.instance, "status": {"$in": list(ACTIVE)}},
                {"$set": {"status": "running"}, "$inc": {"attempts": 1}},
                return_document=ReturnDocument.AFTER,
            )
            if job is None:
                return
            if job["attempts"] > self.settings.max_attempts:
                await self._fail(job, "Export interrompu trop de fois (redémarrages du serveur) : abandonné.")
                return
            try:
                await self._export(job)
            except asyncio.CancelledError:
                raise
            except FhirError as exc:
                await self._fail(job, str(exc), outcome=exc.outcome)
            except Exception:
                log.exception("export %s failed", job_id)
                await self._fail(job, "Erreur interne pendant l'export : voir le journal du serveur.")

    async def _export(self, job: dict[str, Any]) -> None:
        job_id = job["_id"]
        directory = self.directory(job_id)
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        done = {d["type"]: d for d in job.get("done", [])}
        await asyncio.to_thread(_keep_only, directory, done)
        request = ExportRequest.from_doc(job["request"])
        transaction_time = job["transaction_time"]
        owned = {"_id": job_id, "instance": self.instance, "status": "running"}
        reported = 0.0

        async def progress(type_: str, count: int) -> None:
            nonlocal reported
            now = time.monotonic()
            if now - reported >= 1.0:  # a write per second at most, not per batch
                reported = now
                await self.jobs.update_one(owned, {"$set": {"progress": {"type": type_, "count": count}}})

        export = Export(
            repository=self.repository,
            request=request,
            policy=policy_from(job),
            transaction_time=transaction_time,
            directory=directory,
            file_max_bytes=self.settings.file_max_bytes,
            max_rate=self.settings.max_rate,
            progress=progress,
            patients=job.get("patients"),
        )
        errors: list[dict[str, Any]] = []
        if not done:
            errors = await export.missing_patients()
            if errors:
                await self.jobs.update_one(owned, {"$set": {"patient_errors": errors}})
        else:
            errors = list(job.get("patient_errors") or [])
        for type_ in await non_empty(self.repository, [t for t in job["types"] if t not in done]):
            result = await export.run_type(type_)
            updated = await self.jobs.update_one(owned, {"$push": {"done": result_doc(result)}})
            if updated.matched_count == 0:  # cancelled or taken over meanwhile
                raise asyncio.CancelledError
            done[type_] = result_doc(result)
        errors += [e for d in done.values() for e in d.get("errors", [])]
        error_files = []
        if errors:
            series = NdjsonSeries(directory, "OperationOutcome", self.settings.file_max_bytes, "error-")
            import orjson

            for outcome in errors:
                await series.add(orjson.dumps(outcome))
            await series.close()
            error_files = [f.to_doc() for f in series.files]
        completed = now_ms()
        finished = await self.jobs.update_one(
            owned,
            {
                "$set": {
                    "status": "completed",
                    "completed": completed,
                    "expires": completed + timedelta(seconds=self.settings.expiry_seconds),
                    "error_files": error_files,
                },
                "$unset": {"lease": "", "claims": ""},
            },
        )
        if finished.matched_count == 0:
            raise asyncio.CancelledError
        await self._audit(job, done, completed)

    async def _fail(self, job: dict[str, Any], text: str, outcome: dict[str, Any] | None = None) -> None:
        outcome = outcome or operation_outcome([issue("fatal", "exception", text)])
        now = now_ms()
        await self.jobs.update_one(
            {"_id": job["_id"], "instance": self.instance},
            {
                "$set": {
                    "status": "failed",
                    "outcome": outcome,
                    "completed": now,
                    "expires": now + timedelta(seconds=self.settings.expiry_seconds),
                },
                "$unset": {"lease": "", "claims": ""},
            },
        )
        await asyncio.to_thread(shutil.rmtree, self.directory(job["_id"]), True)
        await self._audit(job, {}, now, failed=text)

    async def _audit(
        self, job: dict[str, Any], done: dict[str, dict[str, Any]], when: datetime, failed: str | None = None
    ) -> None:
        """One AuditEvent per finished export: who, what (types, group, patients), how many resources."""
        from fhir_server.auth import audit

        count = sum(f["count"] for d in done.values() for f in d.get("output", []))
        types = ", ".join(d["type"] for d in done.values() if d.get("output")) or "aucun"
        request = job.get("request") or {}
        entities = [f"Group/{request['group']}"] if request.get("group") else []
        text = failed or f"Export en masse {job['_id']} terminé : {count} ressources ({types})."
        event = audit.rest_event(
            interaction="operation",
            status=500 if failed else 200,
            who=job.get("who") or {"display": "inconnu"},
            client_id=job.get("owner") or None,
            source_ip=None,
            entities=entities,
            patients=(job.get("patients") or [])[:200],
            query=job.get("request_url"),
            description=text,
        )
        await audit.record(self.repository, event)


def _keep_only(directory: Path, done: dict[str, dict[str, Any]]) -> None:
    """Remove every file but those of the finished types (leftovers of an interrupted run)."""
    keep = {f["name"] for d in done.values() for key in ("output", "deleted") for f in d.get(key, [])}
    for path in directory.iterdir():
        if path.name not in keep:
            path.unlink(missing_ok=True)
