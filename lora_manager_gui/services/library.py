"""The open library and the services over it, built from plain settings. Qt-free.

`Library` owns the database executor, the work pool, the HashService, the preview cache and the
CivitAI client. The window (ui/context.py) and every CLI command build one; nothing else
constructs these services.

Settings are plain values (`LibrarySettings`). `apply_settings(new)` rebuilds at once what depends
on a changed value (a new CivitAI client for a new base URL or API key, a new HashService for a new
worker count) and retires the old instance: it is closed once the users that hold it are done.
Users hold a service for the length of one job with `async with library.use_civitai() as client`
or `library.use_hasher()`; they never keep it.

Environment variables (`CIVITAI_BASE_URL`, `CIVITAI_API_KEY`, `LORA_MANAGER_DB`, core/config.py)
win over stored values: `LibrarySettings.resolve` applies them, `EnvironmentOverrides` says which
are set (the settings dialog shows those fields as set by the environment).

The service modules (hasher, civitai: httpx) are imported when first built, not here: the window
imports them on a worker thread at start-up (ui/context.preload_services).
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from lora_manager_gui.core import config
from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool

if TYPE_CHECKING:
    from lora_manager_gui.core.civitai import CivitaiInfo
    from lora_manager_gui.services.civitai import CivitaiClient
    from lora_manager_gui.services.hasher import HashService
    from lora_manager_gui.services.previews import Thumbnail

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 5.0


def stop_kept_workers() -> None:
    """Stop the import's idle worker processes, if an import ever ran (its module is loaded only
    then: a headless command that never imports starts faster without it)."""
    workers = sys.modules.get("lora_manager_gui.services.import_workers")
    if workers is not None:
        workers.stop_kept_workers()


@dataclass(frozen=True, slots=True)
class CivitaiSettings:
    """Where the CivitAI client connects and with which key (never shown in a repr)."""

    base_url: str = config.DEFAULT_CIVITAI_BASE_URL
    api_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", (self.base_url.strip() or config.DEFAULT_CIVITAI_BASE_URL).rstrip("/"))
        object.__setattr__(self, "api_key", (self.api_key or "").strip() or None)


@dataclass(frozen=True, slots=True)
class LibrarySettings:
    """Every setting the services read, as plain values."""

    civitai: CivitaiSettings = field(default_factory=CivitaiSettings)
    hash_workers: int | None = None  # None: from the CPU count
    preview_nsfw_level: int = 1

    @classmethod
    def resolve(cls, *, base_url: str | None = None, api_key: str | None = None,
                hash_workers: int | None = None, preview_nsfw_level: int = 1) -> LibrarySettings:
        """Settings from stored (or given) values, with the environment's overrides winning."""
        civitai = CivitaiSettings(config.civitai_base_url(base_url), config.civitai_api_key(api_key))
        return cls(civitai, hash_workers or None, preview_nsfw_level)


@dataclass(frozen=True, slots=True)
class EnvironmentOverride:
    variable: str
    value: str = field(repr=False)

    @property
    def note(self) -> str:
        return f"set by the environment variable {self.variable}"


@dataclass(frozen=True, slots=True)
class EnvironmentOverrides:
    """The settings an environment variable overrides (None: the stored value counts)."""

    base_url: EnvironmentOverride | None = None
    api_key: EnvironmentOverride | None = None
    database: EnvironmentOverride | None = None

    @classmethod
    def current(cls, environ: Mapping[str, str] | None = None) -> EnvironmentOverrides:
        env = os.environ if environ is None else environ

        def read(name: str) -> EnvironmentOverride | None:
            value = env.get(name, "").strip()
            return EnvironmentOverride(name, value) if value else None

        return cls(read(config.ENV_CIVITAI_BASE_URL), read(config.ENV_CIVITAI_API_KEY), read(config.ENV_DB))


def make_civitai_client(settings: CivitaiSettings) -> CivitaiClient:
    """The real client (blocking: loading the CA certificates takes a while; call it off the loop)."""
    from lora_manager_gui.services.civitai import CivitaiClient

    return CivitaiClient(settings.base_url, api_key=settings.api_key)


def make_hasher(db: DatabaseExecutor, workers: int | None) -> HashService:
    from lora_manager_gui.services.hasher import HashService

    return HashService(db, workers=workers)


