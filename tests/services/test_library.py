"""The Library: services built from plain settings, rebuilt when they change, closed in order.

Real parts: a real SQLite file, the real HashService and CivitaiClient, two local CivitAI two_civitai_servers.
"""
from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from lora_manager_gui.services import library as library_module
from lora_manager_gui.services.library import (
    CivitaiSettings,
    EnvironmentOverrides,
    Library,
    LibrarySettings,
    make_civitai_client,
    make_hasher,
)


def test_apply_settings_gives_a_new_client_and_closes_the_old_one_after_its_user(db_path: Path, two_civitai_servers) -> None:
    first, second = two_civitai_servers
    model_id = next(iter(first.catalogue.models))

    async def scenario() -> None:
        library = await Library.open(db_path, LibrarySettings(CivitaiSettings(first.base_url, "old-key")))
        try:
            async with library.use_civitai() as old:
                assert old.base_url == first.base_url
                await library.apply_settings(replace(library.settings, civitai=CivitaiSettings(second.base_url + "/", " new-key ")))
                async with library.use_civitai() as new:  # at once, while the old one is still held
                    assert new is not old and new.base_url == second.base_url and new.has_api_key
                    await new.model(model_id)
                await old.model(model_id)  # the job that held it finishes on it
                assert not old._http.is_closed
            await library.settle()
            assert old._http.is_closed and not new._http.is_closed
        finally:
            await library.aclose()
        assert new._http.is_closed

    asyncio.run(scenario())
    [new_request] = second.requests_to(f"/models/{model_id}")
    assert new_request.header("Authorization") == "Bearer new-key"
    [old_request] = first.requests_to(f"/models/{model_id}")
    assert old_request.header("Authorization") == "Bearer old-key"  # the new key never went there


def test_unchanged_settings_rebuild_nothing_and_an_unbuilt_client_is_built_from_the_new_ones(db_path: Path) -> None:
    built: list[CivitaiSettings] = []

    def counting_factory(settings: CivitaiSettings):
        built.append(settings)
        return make_civitai_client(settings)

    async def scenario() -> None:
        library = Library(await asyncio.to_thread(library_module.DatabaseExecutor, db_path),
                          LibrarySettings(CivitaiSettings("http://127.0.0.1:9/a")), client_factory=counting_factory)
        try:
            await library.apply_settings(LibrarySettings(CivitaiSettings("http://127.0.0.1:9/b")))
            assert built == []  # nobody used a client yet: nothing to rebuild
            async with library.use_civitai() as client:
                assert client.base_url == "http://127.0.0.1:9/b"
            async with library.use_hasher() as hasher:
                pass
            await library.apply_settings(LibrarySettings(CivitaiSettings("http://127.0.0.1:9/b/")))
            async with library.use_civitai() as same, library.use_hasher() as same_hasher:
                assert same is client and same_hasher is hasher
            assert len(built) == 1
        finally:
            await library.aclose()

    asyncio.run(scenario())


def test_a_new_worker_count_gives_a_new_hasher_and_the_old_one_stops(db_path: Path, tmp_path: Path) -> None:
    model = tmp_path / "a.safetensors"
    model.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")

    async def scenario() -> None:
        library = await Library.open(db_path, LibrarySettings(hash_workers=2))
        try:
            async with library.use_hasher() as old:
                assert old.workers == 2
                await library.apply_settings(replace(library.settings, hash_workers=3))
                assert not old._closing.is_set()  # still held
                [result] = await old.hash_paths([model])
                assert result.sha256
            await library.settle()
            assert old._closing.is_set()
            async with library.use_hasher() as new:
                assert new is not old and new.workers == 3
                [again] = await new.hash_paths([model])
                assert again.cached and again.sha256 == result.sha256
        finally:
            await library.aclose()

    asyncio.run(scenario())


def test_apply_settings_builds_the_client_off_the_event_loop(db_path: Path) -> None:
    release = threading.Event()

    def slow_factory(settings: CivitaiSettings):
        # Deadlocks (the test's timeout fails it) if this ran on the event loop: only the loop
        # sets `release`, below.
        assert release.wait(10), "the loop was blocked while the client was built"
        return make_civitai_client(settings)

    async def scenario() -> None:
        library = Library(await asyncio.to_thread(library_module.DatabaseExecutor, db_path),
                          LibrarySettings(CivitaiSettings("http://127.0.0.1:9/a")), client_factory=slow_factory)
        try:
            release.set()
            async with library.use_civitai():
                pass
            release.clear()
            applying = asyncio.ensure_future(
                library.apply_settings(LibrarySettings(CivitaiSettings("http://127.0.0.1:9/b"))))
            await asyncio.sleep(0)
            assert not applying.done()
            release.set()  # the loop is free while the new client is built
            await asyncio.wait_for(applying, 10)
            async with library.use_civitai() as client:
                assert client.base_url.endswith("/b")
        finally:
            await library.aclose()

    asyncio.run(scenario())


