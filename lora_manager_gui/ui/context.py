"""What the window works with: the open `Library` (services/library.py) and the user's QSettings.

The settings saved in the window reach the services at once (`apply_settings`): a new base URL or
API key gives the next CivitAI request a new client, a new worker count a new hasher. Environment
variables still win over what is stored (`EnvironmentOverrides`); the settings dialog shows them.
"""
from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QSettings

from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
from lora_manager_gui.services.library import EnvironmentOverrides, Library, LibrarySettings
from lora_manager_gui.ui.settings import AppSettings, load_settings, save_settings
from lora_manager_gui.ui.theme import apply_theme

log = logging.getLogger(__name__)

# What the first CivitAI request would otherwise import on the event loop (the GUI thread): ~140
# modules of httpcore's async stack and anyio's asyncio backend (and trio, which httpcore imports
# when it is installed), each also read back by PySide6's import hook. ui_bench --probe caught
# 50-120 ms GUI stalls there.
NETWORK_MODULES = ("httpcore", "httpcore._async.connection_pool", "httpcore._async.http11",
                   "httpcore._backends.auto", "httpcore._backends.anyio", "anyio", "anyio._backends._asyncio",
                   "anyio.streams.tls", "anyio.to_thread", "h11")


def preload_services() -> None:
    """Runs on a worker thread at start-up, so nothing is imported later on the GUI thread (PySide6's
    import hook reads the source of every newly imported module: a stall just when a task starts)."""
    from lora_manager_gui.services import (  # noqa: F401
        civitai,
        exporter,
        hasher,
        header_import,
        identify,
        importer,
        inspector,
        previews,
    )

    for name in NETWORK_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # a backend the installed httpcore/anyio does not have
            log.debug("could not preload %s", name, exc_info=True)


def library_settings(settings: AppSettings) -> LibrarySettings:
    """The services' settings from the stored ones, the environment's overrides winning."""
    return LibrarySettings.resolve(base_url=settings.base_url, api_key=settings.api_key,
                                   hash_workers=settings.hash_workers,
                                   preview_nsfw_level=settings.preview_nsfw_level)


@dataclass
class AppContext:
    library: Library
    store: QSettings
    settings: AppSettings

    @classmethod
    async def open(cls, db_path: Path, store: QSettings, pool: WorkPool | None = None) -> AppContext:
        """Open (and migrate) the library off the GUI thread while the service modules load on
        another worker thread."""
        db, _ = await asyncio.gather(asyncio.to_thread(DatabaseExecutor, db_path), asyncio.to_thread(preload_services))
        settings = load_settings(store)
        return cls(Library(db, library_settings(settings), pool=pool), store, settings)

    @property
    def db(self) -> DatabaseExecutor:
        return self.library.db

    @property
    def db_path(self) -> Path:
        return self.library.db_path

    @property
    def pool(self) -> WorkPool:
        return self.library.pool

    @property
    def overrides(self) -> EnvironmentOverrides:
        return EnvironmentOverrides.current()

    def remember_roots(self, roots: list[str]) -> None:
        """Store the library folders (nothing in the services depends on them)."""
        self.settings.library_roots = list(roots)
        save_settings(self.store, self.settings)

    async def apply_settings(self, settings: AppSettings) -> None:
        """Store `settings` and hand them to the library now."""
        self.settings = settings
        save_settings(self.store, settings)
        apply_theme(settings.theme)  # the window's colours change at once
        await self.library.apply_settings(library_settings(settings))

    async def switch_database(self, db_path: Path) -> None:
        await self.library.switch_database(db_path)

    async def close(self) -> None:
        await self.library.aclose()
