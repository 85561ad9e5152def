"""The download queue: what was asked for, transferred a few at a time, checked, placed, imported.

- `enqueue(requests)` plans each (services/download_plan.py) and adds it to the queue in the
  library (db/downloads.py); a bad link or a missing file is a classified problem on that item.
- `run()` takes every queued item, at most `max_parallel` at once. Each is transferred into its
  `.part` file (services/download_transfer.py), resuming where an earlier run or process stopped;
  a dropped connection or a 5xx is retried (`max_attempts`) from where it stopped. Then the file
  is checked and placed (services/download_place.py), its sidecar and preview written, CivitAI's
  answer and the file's hash stored (so identify and hashing need not ask again), and the folder
  imported (`services.importer.run_import`) so the adapter is in the library at once.
- `pause(id)`, `resume(id)`, `cancel(id)`: a paused item keeps its part file and stays in the
  queue; a cancelled one loses it. Both stop a running transfer.
- Progress: `Progress(Stage.DOWNLOAD)` for the queue (files and bytes), and per file
  `FileProgress` (bytes, bytes/s, ETA) through `on_file`; both throttled.
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lora_manager_gui.core.civitai_refs import CivitaiRefError
from lora_manager_gui.core.tasks import Changes, ItemProblem, ProblemKind, ProgressSink, TaskOutcome
from lora_manager_gui.db import downloads as store
from lora_manager_gui.db.downloads import DownloadItem, DownloadStatus
from lora_manager_gui.services.download_place import check_part, place_file, write_beside, write_sidecar
from lora_manager_gui.services.download_plan import DownloadRequest, PlannedDownload, plan_download
from lora_manager_gui.services.download_progress import FileProgress, QueueMeter
from lora_manager_gui.services.download_transfer import DownloadError, DownloadProblem, TransferState, transfer

if TYPE_CHECKING:
    from lora_manager_gui.services.civitai import CivitaiClient
    from lora_manager_gui.services.library import Library

log = logging.getLogger(__name__)

DEFAULT_PARALLEL = 2
MAX_PREVIEW_BYTES = 32 * 1024 * 1024
SAVE_EVERY_S = 0.5
RESUME_FROM_PART = 2**62  # "as much as the part file holds"


def download_url(api_origin: str, item: DownloadItem) -> str:
    """The download endpoint of the chosen file, always on the API host: the path and query of
    the file's downloadUrl (`/api/download/models/<version>?type=...&format=...`) when it has that
    shape, else the version's primary file."""
    from urllib.parse import urlsplit

    for f in (item.info or {}).get("files") or []:
        if isinstance(f, dict) and f.get("id") == item.file_id and isinstance(f.get("downloadUrl"), str):
            parts = urlsplit(f["downloadUrl"])
            if parts.path == f"/api/download/models/{item.version_id}":
                return f"{api_origin}{parts.path}" + (f"?{parts.query}" if parts.query else "")
    return f"{api_origin}/api/download/models/{item.version_id}"


@dataclass
class DownloadReport:
    items: list[DownloadItem] = field(default_factory=list)
    problems: list[ItemProblem] = field(default_factory=list)
    imported: list[str] = field(default_factory=list)
    already: list[tuple[str, str]] = field(default_factory=list)  # (what was asked, the file the library has)
    cancelled: bool = False

    def _count(self, *statuses: DownloadStatus) -> int:
        return sum(1 for i in self.items if i.status in statuses)

    def outcome(self, *, cancelled: bool = False) -> TaskOutcome:
        return TaskOutcome.decide(
            done=self._count(DownloadStatus.DONE), problems=len(self.problems),
            deferred=self._count(DownloadStatus.PAUSED, DownloadStatus.QUEUED),
            cancelled=self._count(DownloadStatus.CANCELLED), failed=self._count(DownloadStatus.FAILED),
            was_cancelled=cancelled or self.cancelled,
            changes=Changes(adapters=bool(self.imported), files=bool(self.imported), hashes=bool(self.imported),
                            civitai=bool(self.imported), previews=bool(self.imported)),
        )

    def to_json(self) -> dict[str, Any]:
        outcome = self.outcome()
        return {"items": [i.to_json() for i in self.items], "problems": [p.to_json() for p in self.problems],
                "imported": self.imported, "already": [{"ref": r, "path": p} for r, p in self.already],
                "status": outcome.status.value, "summary": outcome.describe()}


