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
    assert adapter is not None and adapter.civitai_version_id == 501 and adapter.author_username == "creator77"
    assert adapter.primary_file_sha256 == sha(content)
    assert report.outcome().status.value == "done"


def _storage_gets(server):
    return [r for r in server.requests if r.server == "storage"]


@pytest.mark.parametrize("fraction", [0.3, 0.99])
def test_connection_dropped_mid_body_resumes_with_range_and_hash_is_right(tmp_path, fake_civitai, fraction) -> None:
    content = model_bytes(tmp_path, 3_000_000)
    publish(fake_civitai, content)
    fake_civitai.add_fault("/files/", "drop_at", fraction=fraction)
    report, [item] = run_queue(tmp_path, fake_civitai, ["501"])
    assert report.problems == [] and item.status is DownloadStatus.DONE
    assert Path(item.dest_path).read_bytes() == content and sha(Path(item.dest_path).read_bytes()) == item.sha256
    first, second = _storage_gets(fake_civitai)
    assert "Range" not in first.headers
    assert second.headers["Range"] == f"bytes={int(len(content) * fraction)}-"
    assert second.headers["If-Range"].startswith('"')


def test_server_that_ignores_range_starts_over_and_the_file_is_whole(tmp_path, fake_civitai) -> None:
    content = model_bytes(tmp_path, 2_000_000)
    publish(fake_civitai, content)
    fake_civitai.add_fault("/files/", "drop_at", fraction=0.5)
    fake_civitai.ignore_range = True
    report, [item] = run_queue(tmp_path, fake_civitai, ["501"])
    assert report.problems == [] and item.status is DownloadStatus.DONE
    assert Path(item.dest_path).read_bytes() == content
    assert "Range" in _storage_gets(fake_civitai)[1].headers  # asked, got a 200, wrote from byte 0


def test_changed_file_on_the_server_starts_over(tmp_path, fake_civitai) -> None:
    old = model_bytes(tmp_path, 1_000_000, seed=1)
    new = model_bytes(tmp_path, 1_000_000, seed=2)
    publish(fake_civitai, new)
    stored = fake_civitai.files[501]
    async def main():
        library = open_library(tmp_path, fake_civitai)
        try:
            queue = DownloadQueue(library, roots=[str(tmp_path / "loras")], retry_delay=0)
            [item] = await queue.enqueue([DownloadRequest("501")])
            Path(item.part_path).parent.mkdir(parents=True)
            Path(item.part_path).write_bytes(old[:400_000])  # a part of the file as it was before
            await library.db.call(store.update, item, bytes_done=400_000, etag='"old-etag"')
            await queue.run()
            return await library.db.call(store.get, item.id)
        finally:
            await library.aclose()
    item = asyncio.run(main())
    assert item.status is DownloadStatus.DONE and Path(item.dest_path).read_bytes() == new
    [get] = _storage_gets(fake_civitai)
    assert get.headers["If-Range"] == '"old-etag"' and stored.etag != '"old-etag"'


def test_api_key_goes_to_the_api_host_only_never_to_the_storage_host(tmp_path, fake_civitai) -> None:
    content = model_bytes(tmp_path, 100_000)
    publish(fake_civitai, content, gated="login")
    fake_civitai.api_key = "sekrit-key"
    report, [item] = run_queue(tmp_path, fake_civitai, ["501"], api_key="sekrit-key")
    assert item.status is DownloadStatus.DONE, report.problems
    [api] = fake_civitai.requests_to("/api/download/")
    assert api.headers["Authorization"] == "Bearer sekrit-key"
    [storage] = _storage_gets(fake_civitai)
    assert fake_civitai.storage_origin != fake_civitai.origin
    assert "Authorization" not in storage.headers and all("sekrit" not in v for v in storage.headers.values())


