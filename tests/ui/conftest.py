"""UI test set-up: one qasync loop per test over pytest-qt's QApplication, a real library file,
settings in a temporary ini file, and helpers to build and tear down the main window."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest


ADAPTERS = [
    # name, version, creator, base model, nsfw, tags, trained words, identified, has file
    ("Pixel Art XL", "v1.1", "nerijs", "SDXL 1.0", 1, ["style", "pixel art"], ["pixel art"], True, True),
    ("Inkwash Landscapes", "v2.0", "sumi", "SD 1.5", 1, ["style", "ink"], ["inkwash"], True, True),
    ("DetailZ Wan", "v2.0 i2v", "detailz", "Wan Video 14B i2v 480p", 1, ["detail", "wan video"], [], True, True),
    ("Anime Eyes", "v3", "kohaku", "SDXL 1.0", 2, ["anime", "eyes"], ["sparkling eyes", "anime eyes"], False, True),
    ("Film Grain", "v1", "grainy", "Flux.1 D", 1, ["photo", "film"], ["film grain"], False, False),
    ("Spicy Pose", "v1", "poser", "SDXL 1.0", 16, ["pose"], ["dynamic pose"], True, True),
]


@pytest.fixture
def run(qapp) -> Callable[..., Any]:
    """Run a coroutine on a qasync loop (Qt events are processed while it runs)."""
    import qasync

    qapp.setQuitOnLastWindowClosed(False)  # as app.py does: closing waits for the awaited shutdown
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)

    def _run(coro: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
        return loop.run_until_complete(asyncio.wait_for(coro, timeout))

    yield _run
    loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def ui_store(tmp_path: Path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def _png(path: Path, color: tuple[int, int, int]) -> None:
    from PIL import Image

    Image.new("RGB", (64, 48), color).save(path)


@pytest.fixture
def fixture_library(tmp_path: Path) -> Path:
    """A real library file with six adapters; four model files (with previews) exist on disk."""
    from lora_manager_gui.db.database import close_database, open_database
    from lora_manager_gui.db.models import Adapter

    files = tmp_path / "loras"
    files.mkdir()
    db_path = tmp_path / "library.sqlite3"
    db = open_database(db_path)
    for i, (name, version, creator, base, nsfw, tags, words, identified, has_file) in enumerate(ADAPTERS):
        stem = name.lower().replace(" ", "-")
        model = files / f"{stem}.safetensors"
        if has_file:
            model.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
            _png(files / f"{stem}.preview.png", (40 * i, 90, 200 - 30 * i))
        Adapter.create(
            name=name, version=version, author_username=creator, sd_version=base, nsfw_level=nsfw,
            tags=tags, trained_words=words, file_path=str(model) if has_file else None,
            primary_file_name=model.name, primary_file_size_kb=1.5 + i,
            primary_file_sha256=f"{i:02X}" * 32,
            description=("<p>Use <b>pixel art</b> in the prompt.</p><script>alert('x')</script>"
                         "<img src='https://example.invalid/track.png'>"
                         "<a href='javascript:alert(1)' onclick='evil()'>bad link</a>"),
            stats={"downloadCount": 1000 * (i + 1)},
            extra={"modelId": 1000 + i, "id": 2000 + i} if identified else {},
            civitai_model_id=1000 + i if identified else None,
            civitai_version_id=2000 + i if identified else None,
        )
    close_database(db)
    return db_path


@pytest.fixture
def open_window(run, ui_store, qtbot):
    """Build the main window over a library; shut it down (awaited) at the end of the test."""
    opened: list[tuple[Any, Any]] = []

    async def _open(db_path: Path, jobs: Any = None):
        from lora_manager_gui.ui.context import AppContext
        from lora_manager_gui.ui.main_window import MainWindow

        ctx = await AppContext.open(db_path, ui_store)
        window = MainWindow(ctx, jobs=jobs)
        opened.append((window, ctx))
        window.show()
        await window.load()
        await window.wait_idle()
        return window

    yield _open
    from lora_manager_gui.app import shutdown

    for window, ctx in opened:
        if not ctx.db._pool._shutdown:  # the test did not shut it down itself
            window.close()
            run(shutdown(window, ctx))


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