def _held_file(sha256: str) -> str | None:
    """A file the library holds with this SHA-256 that is still there (hash cache). DB thread."""
    from lora_manager_gui.db import hash_cache

    for path in hash_cache.paths_for_sha256(sha256):
        cached = hash_cache.get_any(path)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if cached is not None and (st.st_size, st.st_mtime_ns) == (cached.size_bytes, cached.mtime_ns):
            return path
    return None


def _problem(path: str, error: DownloadError) -> ItemProblem:
    advice = error.problem.advice
    return ItemProblem(path, error.problem.kind, f"{error.problem.value}: {error}" + (f" ({advice})" if advice else ""))


class DownloadQueue:
    def __init__(self, library: Library, *, roots: Sequence[str] | None = None, max_parallel: int = DEFAULT_PARALLEL,
                 max_attempts: int = 3, retry_delay: float = 1.0, import_downloads: bool = True,
                 progress: ProgressSink | None = None, on_file: Callable[[FileProgress], None] | None = None) -> None:
        self.library = library
        self.roots = list(roots) if roots is not None else None
        self.max_parallel = max(1, max_parallel)
        self.max_attempts = max(1, max_attempts)
        self.retry_delay = retry_delay
        self.import_downloads = import_downloads
        self.meter = QueueMeter(progress, on_file)
        self._tasks: dict[int, asyncio.Task[DownloadItem]] = {}
        self._stop_as: dict[int, DownloadStatus] = {}
        self._slots = asyncio.Semaphore(self.max_parallel)
        self._import_lock = asyncio.Lock()
        self._saving: set[asyncio.Task[None]] = set()
        self._client: CivitaiClient | None = None
        self.report = DownloadReport()
        self.planned: list[PlannedDownload] = []  # what enqueue chose, with the other files of each version

    async def _db(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return await self.library.db.call(fn, *args, **kw)

    # -- adding ---------------------------------------------------------------------------------

    async def enqueue(self, requests: Sequence[DownloadRequest]) -> list[DownloadItem]:
        """Plan and queue each request; what cannot be planned is a problem in `report`."""
        roots = self.roots if self.roots is not None else await self._db(store.library_roots)
        added: list[DownloadItem] = []
        async with self.library.use_civitai() as client:
            for request in requests:
                try:
                    planned = await plan_download(client, request, roots)
                except CivitaiRefError as exc:
                    self.report.problems.append(ItemProblem(request.ref, ProblemKind.MALFORMED_ANSWER, f"not a CivitAI link: {exc}"))
                    continue
                except DownloadError as exc:
                    self.report.problems.append(_problem(request.ref, exc))
                    continue
                held = await self._db(_held_file, planned.item.sha256) if planned.item.sha256 else None
                if held is not None:  # the library has this very file already (same SHA-256)
                    self.report.already.append((request.ref, held))
                    continue
                item = await self._db(store.add, planned.item)
                self.planned.append(PlannedDownload(item, planned.file, planned.files))
                added.append(item)
        return added

    # -- running --------------------------------------------------------------------------------

    async def run(self, ids: Sequence[int] | None = None) -> DownloadReport:
        """Run the queued items (`ids`, or all of them) to the end; returns the report."""
        await self._db(store.requeue_interrupted)
        items = await self._db(store.pending)
        if ids is not None:
            wanted = set(ids)
            items = [i for i in items if i.id in wanted]
        async with self.library.use_civitai() as client:
            self._client = client
            for item in items:
                self._start(client, item)
            try:
                while self._tasks:
                    done, _ = await asyncio.wait(list(self._tasks.values()), return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        self._tasks = {k: t for k, t in self._tasks.items() if t is not task}
            except asyncio.CancelledError:  # the run itself (Ctrl-C, the app closing): queued for the next run
                self.report.cancelled = True
                for download_id, task in self._tasks.items():
                    self._stop_as[download_id] = DownloadStatus.QUEUED
                    task.cancel()
                await asyncio.gather(*self._tasks.values(), return_exceptions=True)
                self._tasks.clear()
                raise
            finally:
                self._client = None
        self.meter.finish()
        return self.report

    def _start(self, client: CivitaiClient, item: DownloadItem) -> None:
        if item.id in self._tasks:
            return
        self.meter.add(item)
        self._tasks[item.id] = asyncio.get_running_loop().create_task(self._run_one(client, item))

    async def _run_one(self, client: CivitaiClient, item: DownloadItem) -> DownloadItem:
        try:
            async with self._slots:
                item = await self._db(store.update, item, status=DownloadStatus.RUNNING)
                item = await self._attempts(client, item)
        except asyncio.CancelledError:
            status = self._stop_as.pop(item.id, DownloadStatus.PAUSED)
            item = await asyncio.shield(self._stopped(item, status))
        except Exception as exc:  # noqa: BLE001 (one item's bug must not stop the queue or stay "running")
            log.exception("download %d failed", item.id)
            error = DownloadError(DownloadProblem.INTERNAL, f"{type(exc).__name__}: {exc}")
            self.report.problems.append(_problem(item.dest_dir + os.sep + item.file_name, error))
            item = await self._db(store.update, item, status=DownloadStatus.FAILED, problem=error.problem.value,
                                  message=str(error))
        self.meter.end(item)
        self.report.items.append(item)
        return item

    async def _stopped(self, item: DownloadItem, status: DownloadStatus) -> DownloadItem:
        fresh = await self._db(store.get, item.id) or item
        if status is DownloadStatus.CANCELLED:
            await asyncio.to_thread(Path(item.part_path).unlink, missing_ok=True)
            return await self._db(store.update, fresh, status=status, bytes_done=0, problem=DownloadProblem.CANCELLED.value,
                                  message="cancelled")
        return await self._db(store.update, fresh, status=status)

    async def _attempts(self, client: CivitaiClient, item: DownloadItem) -> DownloadItem:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._once(client, item)
            except DownloadError as exc:
                item = await self._db(store.get, item.id) or item
                retry = exc.problem.retryable and attempt < self.max_attempts
                if exc.problem in (DownloadProblem.SHA256_MISMATCH, DownloadProblem.SIZE_MISMATCH, DownloadProblem.NOT_A_MODEL):
                    await asyncio.to_thread(Path(item.part_path).unlink, missing_ok=True)  # never resume from bad bytes
                    item = await self._db(store.update, item, bytes_done=0, etag=None, last_modified=None)
                if retry:
                    log.info("download %d: %s; retrying from byte %d", item.id, exc, item.bytes_done)
                    await asyncio.sleep(self.retry_delay * attempt)
                    continue
                status = DownloadStatus.PAUSED if exc.problem is DownloadProblem.DISK_FULL else DownloadStatus.FAILED
                self.report.problems.append(_problem(item.dest_dir + os.sep + item.file_name, exc))
                return await self._db(store.update, item, status=status, problem=exc.problem.value, message=str(exc),
                                      attempts=item.attempts + attempt)

    async def _once(self, client: CivitaiClient, item: DownloadItem) -> DownloadItem:
        part = Path(item.part_path)
        # What the part holds is where it resumes (every write reached the file before a crash
        # or kill could stop the process; bytes that are wrong fail the SHA-256 check below).
        state = TransferState(RESUME_FROM_PART if item.bytes_done or item.etag else 0, item.etag, item.last_modified)
        last_save = [float("-inf")]
        loop = asyncio.get_running_loop()

        def on_bytes(n: int, st: TransferState) -> None:
            self.meter.bytes(item.id, n, st.offset)
            now = loop.time()
            if now - last_save[0] >= SAVE_EVERY_S:  # the resume point and its validators
                last_save[0] = now
                task = loop.create_task(self._save_offset(item, st.offset, st.etag, st.last_modified))
                self._saving.add(task)
                task.add_done_callback(self._saving.discard)

        self.meter.restart(item.id, item.bytes_done)
        try:
            result = await transfer(client, download_url(client.api_origin, item), part, state,
                                    file_name=item.file_name, expected_size=item.size_bytes, on_bytes=on_bytes)
        finally:
            if self._saving:
                await asyncio.gather(*list(self._saving), return_exceptions=True)
            item = await self._db(store.update, await self._db(store.get, item.id) or item, bytes_done=state.offset,
                                  etag=state.etag, last_modified=state.last_modified)
        try:
            await asyncio.to_thread(check_part, part, item.file_name, size=result.size, sha256=result.sha256,
                                    expected_size=item.size_bytes, expected_sha256=item.sha256)
        except DownloadError as exc:
            if result.resumed_from and exc.problem is DownloadProblem.SHA256_MISMATCH:
                await asyncio.to_thread(part.unlink, missing_ok=True)
                await self._db(store.update, item, bytes_done=0, etag=None, last_modified=None)
                raise DownloadError(DownloadProblem.NETWORK, f"{exc} after a resume; downloading it again from the start") from exc
            raise
        return await self._place(client, item, part, result.sha256)

    async def _save_offset(self, item: DownloadItem, offset: int, etag: str | None, modified: str | None) -> None:
        try:
            await self._db(store.update, item, bytes_done=offset, etag=etag, last_modified=modified)
        except Exception:  # noqa: BLE001 (the final update writes it again)
            log.debug("could not save the resume point of download %d", item.id, exc_info=True)

    async def _place(self, client: CivitaiClient, item: DownloadItem, part: Path, sha256: str) -> DownloadItem:
        folder = Path(item.dest_dir)
        dest = await asyncio.to_thread(place_file, part, folder, item.file_name, item.version_id, sha256)
        if item.info:
            try:
                await asyncio.to_thread(write_sidecar, dest, item.info)
            except OSError as exc:
                log.warning("could not write the sidecar of %s: %s", dest, exc)
            await self._preview(client, dest, item.info)
        await self._remember(dest, sha256, item)
        item = await self._db(store.update, item, status=DownloadStatus.DONE, dest_path=str(dest), problem=None,
                              message=None, bytes_done=item.size_bytes or item.bytes_done)
        if self.import_downloads:
            await self._import(folder)
        return item

    async def _preview(self, client: CivitaiClient, dest: Path, info: dict[str, Any]) -> None:
        from lora_manager_gui.core.civitai_errors import CivitaiError

        level = self.library.settings.preview_nsfw_level
        for image in info.get("images") or []:
            if not isinstance(image, dict) or image.get("type", "image") != "image" or not isinstance(image.get("url"), str):
                continue
            nsfw = image.get("nsfwLevel")
            if type(nsfw) is int and nsfw > max(level, 1):
                continue
            ext = ".png" if image["url"].lower().split("?")[0].endswith(".png") else ".jpeg"
            target = dest.with_name(dest.name[: -len(dest.suffix)] + ".preview" + ext)
            if target.exists():
                return
            tmp = target.with_name(target.name + ".dl")
            try:
                await client.download(image["url"], tmp, max_bytes=MAX_PREVIEW_BYTES)
                data = await asyncio.to_thread(tmp.read_bytes)
                await asyncio.to_thread(write_beside, dest, ".preview" + ext, data)
            except (CivitaiError, OSError) as exc:
                log.info("no preview for %s: %s", dest, exc)
            finally:
                await asyncio.to_thread(tmp.unlink, missing_ok=True)
            return

    async def _remember(self, dest: Path, sha256: str, item: DownloadItem) -> None:
        """The file's hash in the cache and CivitAI's answer for it: hashing and identify skip it."""
        from lora_manager_gui.core.civitai_records import parse_version
        from lora_manager_gui.core.hashing import CachedHash, absolute_path
        from lora_manager_gui.db import civitai_store, hash_cache
        from lora_manager_gui.db.fields import utc_now

        st = await asyncio.to_thread(os.stat, dest)

        def write() -> None:
            hash_cache.put(CachedHash(absolute_path(dest), st.st_size, st.st_mtime_ns, sha256.upper(), None, utc_now()))
            if item.info:
                try:
                    civitai_store.record_found(sha256, parse_version(item.info))
                except Exception:  # noqa: BLE001 (the cache is a convenience; the file is placed)
                    log.info("CivitAI's answer for %s was not stored", dest, exc_info=True)

        await self._db(write)

    async def _import(self, folder: Path) -> None:
        from lora_manager_gui.services.importer import run_import

        async with self._import_lock:
            try:
                await run_import(self.library.db, [folder], pool=self.library.pool)
                self.report.imported.append(str(folder))
            except Exception as exc:  # noqa: BLE001 (the file is placed; the next import finds it)
                self.report.problems.append(ItemProblem(str(folder), ProblemKind.DATABASE, f"the import of the downloaded file failed: {exc}"))

    # -- control --------------------------------------------------------------------------------

    async def pause(self, download_id: int) -> bool:
        """Stop the item (its part file kept) until resumed."""
        return await self._stop(download_id, DownloadStatus.PAUSED)

    async def cancel(self, download_id: int) -> bool:
        """Stop the item and drop its part file."""
        return await self._stop(download_id, DownloadStatus.CANCELLED)

    async def _stop(self, download_id: int, status: DownloadStatus) -> bool:
        task = self._tasks.get(download_id)
        if task is not None and not task.done():
            self._stop_as[download_id] = status
            task.cancel()
            return True
        item = await self._db(store.get, download_id)
        if item is None or not item.status.active:
            return False
        await self._stopped(item, status)
        return True

    async def resume(self, download_id: int) -> bool:
        """Queue a paused or failed item again (and start it when a run is going on)."""
        ok = await self._db(store.set_status, download_id, DownloadStatus.QUEUED,
                            only_from=[DownloadStatus.PAUSED, DownloadStatus.FAILED])
        if ok and self._client is not None:
            item = await self._db(store.get, download_id)
            self._start(self._client, item)
        return ok