@pytest.mark.parametrize("gate, problem", [("login", "login_required"), ("early_access", "early_access")])
def test_gated_file_without_key_says_so_and_what_to_do(tmp_path, fake_civitai, gate, problem) -> None:
    publish(fake_civitai, model_bytes(tmp_path, 10_000), gated=gate)
    report, [item] = run_queue(tmp_path, fake_civitai, ["501"])
    assert item.status is DownloadStatus.FAILED and item.problem == problem
    [p] = report.problems
    assert p.kind.value == "http_4xx" and "API key" in p.message and "Settings" in p.message
    assert not (tmp_path / "loras" / "SDXL 1.0" / "cool_style.safetensors").exists()


@pytest.mark.parametrize("fault", ["html_200", "json_200", "wrong_type"])
def test_error_page_in_place_of_the_file_is_never_saved_as_a_model(tmp_path, fake_civitai, fault) -> None:
    publish(fake_civitai, model_bytes(tmp_path, 10_000))
    fake_civitai.add_fault("/files/", fault, times=None)
    report, [item] = run_queue(tmp_path, fake_civitai, ["501"])
    assert item.status is DownloadStatus.FAILED and item.problem == "not_a_model"
    folder = tmp_path / "loras" / "SDXL 1.0"
    assert not list(folder.glob("*.safetensors")) and not list(folder.glob("*.part"))


def test_html_served_as_octet_stream_is_sniffed_and_refused(tmp_path, fake_civitai) -> None:
    page = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>" * 10
    publish(fake_civitai, page)
    report, [item] = run_queue(tmp_path, fake_civitai, ["501"])
    assert item.problem == "not_a_model" and "HTML" in item.message


def test_size_mismatch_is_refused_and_nothing_placed(tmp_path, fake_civitai) -> None:
    content = model_bytes(tmp_path, 50_000)
    publish(fake_civitai, content, size_bytes=len(content) + 1024)
    report, [item] = run_queue(tmp_path, fake_civitai, ["501"])
    assert item.status is DownloadStatus.FAILED and item.problem == "size_mismatch"
    assert not list((tmp_path / "loras" / "SDXL 1.0").glob("*.safetensors"))


def test_sha256_mismatch_is_refused(tmp_path, fake_civitai) -> None:
    publish(fake_civitai, model_bytes(tmp_path, 50_000), sha256="AB" * 32)
    report, [item] = run_queue(tmp_path, fake_civitai, ["501"])
    assert item.problem == "sha256_mismatch" and report.problems[0].kind.value == "invalid_model_file"


def test_existing_file_is_never_overwritten(tmp_path, fake_civitai) -> None:
    content = model_bytes(tmp_path, 20_000)
    publish(fake_civitai, content)
    folder = tmp_path / "loras" / "SDXL 1.0"
    folder.mkdir(parents=True)
    (folder / "cool_style.safetensors").write_bytes(b"mine")
    report, [item] = run_queue(tmp_path, fake_civitai, ["501"])
    assert (folder / "cool_style.safetensors").read_bytes() == b"mine"
    assert item.dest_path == str(folder / "cool_style-v501.safetensors")
    assert Path(item.dest_path).read_bytes() == content


def test_hostile_names_stay_inside_the_root(tmp_path, fake_civitai) -> None:
    content = model_bytes(tmp_path, 20_000)
    publish(fake_civitai, content, name="../../etc/evil.safetensors", base_model="../../..")
    report, [item] = run_queue(tmp_path, fake_civitai, ["501"])
    root = (tmp_path / "loras").resolve()
    assert item.status is DownloadStatus.DONE
    assert root in Path(item.dest_path).resolve().parents and Path(item.dest_path).name == "evil.safetensors"


def test_bad_links_are_problems_on_their_item_only(tmp_path, fake_civitai) -> None:
    publish(fake_civitai, model_bytes(tmp_path, 20_000))
    report, items = run_queue(tmp_path, fake_civitai, ["https://evil.example/models/1", "999999", "501"])
    assert [i.status for i in items] == [DownloadStatus.DONE]
    assert [p.path for p in report.problems] == ["https://evil.example/models/1", "999999"]
    assert report.problems[1].kind.value == "not_found"


