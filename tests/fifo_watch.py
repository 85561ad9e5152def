"""A watchdog for tests that hand a FIFO to code that must never open it.

While it runs, a separate process keeps trying to open the FIFO for writing without blocking: that
fails (ENXIO) while nobody has it open for reading and succeeds as soon as someone does. It then
reports the opening and closes its end at once, so a reader stuck in open() or read() gets
end-of-file and the test fails instead of hanging the suite. A process, not a thread: a Qt call
that blocks in C++ may hold the GIL, and a watchdog thread would then never run.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_WATCH = r"""
import errno, os, sys, time
fifo, log = sys.argv[1], sys.argv[2]
print("ready", flush=True)
while True:
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno != errno.ENXIO:
            raise
        time.sleep(0.005)
        continue
    with open(log, "a") as fh:
        fh.write("opened\n")
    os.close(fd)
    time.sleep(0.005)
"""


class FifoWatch:
    def __init__(self, fifo: Path) -> None:
        self.fifo = str(fifo)
        self.log = Path(f"{fifo}.watch.log")
        self._process: subprocess.Popen[str] | None = None

    @property
    def opened(self) -> int:
        """How many times, so far, a reader was seen with the FIFO open."""
        return self.log.read_text().count("opened") if self.log.exists() else 0

    def __enter__(self) -> FifoWatch:
        self._process = subprocess.Popen([sys.executable, "-c", _WATCH, self.fifo, str(self.log)],
                                         stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        assert self._process.stdout.readline().strip() == "ready"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None
        self._process.terminate()
        self._process.communicate(timeout=10)
