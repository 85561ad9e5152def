from __future__ import annotations

from datetime import datetime, timezone

from lora_manager_gui.core.hashing import CachedHash
from lora_manager_gui.services.hash_plan import FileStat, plan
from lora_manager_gui.services.hash_results import error_result


def _keys(n: int) -> list[str]:
    return [f"/lib/f{i}.safetensors" for i in range(n)]


def test_small_files_share_batches_and_a_large_one_goes_alone() -> None:
    keys = _keys(7)
    sizes = [10, 10, 10, 10, 10, 500, 10]
    stats = [FileStat(s, 1, 5) for s in sizes]
    todo = plan(keys, stats, {}, lambda dev: False, batch_files=3, batch_bytes=100)
    batches = [[i for i, _, _ in b] for b in todo.lanes[None]]
    assert batches == [[0, 1, 2], [3, 4], [5], [6]]
    assert todo.bytes_total == sum(sizes) and todo.results == [None] * 7


def test_hits_errors_and_copies_are_answered_without_a_read() -> None:
    keys = _keys(3) + ["/lib/f0.safetensors"]
    stats = [FileStat(10, 1, 5), FileStat(20, 2, 5), error_result(keys[2], 0, "unreadable", "gone"), FileStat(10, 1, 5)]
    now = datetime.now(timezone.utc)
    hits = {keys[0]: CachedHash(keys[0], 10, 1, "A" * 64, None, now),
            keys[1]: CachedHash(keys[1], 20, 999, "B" * 64, None, now)}  # stale: another mtime
    todo = plan(keys, stats, hits, lambda dev: False, batch_files=64, batch_bytes=1 << 20)
    assert todo.results[0] is not None and todo.results[0].cached and todo.results[0].sha256 == "A" * 64
    assert todo.results[2] is not None and todo.results[2].error_class == "unreadable"
    assert [[i for i, _, _ in b] for b in todo.lanes[None]] == [[1]]
    assert todo.copies == [(3, 0)]
    todo.fill_copies()
    assert todo.results[3] is not None and todo.results[3].sha256 == "A" * 64 and todo.results[3].cached


def test_each_rotational_disk_is_its_own_lane() -> None:
    keys = _keys(4)
    stats = [FileStat(10, 1, dev) for dev in (1, 2, 1, 3)]
    todo = plan(keys, stats, {}, lambda dev: dev != 3, batch_files=64, batch_bytes=1 << 20)
    lanes = {lane: [[i for i, _, _ in b] for b in batches] for lane, batches in todo.lanes.items()}
    assert lanes == {1: [[0, 2]], 2: [[1]], None: [[3]]}