def test_full_disk_stops_cleanly_and_keeps_the_part(tmp_path, fake_civitai) -> None:
    import os
    import subprocess
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        publish(fake_civitai, model_bytes(tmp_path, 3_000_000))
        report, [item] = run_queue(tmp_path, fake_civitai, ["501"], roots=[str(mount)])
        assert item.status is DownloadStatus.PAUSED and item.problem == "disk_full"
        assert report.problems[0].kind.value == "disk_full"
        part = Path(item.part_path)
        assert part.exists() and 0 < part.stat().st_size == item.bytes_done <= 1024 * 1024
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_pause_keeps_the_part_and_resume_finishes(tmp_path, fake_civitai) -> None:
    content = model_bytes(tmp_path, 2_000_000)
    publish(fake_civitai, content, chunk_delay=0.02)
    async def main():
        library = open_library(tmp_path, fake_civitai)
        try:
            queue = DownloadQueue(library, roots=[str(tmp_path / "loras")], retry_delay=0)
            [item] = await queue.enqueue([DownloadRequest("501")])
            running = asyncio.ensure_future(queue.run())
            part = Path(item.part_path)
            while not part.exists() or part.stat().st_size < 300_000:
                await asyncio.sleep(0.01)
            assert await queue.pause(item.id)
            await running
            paused = await library.db.call(store.get, item.id)
            assert paused.status is DownloadStatus.PAUSED and part.exists() and paused.bytes_done == part.stat().st_size > 0
            assert await queue.resume(item.id)
            fake_civitai.files[501].chunk_delay = 0
            await DownloadQueue(library, roots=[str(tmp_path / "loras")], retry_delay=0).run()
            return await library.db.call(store.get, item.id)
        finally:
            await library.aclose()
    item = asyncio.run(main())
    assert item.status is DownloadStatus.DONE and Path(item.dest_path).read_bytes() == content
    assert "Range" in _storage_gets(fake_civitai)[-1].headers


async def _running_with_a_part(library, tmp_path):
    """A queue running one download of version 501, once its part file holds 100 kB."""
    queue = DownloadQueue(library, roots=[str(tmp_path / "loras")], retry_delay=0)
    [item] = await queue.enqueue([DownloadRequest("501")])
    running = asyncio.ensure_future(queue.run())
    part = Path(item.part_path)
    while not part.exists() or part.stat().st_size < 100_000:
        await asyncio.sleep(0.01)
    return queue, item, running, part


def test_cancel_drops_the_part(tmp_path, fake_civitai) -> None:
    publish(fake_civitai, model_bytes(tmp_path, 2_000_000), chunk_delay=0.02)
    async def main():
        library = open_library(tmp_path, fake_civitai)
        try:
            queue, item, running, part = await _running_with_a_part(library, tmp_path)
            await queue.cancel(item.id)
            report = await running
            return report, await library.db.call(store.get, item.id), part
        finally:
            await library.aclose()
    report, item, part = asyncio.run(main())
    assert item.status is DownloadStatus.CANCELLED and not part.exists()
    assert report.outcome().status.value == "cancelled"


def test_progress_per_file_and_overall(tmp_path, fake_civitai) -> None:
    content = model_bytes(tmp_path, 3_000_000)
    publish(fake_civitai, content, chunk_delay=0.001)
    overall, files = [], []
    run_queue(tmp_path, fake_civitai, ["501"], progress=overall.append, on_file=files.append)
    assert overall[0].stage.value == "download" and overall[-1].done == 1 and overall[-1].total == 1
    assert overall[-1].bytes_done == overall[-1].bytes_total == len(content)
    assert files[-1].status is DownloadStatus.DONE and files[-1].bytes_done == len(content)


