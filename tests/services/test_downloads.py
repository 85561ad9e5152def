"""The download queue against the fake CivitAI: redirects, Range, faults mid-body, checks, placing."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from lora_manager_gui.db import downloads as store
from lora_manager_gui.db.downloads import DownloadStatus
from lora_manager_gui.services.download_plan import DownloadRequest
from lora_manager_gui.services.downloads import DownloadQueue
from tests.services.download_helpers import model_bytes, open_library, publish, sha


def run_queue(tmp: Path, server, refs, *, api_key=None, roots=None, **kw):
    async def main():
        library = open_library(tmp, server, api_key=api_key)
        try:
            queue = DownloadQueue(library, roots=roots if roots is not None else [str(tmp / "loras")], retry_delay=0, **kw)
            await queue.enqueue([DownloadRequest(r) if isinstance(r, str) else r for r in refs])
            report = await queue.run()
            items = await library.db.call(store.list_items)
            return report, items
        finally:
            await library.aclose()
    return asyncio.run(main())


def test_download_lands_in_base_model_folder_with_sidecar_preview_and_adapter(tmp_path, fake_civitai) -> None:
    content = model_bytes(tmp_path, 300_000)
    publish(fake_civitai, content)
    report, items = run_queue(tmp_path, fake_civitai, ["https://civitai.com/models/77?modelVersionId=501"])
    assert report.problems == []
    [item] = items
    assert item.status is DownloadStatus.DONE
    dest = tmp_path / "loras" / "SDXL 1.0" / "cool_style.safetensors"
    assert item.dest_path == str(dest) and dest.read_bytes() == content
    info = json.loads((dest.parent / "cool_style.civitai.info").read_text())
    assert info["id"] == 501 and info["creator"]["username"] == "creator77"
    assert (dest.parent / "cool_style.preview.png").read_bytes().startswith(b"\x89PNG")
    assert not list(dest.parent.glob("*.part"))
    assert report.imported == [str(dest.parent)]
    from lora_manager_gui.db.adapters import find_by_file_path
    from lora_manager_gui.services.executors import DatabaseExecutor
    db = DatabaseExecutor(tmp_path / "lib.sqlite3")
    try:
        adapter = db.call_sync(find_by_file_path, str(dest))
    finally:
        db.close()
    assert adapter is not None and adapter.civitai_version_id == 501
    assert report.outcome().status.value == "done"
