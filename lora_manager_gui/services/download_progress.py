"""Progress of the download queue: per file and overall, with bytes/s and ETA.

`QueueMeter` is fed by the queue (bytes as they are written) and passes on, throttled
(core.tasks.ProgressThrottle): `Progress(Stage.DOWNLOAD)` for the whole queue (files done of
total, bytes done of total, the detail naming the rate and time left), and a `FileProgress` per
file to `on_file`. The rate is a moving average over the last `WINDOW_S` seconds.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from lora_manager_gui.core.tasks import Progress, ProgressSink, ProgressThrottle, Stage
from lora_manager_gui.db.downloads import DownloadItem, DownloadStatus

WINDOW_S = 5.0


@dataclass(frozen=True, slots=True)
class FileProgress:
    download_id: int
    file_name: str
    status: DownloadStatus
    bytes_done: int
    bytes_total: int | None
    rate: float  # bytes per second, recent
    eta_s: float | None

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.bytes_done / self.bytes_total) if self.bytes_total else None


class RateMeter:
    """Bytes per second over a sliding window."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()
        self._total = 0

    def add(self, n: int) -> None:
        now = self._clock()
        self._total += n
        self._samples.append((now, self._total))
        while len(self._samples) > 2 and now - self._samples[0][0] > WINDOW_S:
            self._samples.popleft()

    @property
    def rate(self) -> float:
        if len(self._samples) < 2:
            return 0.0
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


def eta(rate: float, left: int | None) -> float | None:
    return left / rate if rate > 0 and left is not None and left >= 0 else None


class _File:
    def __init__(self, item: DownloadItem, clock: Callable[[], float]) -> None:
        self.item = item
        self.done = item.bytes_done
        self.meter = RateMeter(clock)
        self.status = DownloadStatus.RUNNING


class QueueMeter:
    def __init__(self, progress: ProgressSink | None, on_file: Callable[[FileProgress], None] | None,
                 clock: Callable[[], float] = time.monotonic, interval: float = 0.25) -> None:
        self._throttle = ProgressThrottle(progress, interval, clock)
        self._on_file = on_file
        self._file_throttles: dict[int, ProgressThrottle] = {}
        self._clock = clock
        self._interval = interval
        self._files: dict[int, _File] = {}
        self._overall = RateMeter(clock)
        self.finished = 0

    def add(self, item: DownloadItem) -> None:
        self._files[item.id] = _File(item, self._clock)
        self._send(item.id, force=True)

    def restart(self, download_id: int, offset: int) -> None:
        if download_id in self._files:
            self._files[download_id].done = offset

    def bytes(self, download_id: int, n: int, offset: int) -> None:
        f = self._files.get(download_id)
        if f is None:
            return
        f.done = offset
        f.meter.add(n)
        self._overall.add(n)
        self._send(download_id)

    def end(self, item: DownloadItem) -> None:
        f = self._files.get(item.id)
        if f is None:
            return
        f.item, f.status = item, item.status
        if item.status is DownloadStatus.DONE:
            f.done = item.size_bytes or f.done
        self.finished += 1
        self._send(item.id, force=True)

    def file_progress(self, download_id: int) -> FileProgress:
        f = self._files[download_id]
        total = f.item.size_bytes
        rate = f.meter.rate
        return FileProgress(download_id, f.item.file_name, f.status, f.done, total, rate,
                            eta(rate, total - f.done if total is not None else None))

    def overall(self) -> Progress:
        files = list(self._files.values())
        known = [f.item.size_bytes for f in files]
        total = sum(k for k in known if k) if all(known) else None
        done = sum(f.done for f in files)
        rate = self._overall.rate
        left = eta(rate, total - done if total is not None else None)
        running = [f.item.file_name for f in files if f.status is DownloadStatus.RUNNING]
        detail = ", ".join(running[:2]) + (f" (+{len(running) - 2})" if len(running) > 2 else "")
        if rate:
            detail += f" - {rate / 1024 / 1024:.1f} MiB/s" + (f", {left:.0f} s left" if left is not None else "")
        failed = sum(1 for f in files if f.status is DownloadStatus.FAILED)
        return Progress(Stage.DOWNLOAD, self.finished, len(files), done, total, problems=failed, detail=detail)

    def _send(self, download_id: int, *, force: bool = False) -> None:
        if self._on_file is not None:
            throttle = self._file_throttles.setdefault(
                download_id, ProgressThrottle(lambda p, i=download_id: self._on_file(self.file_progress(i)),  # type: ignore[misc]
                                              self._interval, self._clock))
            throttle(Progress(Stage.DOWNLOAD), force=force)
        self._throttle(self.overall(), force=force)

    def finish(self) -> None:
        self._throttle(self.overall(), force=True)