@pytest.mark.parametrize("parallel", [1, 2])
def test_parallel_downloads_are_bounded(tmp_path, fake_civitai, parallel) -> None:
    for i in range(3):
        publish(fake_civitai, model_bytes(tmp_path, 400_000, seed=i), version_id=600 + i, model_id=80 + i,
                name=f"m{i}.safetensors", chunk_delay=0.01)
    report, items = run_queue(tmp_path, fake_civitai, ["600", "601", "602"], max_parallel=parallel)
    assert [i.status for i in items] == [DownloadStatus.DONE] * 3
    assert fake_civitai.max_active_transfers == parallel


def test_cancelling_the_run_leaves_every_item_queued_with_its_part(tmp_path, fake_civitai) -> None:
    publish(fake_civitai, model_bytes(tmp_path, 2_000_000), chunk_delay=0.02)
    async def main():
        library = open_library(tmp_path, fake_civitai)
        try:
            queue, item, running, part = await _running_with_a_part(library, tmp_path)
            running.cancel()
            with pytest.raises(asyncio.CancelledError):
                await running
            return await library.db.call(store.get, item.id), part
        finally:
            await library.aclose()
    item, part = asyncio.run(main())
    assert item.status is DownloadStatus.QUEUED and part.exists() and item.bytes_done > 0


def test_a_chosen_non_primary_file_is_asked_for_with_its_own_query(tmp_path, fake_civitai) -> None:
    content = model_bytes(tmp_path, 30_000)
    version = publish(fake_civitai, content)
    pruned = dict(version["files"][0], id=9999, name="cool_style_pruned.safetensors", primary=False,
                  downloadUrl="https://civitai.com/api/download/models/501?type=Pruned%20Model&format=SafeTensor")
    version["files"].append(pruned)
    report, [item] = run_queue(tmp_path, fake_civitai, [DownloadRequest("501", file_name="cool_style_pruned.safetensors")])
    assert item.status is DownloadStatus.DONE and item.file_name == "cool_style_pruned.safetensors"
    [api] = fake_civitai.requests_to("/api/download/")
    assert api.query == {"type": ["Pruned Model"], "format": ["SafeTensor"]}


def test_rate_meter_and_eta() -> None:
    from lora_manager_gui.services.download_progress import RateMeter, eta
    now = [0.0]
    meter = RateMeter(lambda: now[0])
    for _ in range(11):
        meter.add(1_000_000)
        now[0] += 0.5
    assert meter.rate == pytest.approx(2_000_000, rel=0.01)
    assert eta(meter.rate, 10_000_000) == pytest.approx(5.0, rel=0.01) and eta(0.0, 5) is None


def test_an_unexpected_error_fails_that_item_only(tmp_path, fake_civitai, monkeypatch) -> None:
    import lora_manager_gui.services.downloads as downloads
    publish(fake_civitai, model_bytes(tmp_path, 20_000, seed=1), version_id=601, model_id=81, name="a.safetensors")
    publish(fake_civitai, model_bytes(tmp_path, 20_000, seed=2), version_id=602, model_id=82, name="b.safetensors")
    real = downloads.place_file

    def flaky(part, folder, name, version_id, sha256):
        if name == "a.safetensors":
            raise RuntimeError("boom")
        return real(part, folder, name, version_id, sha256)

    monkeypatch.setattr(downloads, "place_file", flaky)
    report, items = run_queue(tmp_path, fake_civitai, ["601", "602"])
    assert {i.file_name: (i.status, i.problem) for i in items} == {
        "a.safetensors": (DownloadStatus.FAILED, "internal"), "b.safetensors": (DownloadStatus.DONE, None)}
    assert [p.kind.value for p in report.problems] == ["internal"]


def test_a_body_longer_than_listed_is_refused_before_it_is_written(tmp_path, fake_civitai) -> None:
    from lora_manager_gui.services.download_transfer import DownloadError, TransferState, transfer
    from lora_manager_gui.services.civitai import CivitaiClient
    content = model_bytes(tmp_path, 200_000)
    publish(fake_civitai, content)
    async def main():
        async with CivitaiClient(fake_civitai.base_url) as client:
            with pytest.raises(DownloadError) as info:
                await transfer(client, f"{fake_civitai.origin}/api/download/models/501", tmp_path / "x.part",
                               TransferState(), file_name="x.safetensors", expected_size=50_000)
            return info.value
    error = asyncio.run(main())
    assert error.problem.value == "size_mismatch" and "sends" in str(error)
    assert (tmp_path / "x.part").stat().st_size == 0