def test_aclose_cancels_holders_then_closes_client_hasher_workers_pool_database(db_path: Path, monkeypatch) -> None:
    steps: list[str] = []

    def record(name: str, fn):
        def wrapper(*args, **kwargs):
            steps.append(name)
            return fn(*args, **kwargs)

        return wrapper

    def recording_client(settings: CivitaiSettings):
        client = make_civitai_client(settings)
        real_close = client.close

        async def close() -> None:
            steps.append("client")
            await real_close()

        client.close = close  # type: ignore[method-assign]
        return client

    def recording_hasher(db, workers):
        hasher = make_hasher(db, workers)
        hasher.close = record("hasher", hasher.close)  # type: ignore[method-assign]
        return hasher

    monkeypatch.setattr(library_module, "stop_kept_workers", record("import workers", library_module.stop_kept_workers))
    holding = asyncio.Event()

    async def scenario() -> None:
        db = await asyncio.to_thread(library_module.DatabaseExecutor, db_path)
        library = Library(db, LibrarySettings(CivitaiSettings("http://127.0.0.1:9/a")),
                          client_factory=recording_client, hasher_factory=recording_hasher)
        db.close = record("database", db.close)  # type: ignore[method-assign]
        library.pool.close = record("pool", library.pool.close)  # type: ignore[method-assign]

        async def job() -> None:  # a task still using both services when the library closes
            async with library.use_civitai(), library.use_hasher():
                holding.set()
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    steps.append("task cancelled")
                    raise

        task = asyncio.ensure_future(job())
        await holding.wait()
        async with library.use_civitai():
            await library.apply_settings(LibrarySettings(CivitaiSettings("http://127.0.0.1:9/b")))  # one retired
        await library.aclose()
        assert task.cancelled()
        assert library.closed and db.db.is_closed()
        with pytest.raises(RuntimeError, match="closed"):
            async with library.use_hasher():
                pass

    asyncio.run(scenario())
    assert steps == ["task cancelled", "client", "client", "hasher", "import workers", "pool", "database"]


def test_switch_database_rebuilds_the_hasher_over_the_new_database(tmp_path: Path) -> None:
    async def scenario() -> None:
        library = await Library.open(tmp_path / "one.sqlite3")
        first_db = library.db
        try:
            async with library.use_hasher() as old:
                assert old.db is first_db
            await library.switch_database(tmp_path / "two.sqlite3")
            assert old._closing.is_set() and first_db.db.is_closed()
            async with library.use_hasher() as new:
                assert new.db is library.db and library.db_path == tmp_path / "two.sqlite3"
        finally:
            await library.aclose()

    asyncio.run(scenario())


def test_environment_wins_and_says_so(monkeypatch) -> None:
    monkeypatch.setenv("CIVITAI_BASE_URL", "http://127.0.0.1:1234/api/v1/")
    monkeypatch.setenv("CIVITAI_API_KEY", "env-key")
    monkeypatch.delenv("LORA_MANAGER_DB", raising=False)
    settings = LibrarySettings.resolve(base_url="https://stored.example/api/v1", api_key="stored-key", hash_workers=0)
    assert settings.civitai == CivitaiSettings("http://127.0.0.1:1234/api/v1", "env-key")
    assert settings.hash_workers is None
    assert "env-key" not in repr(settings)
    overrides = EnvironmentOverrides.current()
    assert overrides.base_url is not None and overrides.base_url.note == "set by the environment variable CIVITAI_BASE_URL"
    assert overrides.api_key is not None and overrides.database is None
    assert "env-key" not in repr(overrides)
    monkeypatch.delenv("CIVITAI_BASE_URL")
    monkeypatch.delenv("CIVITAI_API_KEY")
    assert EnvironmentOverrides.current() == EnvironmentOverrides()
    assert LibrarySettings.resolve(base_url="https://stored.example/api/v1", api_key="").civitai == \
        CivitaiSettings("https://stored.example/api/v1", None)