ClientFactory = Callable[[CivitaiSettings], "CivitaiClient"]
HasherFactory = Callable[[DatabaseExecutor, "int | None"], "HashService"]
T = TypeVar("T")
K = TypeVar("K")


class Service(IntEnum):
    """The services a Library rebuilds, in the order `aclose` closes them."""

    CIVITAI = 1  # the HTTP client first: no request may start once the rest is closing
    HASHER = 2


class _Shared(Generic[T, K]):
    """One service instance, the settings it was built from, and the tasks holding it."""

    def __init__(self, kind: Service, value: T, built_from: K, close: Callable[[T], Awaitable[None]]) -> None:
        self.kind = kind
        self.value = value
        self.built_from = built_from
        self._close = close
        self.holders: list[asyncio.Task[object] | None] = []
        self.idle = asyncio.Event()
        self.idle.set()
        self._closer: asyncio.Future[None] | None = None

    @contextmanager
    def lease(self) -> Iterator[T]:
        holder = asyncio.current_task()
        self.holders.append(holder)
        self.idle.clear()
        try:
            yield self.value
        finally:
            self.holders.remove(holder)
            if not self.holders:
                self.idle.set()

    @property
    def closed(self) -> bool:
        return self._closer is not None and self._closer.done()

    async def close(self) -> None:
        """Close once; a caller cancelled while waiting does not interrupt the closing."""
        if self._closer is None:
            self._closer = asyncio.ensure_future(self._close_now())
        await asyncio.shield(self._closer)

    async def _close_now(self) -> None:
        try:
            await asyncio.wait_for(self._close(self.value), CLOSE_TIMEOUT_S)
        except Exception:  # closing must go on with the rest
            log.exception("closing %r failed", self.value)


if TYPE_CHECKING:
    _ClientSlot = _Shared[CivitaiClient, CivitaiSettings]
    _HasherSlot = _Shared[HashService, int | None]


async def _close_client(client: CivitaiClient) -> None:
    await client.close()


async def _close_hasher(hasher: HashService) -> None:
    await asyncio.to_thread(hasher.close)  # waits for its reading threads: never on the loop