def test_a_part_that_is_already_whole_is_not_downloaded_again(tmp_path, fake_civitai) -> None:
    content = model_bytes(tmp_path, 100_000)
    publish(fake_civitai, content)
    async def main():
        library = open_library(tmp_path, fake_civitai)
        try:
            queue = DownloadQueue(library, roots=[str(tmp_path / "loras")], retry_delay=0)
            [item] = await queue.enqueue([DownloadRequest("501")])
            Path(item.part_path).parent.mkdir(parents=True)
            Path(item.part_path).write_bytes(content)  # killed after the last write, before placing
            await library.db.call(store.update, item, bytes_done=len(content), etag=fake_civitai.files[501].etag)
            await queue.run()
            return await library.db.call(store.get, item.id)
        finally:
            await library.aclose()
    item = asyncio.run(main())
    assert item.status is DownloadStatus.DONE and Path(item.dest_path).read_bytes() == content
    assert [r.headers.get("Range") for r in _storage_gets(fake_civitai)] == [f"bytes={len(content)}-"]


def test_a_file_the_library_has_is_not_downloaded_again(tmp_path, fake_civitai) -> None:
    content = model_bytes(tmp_path, 50_000)
    publish(fake_civitai, content)
    first, [item] = run_queue(tmp_path, fake_civitai, ["501"])
    second, items = run_queue(tmp_path, fake_civitai, ["https://civitai.com/models/77"])
    assert len(items) == 1 and second.items == [] and second.already == [("https://civitai.com/models/77", item.dest_path)]
    assert len(_storage_gets(fake_civitai)) == 1


@pytest.mark.parametrize("location", ["file:///etc/passwd", "", "/api/download/models/501"])
def test_unusable_or_endless_redirects_are_refused(tmp_path, fake_civitai, location) -> None:
    publish(fake_civitai, model_bytes(tmp_path, 10_000))
    fake_civitai.redirect_location = location or " "
    report, [item] = run_queue(tmp_path, fake_civitai, ["501"])
    assert item.status is DownloadStatus.FAILED and item.problem == "bad_redirect"
    assert len(fake_civitai.requests_to("/api/download/")) <= 6


def test_the_key_is_given_to_the_api_host_only() -> None:
    import asyncio as aio
    from lora_manager_gui.services.civitai import CivitaiClient
    async def main():
        async with CivitaiClient("https://civitai.com/api/v1", "k") as client:
            return [client.download_auth(u) for u in (
                "https://civitai.com/api/download/models/1", "http://civitai.com/api/download/models/1",
                "https://civitai.com:444/x", "https://b2.civitai.com/file", "https://civitai.com.evil.com/x")]
    assert aio.run(main()) == [{"Authorization": "Bearer k"}, {}, {}, {}, {}]


def test_placing_without_hard_links_reserves_the_name_and_renames(tmp_path, monkeypatch) -> None:
    import errno
    import os
    from lora_manager_gui.services import download_place
    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(download_place.os, "link", no_links)
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.safetensors").write_bytes(b"theirs")
    part = folder / ".a.safetensors.1.part"
    part.write_bytes(b"mine")
    placed = download_place.place_file(part, folder, "a.safetensors", 1, "00")
    assert placed == folder / "a-v1.safetensors" and placed.read_bytes() == b"mine" and not part.exists()
    assert (folder / "a.safetensors").read_bytes() == b"theirs"
    other = folder / ".b.part"
    other.write_bytes(b"x")
    (folder / "a-v1.safetensors").write_bytes(b"kept")
    with pytest.raises(download_place.DownloadError):
        download_place.place_file(other, folder, "a.safetensors", 1, "00")
    assert other.exists() and os.listdir(folder).count("a-v1.safetensors") == 1
