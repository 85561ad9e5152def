"""What the window works with: the open library, the executors, settings and the services.

The services of the import, hashing/CivitAI and stack layers are looked up when first needed, so
the window runs (with those actions disabled and saying why) in a tree where one has not landed.
Tests inject their own `ServiceHooks` to control background work without racing a thread.
"""
from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from PySide6.QtCore import QSettings

from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
from lora_manager_gui.services.import_workers import stop_kept_workers
from lora_manager_gui.ui.settings import AppSettings, load_settings, save_settings

log = logging.getLogger(__name__)


class ServiceUnavailableError(RuntimeError):
    """A service module this action needs is not part of this build."""


def optional_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"lora_manager_gui.{name}")
    except ImportError as exc:
        if exc.name and exc.name.startswith("lora_manager_gui"):
            return None
        raise


def require_module(name: str, what: str) -> ModuleType:
    module = optional_module(name)
    if module is None:
        raise ServiceUnavailableError(f"{what} is not available in this build (lora_manager_gui.{name} is missing)")
    return module


SERVICE_MODULES = ("services.importer", "services.hasher", "services.identify", "services.civitai",
                   "services.header_import", "services.inspector", "services.exporter", "services.previews")


# What the first CivitAI request would otherwise import on the event loop (the GUI thread): ~140
# modules of httpcore's async stack and anyio's asyncio backend (and trio, which httpcore imports
# when it is installed), each also read back by PySide6's import hook. ui_bench --probe caught
# 50-120 ms GUI stalls there.
NETWORK_MODULES = ("httpcore", "httpcore._async.connection_pool", "httpcore._async.http11",
                   "httpcore._backends.auto", "httpcore._backends.anyio", "anyio", "anyio._backends._asyncio",
                   "anyio.streams.tls", "anyio.to_thread", "h11")


def preload_services() -> None:
    """Runs on a worker thread at start-up, so nothing is imported later on the GUI thread."""
    for name in SERVICE_MODULES:
        optional_module(name)
    for name in NETWORK_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # a backend the installed httpcore/anyio does not have
            log.debug("could not preload %s", name, exc_info=True)


@dataclass
class AppContext:
    db_path: Path
    db: DatabaseExecutor
    pool: WorkPool
    store: QSettings
    settings: AppSettings
    civitai_client: Any = None
    hasher: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    async def open(cls, db_path: Path, store: QSettings, pool: WorkPool | None = None) -> AppContext:
        """Open (and migrate) the library off the GUI thread, and load the service modules now, at
        start-up: importing one later would stall the GUI thread (PySide6's import hook reads the
        source of every newly imported module) just when a background task starts."""
        db, _ = await asyncio.gather(asyncio.to_thread(DatabaseExecutor, db_path), asyncio.to_thread(preload_services))
        settings = load_settings(store)
        pool = pool or WorkPool(settings.hash_workers or None)
        return cls(db_path=Path(db_path), db=db, pool=pool, store=store, settings=settings)

    def save_settings(self, settings: AppSettings) -> None:
        self.settings = settings
        save_settings(self.store, settings)

    def get_hasher(self) -> Any:
        if self.hasher is None:
            module = require_module("services.hasher", "Hashing")
            self.hasher = module.HashService(self.db, workers=self.settings.hash_workers or None)
        return self.hasher

    async def get_civitai(self) -> Any:
        """The one HTTP client, made off the GUI thread (loading the CA certificates takes a while)."""
        if self.civitai_client is None:
            module = require_module("services.civitai", "CivitAI identification")
            self.civitai_client = await asyncio.to_thread(
                module.CivitaiClient, self.settings.effective_base_url, api_key=self.settings.effective_api_key)
        return self.civitai_client

    async def switch_database(self, db_path: Path) -> None:
        """Close the current library and open another (the demo library, for one)."""
        new_db = await asyncio.to_thread(DatabaseExecutor, db_path)
        old = self.db
        self.db, self.db_path = new_db, Path(db_path)
        hasher, self.hasher = self.hasher, None
        if hasher is not None and hasattr(hasher, "close"):
            await asyncio.to_thread(hasher.close)
        await asyncio.to_thread(old.close)

    async def close(self) -> None:
        """Close the HTTP client, stop the executors, close the database; never hang."""
        client, self.civitai_client = self.civitai_client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.close(), timeout=5)
            except Exception:
                log.exception("closing the CivitAI client failed")
        hasher, self.hasher = self.hasher, None
        closer = getattr(hasher, "close", None)
        if closer is not None:
            try:
                if asyncio.iscoroutinefunction(closer):
                    await closer()
                else:  # HashService.close() waits for its workers: never on the GUI thread
                    await asyncio.to_thread(closer)
            except Exception:
                log.exception("closing the hasher failed")
        stop_kept_workers()  # the import's idle worker processes (they exit on their own)
        await asyncio.to_thread(self.pool.close, True)
        await asyncio.to_thread(self.db.close)