class Library:
    """The open library: database, pools and services, built from `LibrarySettings`."""

    def __init__(self, db: DatabaseExecutor, settings: LibrarySettings | None = None, *,
                 pool: WorkPool | None = None, cache_dir: Path | None = None,
                 client_factory: ClientFactory = make_civitai_client,
                 hasher_factory: HasherFactory = make_hasher) -> None:
        self.db = db
        self.settings = settings or LibrarySettings.resolve()
        self.pool = pool or WorkPool()
        self.cache_dir = cache_dir  # None: core.config.cache_dir()
        self._make_client = client_factory
        self._make_hasher = hasher_factory
        self._client: _ClientSlot | None = None
        self._hasher: _HasherSlot | None = None
        self._client_lock = asyncio.Lock()
        self._retired: list[_ClientSlot | _HasherSlot] = []
        self._retiring: set[asyncio.Task[None]] = set()
        self.closed = False

    @classmethod
    async def open(cls, db_path: Path | str, settings: LibrarySettings | None = None, *,
                   pool: WorkPool | None = None, cache_dir: Path | None = None) -> Library:
        """Open (and migrate) the database off the event loop."""
        db = await asyncio.to_thread(DatabaseExecutor, db_path)
        return cls(db, settings, pool=pool, cache_dir=cache_dir)

    @property
    def db_path(self) -> Path:
        return self.db.path

    # -- the services, held for one job ---------------------------------------------------------

    @asynccontextmanager
    async def use_civitai(self) -> AsyncIterator[CivitaiClient]:
        """The CivitAI client of the current settings, held until the block ends."""
        shared = await self._current_client()
        with shared.lease() as client:
            yield client

    @asynccontextmanager
    async def use_hasher(self) -> AsyncIterator[HashService]:
        """The HashService of the current settings, held until the block ends."""
        with self._current_hasher().lease() as hasher:
            yield hasher

    async def _current_client(self) -> _ClientSlot:
        self._check_open()
        async with self._client_lock:
            wanted = self.settings.civitai
            current = self._client
            if current is None or current.built_from != wanted:
                client = await asyncio.to_thread(self._make_client, wanted)
                if self.closed:  # aclose() ran while the client was being built
                    await client.close()
                    self._check_open()
                self._client = _Shared(Service.CIVITAI, client, wanted, _close_client)
                if current is not None:
                    self._retire(current)
            return self._client

    def _current_hasher(self) -> _HasherSlot:
        self._check_open()
        wanted = self.settings.hash_workers
        current = self._hasher
        if current is None or current.built_from != wanted:
            self._hasher = _Shared(Service.HASHER, self._make_hasher(self.db, wanted), wanted, _close_hasher)
            if current is not None:
                self._retire(current)
        return self._hasher

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("the library is closed")

    # -- settings -------------------------------------------------------------------------------

    async def apply_settings(self, new: LibrarySettings) -> None:
        """Use `new` from now on: what depends on a changed value is rebuilt now (off the loop
        where that blocks); the old instance is closed once its holders are done."""
        old, self.settings = self.settings, new
        if self.closed:
            return
        if new.civitai != old.civitai and self._client is not None:
            await self._current_client()
        if new.hash_workers != old.hash_workers and self._hasher is not None:
            self._current_hasher()

    def _retire(self, shared: _ClientSlot | _HasherSlot) -> asyncio.Task[None]:
        """Close `shared` once its holders are done; it is no longer handed out."""
        self._retired.append(shared)
        task = asyncio.get_running_loop().create_task(self._close_when_idle(shared))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)
        return task

    async def _close_when_idle(self, shared: _ClientSlot | _HasherSlot) -> None:
        await shared.idle.wait()
        await shared.close()
        if shared in self._retired:
            self._retired.remove(shared)

    async def settle(self) -> None:
        """Wait until every retired service whose holders are done is closed (tests, switching)."""
        while self._retiring:
            await asyncio.gather(*list(self._retiring), return_exceptions=True)

    # -- thumbnails -----------------------------------------------------------------------------

    async def thumbnail(self, model_path: str | os.PathLike[str], *, info: CivitaiInfo | None = None,
                        max_side: int = 256) -> Thumbnail:
        """A cached thumbnail: the local preview, else the first CivitAI image within the NSFW level."""
        from lora_manager_gui.services.previews import ensure_thumbnail

        level = self.settings.preview_nsfw_level
        if info is None:
            return await ensure_thumbnail(model_path, cache_dir=self.cache_dir, max_side=max_side, max_nsfw_level=level)
        async with self.use_civitai() as client:
            return await ensure_thumbnail(model_path, info=info, client=client, cache_dir=self.cache_dir,
                                          max_side=max_side, max_nsfw_level=level)

    # -- another database, and the end ---------------------------------------------------------

    async def switch_database(self, db_path: Path | str) -> None:
        """Close the current database and open another (the demo library, for one). The hasher,
        which stores through the database, is rebuilt; the CivitAI client and the pool stay."""
        new_db = await asyncio.to_thread(DatabaseExecutor, db_path)
        old_db, self.db = self.db, new_db
        hasher, self._hasher = self._hasher, None
        if hasher is not None:  # it writes its cache rows through the old database: close it first
            await self._retire(hasher)
        await asyncio.to_thread(old_db.close)

    async def aclose(self, grace_s: float = 3.0) -> None:
        """Cancel the tasks still holding a service, close the HTTP client(s), stop the hasher,
        the work pool and the import's kept worker processes, close the database. Never hangs."""
        if self.closed:
            return
        self.closed = True
        everything = [s for s in (self._client, self._hasher) if s is not None] + list(self._retired)
        me = asyncio.current_task()
        holders = {t for s in everything for t in s.holders if t is not None and t is not me and not t.done()}
        for task in holders:
            task.cancel()
        if holders:
            await asyncio.wait(holders, timeout=grace_s)
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*list(self._retiring), return_exceptions=True)
        for shared in sorted(everything, key=lambda s: s.kind):
            await shared.close()
        self._client = self._hasher = None
        self._retired.clear()
        stop_kept_workers()  # idle processes: they exit on their own, nothing to wait for
        await asyncio.to_thread(self.pool.close, True)
        await asyncio.to_thread(self.db.close)
