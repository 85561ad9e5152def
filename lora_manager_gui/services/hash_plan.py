"""The plan of one `HashService.hash_paths` run: what is cached, and the batches left to read.

- `stat_all` stats every path once (an error result for one that cannot be hashed);
- `plan` takes the cache entries found for them (one `hash_cache.get_many`), answers the valid
  hits at once, reads a path given twice once (its copies follow it), and groups the rest in
  batches of at most `batch_files` files or `batch_bytes` bytes (a large file is a batch of its
  own), one lane per rotational disk and one lane for everything else;
- `Tracker`: the counters the workers update under a lock and the progress reporter reads.
"""
from __future__ import annotations

import os
import stat
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from lora_manager_gui.core.hashing import CachedHash, autov2
from lora_manager_gui.core.tasks import Progress, Stage
from lora_manager_gui.services.hash_results import HashResult
from lora_manager_gui.services.hash_results import error_result as _error

RotationalProbe = Callable[[int], bool]


def is_rotational_device(st_dev: int) -> bool:
    """True when `st_dev` lives on a spinning disk (Linux /sys); unknown counts as non-rotational.

    Virtual disks often say rotational (virtio's /dev/vda does): they are then read by one stream."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        real = os.path.realpath(f"/sys/dev/block/{os.major(st_dev)}:{os.minor(st_dev)}")
    except (OSError, ValueError):
        return False
    for candidate in (real, os.path.dirname(real)):  # a partition has no queue/, its disk has
        try:
            with open(os.path.join(candidate, "queue", "rotational"), encoding="ascii") as fh:
                return fh.read().strip() == "1"
        except OSError:
            continue
    return False


@dataclass(frozen=True, slots=True)
class FileStat:
    size: int
    mtime_ns: int
    dev: int


def stat_all(keys: Sequence[str]) -> list[FileStat | HashResult]:
    out: list[FileStat | HashResult] = []
    for key in keys:
        try:
            st = os.stat(key)
        except OSError as exc:
            out.append(_error(key, 0, "unreadable", f"{key}: cannot read the file: {exc.strerror or exc}"))
            continue
        if not stat.S_ISREG(st.st_mode):
            out.append(_error(key, 0, "not_a_file", f"{key}: not a regular file"))
            continue
        out.append(FileStat(st.st_size, st.st_mtime_ns, st.st_dev))
    return out


Batch = list[tuple[int, str, FileStat]]  # (index in the run, path, its stat)


@dataclass
class HashPlan:
    results: list[HashResult | None]  # answered already: errors and valid cache hits
    lanes: dict[int | None, deque[Batch]] = field(default_factory=dict)  # st_dev of a rotational disk, or None
    copies: list[tuple[int, int]] = field(default_factory=list)  # (index, index of the same path read)
    bytes_total: int = 0

    def fill_copies(self) -> None:
        for index, original in self.copies:
            done = self.results[original]
            if done is not None:
                self.results[index] = replace(done, cached=done.ok)  # read once, for the first copy


def plan(
    keys: Sequence[str], stats: Sequence[FileStat | HashResult], hits: Mapping[str, CachedHash],
    rotational: RotationalProbe, *, batch_files: int, batch_bytes: int,
) -> HashPlan:
    out = HashPlan([None] * len(keys))
    first: dict[str, int] = {}
    open_batch: dict[int | None, tuple[Batch, list[int]]] = {}  # lane -> (its last batch, [its bytes])
    for index, (key, st) in enumerate(zip(keys, stats)):
        if isinstance(st, HashResult):
            out.results[index] = st
            continue
        if key in first:
            out.copies.append((index, first[key]))
            continue
        first[key] = index
        hit = hits.get(key)
        if hit is not None and hit.size_bytes == st.size and hit.mtime_ns == st.mtime_ns:
            out.results[index] = HashResult(key, hit.sha256, autov2(hit.sha256), hit.size_bytes, True,
                                            mtime_ns=hit.mtime_ns)
            continue
        out.bytes_total += st.size
        lane = st.dev if rotational(st.dev) else None
        batch, size = open_batch.get(lane, (None, None))
        if batch is None or size is None or len(batch) >= batch_files or size[0] + st.size > batch_bytes:
            batch, size = [], [0]
            open_batch[lane] = (batch, size)
            out.lanes.setdefault(lane, deque()).append(batch)
        batch.append((index, key, st))
        size[0] += st.size
    return out


class Tracker:
    """Counters shared by the workers (under a lock) and read by the progress reporter."""

    def __init__(self, files_total: int, bytes_total: int) -> None:
        self.lock = threading.Lock()
        self.files_total = files_total
        self.bytes_total = bytes_total
        self.files_done = self.bytes_done = self.cached = self.failed = 0
        self.version = 0

    def add_bytes(self, n: int) -> None:
        with self.lock:
            self.bytes_done += n
            self.version += 1

    def file_done(self, result: HashResult, read: int, planned: int) -> None:
        with self.lock:
            self.files_done += 1
            if result.cached:
                self.cached += 1
                self.bytes_total -= planned
            elif not result.ok:
                self.failed += 1
                self.bytes_total -= planned
                self.bytes_done -= read
            self.version += 1

    def snapshot(self) -> Progress:
        with self.lock:
            return Progress(Stage.HASH, self.files_done, self.files_total, self.bytes_done,
                            max(self.bytes_total, 0), problems=self.failed)
