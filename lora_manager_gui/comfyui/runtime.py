"""The nodes' own event loop: one daemon thread that owns the open libraries and CivitAI lookups.

ComfyUI runs each prompt on a worker thread (recent versions drive it with their own asyncio loop
and await `async def` node functions there); the aiohttp server loop runs on the main thread. The
library's services (a DatabaseExecutor, a HashService, one httpx client) must live on one loop for
the life of the process, so they live here: node functions submit coroutines with
`asyncio.run_coroutine_threadsafe` and wait for the future (awaited from ComfyUI's loop, or with a
timeout from a plain worker thread). A lookup that outlives its time budget keeps running here
and stores its answers in the library for the next run.

Safe beside the desktop app on the same library: SQLite in WAL mode with a busy timeout, and each
write is one short transaction (a hash cache row, one CivitAI answer); no lock is held across a
hash or a network request.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lora_manager_gui.core import config
from lora_manager_gui.core.errors import LoraManagerError
from lora_manager_gui.services.library import CivitaiSettings, Library, LibrarySettings

log = logging.getLogger(__name__)
T = TypeVar("T")

RATE_LIMIT_COOLDOWN_S = 60.0  # after CivitAI deferred lookups (429s), no new lookup for this long


def library_path(value: str | os.PathLike[str] | None) -> Path:
    """The node's `library` input: a database file, else LORA_MANAGER_DB, else the app's default."""
    text = os.fspath(value).strip() if value is not None else ""
    return Path(text).expanduser().resolve() if text else config.default_db_path().expanduser().resolve()


def node_settings(api_key: str | None) -> LibrarySettings:
    """The key given to the node wins over CIVITAI_API_KEY; the base URL comes from the environment."""
    key = (api_key or "").strip() or config.civitai_api_key(None)
    return LibrarySettings(CivitaiSettings(config.civitai_base_url(None), key))


class LibraryNotFoundError(LoraManagerError):
    """The node's `library` input names a file that does not exist (a workflow from elsewhere)."""


@dataclass
class LookupTask:
    paths: frozenset[str]
    task: asyncio.Task[Any]


class NodeRuntime:
    """The loop thread, the libraries open on it, and the lookups running in the background."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._libraries: dict[Path, Library] = {}
        self._opening: dict[Path, asyncio.Future[Library]] = {}
        self.lookups: dict[Path, list[LookupTask]] = {}
        self.cooldown_until: dict[Path, float] = {}
        self.last_files: dict[str, tuple[Path, tuple[str, ...]]] = {}  # node id -> what it read last

    # -- the loop -------------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                ready = threading.Event()
                loop = asyncio.new_event_loop()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._loop = loop
                self._thread = threading.Thread(target=run, name="lora-manager-comfyui", daemon=True)
                self._thread.start()
                ready.wait()
            return self._loop

    def on_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Run `coro` on the runtime loop; the future is awaitable from any loop (wrap_future)."""
        if self.on_loop_thread():
            coro.close()
            raise RuntimeError("submit() called from the runtime's own loop")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the runtime loop and wait (from a thread that is not an event loop's own
        busy work: ComfyUI's worker thread, the CLI, tests)."""
        return self.submit(coro).result(timeout)

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """The same, awaited from another event loop (ComfyUI's) without blocking it."""
        return await asyncio.wrap_future(self.submit(coro))

    # -- libraries (call on the runtime loop) ---------------------------------------------------

    async def library(self, db_path: Path, settings: LibrarySettings) -> Library:
        """The library at `db_path`, opened once; new settings (another API key) apply at once."""
        library = self._libraries.get(db_path)
        if library is None:
            opening = self._opening.get(db_path)
            if opening is None:
                opening = asyncio.get_running_loop().create_future()
                self._opening[db_path] = opening
                try:
                    if not db_path.is_file():
                        if db_path != library_path(None):  # a workflow names it: never create files there
                            raise LibraryNotFoundError(f"{db_path}: no LoRA Manager library there")
                        db_path.parent.mkdir(parents=True, exist_ok=True)  # the app's own, new library
                    library = await Library.open(db_path, settings)
                except BaseException as exc:
                    opening.set_exception(exc)
                    opening.exception()  # retrieved: no "never retrieved" warning
                    raise
                finally:
                    self._opening.pop(db_path, None)
                self._libraries[db_path] = library
                opening.set_result(library)
                return library
            library = await asyncio.shield(opening)
        if library.settings != settings:
            await library.apply_settings(settings)
        return library

    def running_lookups(self, db_path: Path) -> list[LookupTask]:
        tasks = [t for t in self.lookups.get(db_path, []) if not t.task.done()]
        self.lookups[db_path] = tasks
        return tasks

    def cooling_down(self, db_path: Path) -> bool:
        return time.monotonic() < self.cooldown_until.get(db_path, 0.0)

    # -- the end (tests, and an orderly ComfyUI shutdown) ---------------------------------------

    async def _close_all(self) -> None:
        tasks = [t.task for ts in self.lookups.values() for t in ts if not t.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.lookups.clear()
        libraries, self._libraries = list(self._libraries.values()), {}
        for library in libraries:
            try:
                await library.aclose()
            except Exception as exc:  # noqa: BLE001 - closing the rest matters more
                log.warning("closing the library %s failed: %s", library.db_path, exc)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Cancel background lookups, close every library, stop the loop thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None or not thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close_all(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            if not thread.is_alive():
                loop.close()
        self.cooldown_until.clear()
        self.last_files.clear()


_runtime: NodeRuntime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> NodeRuntime:
    """The process-wide runtime (ComfyUI loads the node pack once per process)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = NodeRuntime()
        return _runtime


def reset_runtime() -> None:
    """Shut the runtime down (tests; the next node call starts a fresh one)."""
    global _runtime
    with _runtime_lock:
        runtime, _runtime = _runtime, None
    if runtime is not None:
        runtime.shutdown()
