"""The window at scale, measured in one run (offscreen Qt, real SQLite, real files, local fake CivitAI).

(a) A library of 100,000 adapters: time from start (opening the library) to the first rows painted,
    time to sort by a column and to apply a search (query + repaint), and peak memory (max RSS).
(b) The longest gap of a 10 ms heartbeat QTimer on the GUI thread while an import of 10,000
    sidecars, the hashing of 1 GB and the identification of 1,000 files (tests/civitai_server.py)
    run at the same time as background tasks of the window.

(c) The gallery over the same 100,000 adapters, every one with a preview beside its model file
    (hard links to a few JPEGs; most above the blur level, so the workers blur them): time to the
    first tiles painted, to the first visible previews, to scroll to the far end, the longest
    heartbeat gap while the previews load and the view scrolls, and peak memory. It runs in a
    process of its own (`--gallery-only`), so its memory figure is its own.

Goals: first rows <= 1 s, sort and search <= 0.2 s, memory <= 400 MB, longest heartbeat gap <= 50 ms;
gallery: first tiles <= 1 s, scroll to the end <= 0.2 s, memory <= 400 MB, gaps <= 50 ms.

    python benchmarks/ui_bench.py [--adapters 100000] [--sidecars 10000] [--hash-mb 1024] [--identify 1000]
    python benchmarks/ui_bench.py --gallery-only [--adapters 100000]
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import resource
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WORDS = ("anime", "pixel", "ink", "wash", "neon", "noir", "film", "grain", "clay", "glass", "paper", "retro",
         "detail", "motion", "portrait", "landscape", "armor", "knight", "forest", "city", "style", "pose")
BASES = ("SDXL 1.0", "SD 1.5", "Flux.1 D", "Pony", "Illustrious", "Wan Video 14B t2v")


def make_library(path: Path, count: int, previews: Path | None = None) -> None:
    """100,000 adapter rows written with sqlite3 directly (runs in a subprocess: its memory is not ours).
    With `previews`, the model paths lie under that folder and each has a preview (a hard link)."""
    from lora_manager_gui.db.database import close_database, open_database

    close_database(open_database(path))  # the real, migrated schema
    rnd = random.Random(5)
    conn = sqlite3.connect(path)
    cols = {r[1] for r in conn.execute("PRAGMA table_info(adapter)")}
    now = "2026-01-01T00:00:00.000000Z"
    rows = []
    for i in range(count):
        words = rnd.sample(WORDS, 3)
        name = f"{words[0].title()} {words[1].title()} {i}"
        base = BASES[i % len(BASES)]
        row = {
            "name": name, "version": f"v{i % 7}.{i % 3}", "tags": json.dumps(rnd.sample(WORDS, 4)),
            "trained_words": json.dumps([f"{words[2]} {i % 97}"]), "triggers": "[]",
            "author_username": f"creator{i % 3001}", "sd_version": base, "nsfw_level": (1, 1, 2, 4, 8, 16)[i % 6],
            "file_path": f"{previews or '/loras'}/{base.split()[0].lower()}/{name.lower().replace(' ', '_')}.safetensors",
            "primary_file_name": f"{name.lower().replace(' ', '_')}.safetensors",
            "primary_file_size_kb": 1000.0 + (i * 37) % 800_000, "extra": json.dumps({"modelId": i} if i % 3 else {}),
            "description": f"<p>{name}: " + "a description of moderate length. " * 6 + "</p>",
            "created_at": now, "updated_at": now, "visibility": "Public", "weight": 1.0, "active": 0,
            "base_model": base, "civitai_model_id": i if i % 3 else None,
        }
        rows.append({k: v for k, v in row.items() if k in cols})
    keys = list(rows[0])
    conn.executemany(f"INSERT INTO adapter ({', '.join(keys)}) VALUES ({', '.join('?' * len(keys))})",
                     [tuple(r[k] for k in keys) for r in rows])
    conn.commit()
    conn.close()
    if previews is not None:
        link_previews(previews, [r["file_path"] for r in rows])


def link_previews(folder: Path, model_paths: list[str], variants: int = 8) -> None:
    """A preview beside every model path: hard links to `variants` JPEGs (symlinks if links fail)."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for v in range(variants):
        im = Image.new("RGB", (512, 768), (30 * v % 255, 90, 200 - 20 * v))
        draw = ImageDraw.Draw(im)
        for k in range(0, 768, 24):
            draw.line((0, k, 512, k + 200), fill=(255, 255 - 25 * v, 40), width=6)
        src = folder / f"source_{v}.jpg"
        im.save(src, quality=85)
        sources.append(src)
    for i, model in enumerate(model_paths):
        target = Path(model[: -len(".safetensors")] + ".preview.jpg")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(sources[i % variants], target)
        except OSError:
            target.symlink_to(sources[i % variants])


def tiny_safetensors(i: int) -> bytes:
    header = json.dumps({"__metadata__": {"ss_output_name": f"lora_{i}"},
                         "w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + i.to_bytes(4, "little")


def make_sidecars(folder: Path, count: int) -> None:
    for i in range(count):
        sub = folder / f"group{i // 500:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"lora_{i:05d}.safetensors").write_bytes(tiny_safetensors(i))
        info = {"id": 500_000 + i, "modelId": 400_000 + i, "name": f"v{i % 5}", "trainedWords": [f"word{i}"],
                "baseModel": BASES[i % len(BASES)], "description": "<p>bench</p>",
                "model": {"name": f"Bench LoRA {i}", "type": "LORA", "nsfw": False},
                "files": [{"name": f"lora_{i:05d}.safetensors", "primary": True, "sizeKB": 0.1,
                           "hashes": {"SHA256": hashlib.sha256(str(i).encode()).hexdigest().upper()}}]}
        (sub / f"lora_{i:05d}.civitai.info").write_text(json.dumps(info), "utf-8")


def make_big_files(folder: Path, total_mb: int, parts: int = 4) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    block = os.urandom(1024 * 1024)
    paths = []
    for p in range(parts):
        path = folder / f"big_{p}.safetensors"
        with open(path, "wb") as f:
            for _ in range(total_mb // parts):
                f.write(block)
        paths.append(path)
    return paths


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def part_a(db_path: Path, store) -> dict[str, float]:
    from lora_manager_gui.ui.context import AppContext
    from lora_manager_gui.ui.main_window import MainWindow

    t0 = time.perf_counter()
    ctx = await AppContext.open(db_path, store)
    window = MainWindow(ctx)
    window.show()
    await window.load()
    view = window.adapters
    view.table.viewport().repaint()  # paints the first rows (data() for every visible cell)
    first_rows = time.perf_counter() - t0
    assert view.model.rowCount() > 0 and view.model.row_at(0) is not None

    t = time.perf_counter()
    await view.model.apply_query(replace(view.model.query, sort_key="creator", descending=True))
    view.table.viewport().repaint()
    sort_s = time.perf_counter() - t

    t = time.perf_counter()
    view.search.setText("neon noir")
    await view.model.apply_query(view.current_query())
    view.table.viewport().repaint()
    search_s = time.perf_counter() - t
    matches = view.model.rowCount()

    t = time.perf_counter()
    view.search.setText("")
    view.base_model.set_selected(["Flux.1 D"])
    await view.model.apply_query(view.current_query())
    view.table.viewport().repaint()
    filter_s = time.perf_counter() - t

    # scroll to the far end: lazy pages, nothing blocks
    t = time.perf_counter()
    view.table.scrollToBottom()
    view.table.viewport().repaint()
    await view.model.wait_idle()
    view.table.viewport().repaint()
    scroll_s = time.perf_counter() - t

    window.close()
    from lora_manager_gui.app import shutdown

    await shutdown(window, ctx)
    return {"first_rows": first_rows, "sort": sort_s, "search": search_s, "matches": matches,
            "filter": filter_s, "scroll_end": scroll_s, "rss": peak_rss_mb()}


async def part_c(db_path: Path, store, probe: bool = False) -> dict[str, float]:
    """The gallery at scale: first tiles, first previews, scroll to the end, heartbeat, memory."""
    from PySide6.QtCore import QTimer

    from lora_manager_gui.ui.context import AppContext
    from lora_manager_gui.ui.main_window import MainWindow

    store.setValue("window/adapters_mode", "Gallery")
    store.setValue("gallery/tile_size", 192)
    gaps: list[float] = []
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(beat)
    t0 = time.perf_counter()
    ctx = await AppContext.open(db_path, store)
    window = MainWindow(ctx)
    window.show()
    await window.load()
    view = window.adapters
    view.gallery.viewport().repaint()  # the first tiles (their previews are requested now)
    first_tiles = time.perf_counter() - t0
    assert view.stack.currentWidget() is view.gallery and view.model.row_at(0) is not None
    last[0] = time.perf_counter()
    timer.start()
    stall_probe = StallProbe(last) if probe else None
    if stall_probe:
        stall_probe.thread.start()
    await view.thumbnails.wait_idle(60)
    first_previews = time.perf_counter() - t0
    await view.wait_idle(60)  # the filter choices and the folder tree
    # scroll to the far end: one jump, then the rows' page and the tiles painted
    t = time.perf_counter()
    view.gallery.scrollToBottom()
    view.gallery.viewport().repaint()
    await view.model.wait_idle()
    view.gallery.viewport().repaint()
    scroll_s = time.perf_counter() - t
    # then a user's scrolling: 40 steps of a page through the middle, previews loading all along
    bar = view.gallery.verticalScrollBar()
    for step in range(40):
        bar.setValue(bar.maximum() * step // 40)
        await asyncio.sleep(0.05)
    await view.thumbnails.wait_idle(60)
    await view.model.wait_idle()
    timer.stop()
    if stall_probe:
        stall_probe.stop.set()
        print("    where the GUI thread was when the heartbeat was late (--probe):")
        stall_probe.report()
    loaded = sum(1 for k in list(view.thumbnails._cache) if view.thumbnails._cache[k] is not None)
    result = {"first_tiles": first_tiles, "first_previews": first_previews, "scroll_end": scroll_s,
              "max_gap_ms": max(gaps, default=0.0) * 1000, "over_50": sum(1 for g in gaps if g > 0.05),
              "beats": len(gaps), "cached": loaded, "cache_mb": view.thumbnails.cached_bytes / 2**20,
              "rss": peak_rss_mb(), "rows": view.model.rowCount()}
    window.close()
    from lora_manager_gui.app import shutdown

    await shutdown(window, ctx)
    return result


def print_c(args, c) -> None:
    print(f"(c) gallery, {c['rows']:,} adapters with previews, tiles of 192 px")
    print(f"    first tiles shown:    {c['first_tiles'] * 1000:7.1f} ms   (goal <= 1000 ms)")
    print(f"    first previews shown: {c['first_previews'] * 1000:7.1f} ms")
    print(f"    scroll to the end:    {c['scroll_end'] * 1000:7.1f} ms   (goal <= 200 ms)")
    print(f"    heartbeats: {c['beats']:,}; longest gap {c['max_gap_ms']:.1f} ms while previews load and the view "
          f"scrolls (goal <= 50 ms); {c['over_50']} gaps over 50 ms")
    print(f"    previews cached: {c['cached']:,} ({c['cache_mb']:.1f} MB)")
    print(f"    peak memory (RSS):    {c['rss']:7.1f} MB   (goal <= 400 MB)")


class StallProbe:
    """--probe: a watchdog thread that samples the GUI thread's stack whenever the heartbeat is late."""

    def __init__(self, last: list[float], late_s: float = 0.03) -> None:
        import collections
        import threading

        self.last, self.late_s = last, late_s
        self.samples: collections.Counter[str] = collections.Counter()
        self.main = threading.get_ident()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import traceback

        while not self.stop.wait(0.005):
            if time.perf_counter() - self.last[0] > self.late_s:
                frame = sys._current_frames().get(self.main)
                if frame is not None:
                    stack = traceback.extract_stack(frame)[-1:-9:-1]
                    self.samples[" <- ".join(f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in stack)] += 1

    def report(self) -> None:
        for key, n in self.samples.most_common(10):
            print(f"    {n:4d} x {key}")


async def part_b(folder: Path, store, sidecars: int, hash_mb: int, identify_n: int, probe: bool = False) -> dict[str, object]:
    from PySide6.QtCore import QTimer

    from lora_manager_gui.core.hashing import CachedHash
    from lora_manager_gui.db import hash_cache
    from lora_manager_gui.db.fields import utc_now
    from lora_manager_gui.services.library import CivitaiSettings
    from lora_manager_gui.ui.context import AppContext
    from lora_manager_gui.ui.main_window import MainWindow
    from tests.civitai_server import FakeCivitai

    server = FakeCivitai(latency=0.02).start()
    try:
        ctx = await AppContext.open(folder / "busy.sqlite3", store)
        await ctx.library.apply_settings(replace(ctx.library.settings, civitai=CivitaiSettings(server.base_url)))
        # identification: 1,000 small files whose hashes are in the cache (no gigabytes to write)
        ident_dir = folder / "identify"
        ident_dir.mkdir()
        entries, ident_paths = [], []
        for i in range(identify_n):
            p = ident_dir / f"unknown_{i:04d}.safetensors"
            p.write_bytes(i.to_bytes(4, "little"))
            st = p.stat()
            sha = hashlib.sha256(f"bench {i}".encode()).hexdigest().upper()
            entries.append(CachedHash(str(p), st.st_size, st.st_mtime_ns, sha, None, utc_now()))
            ident_paths.append(p)
            server.catalogue.add_synthetic(sha, version_id=700_000 + i, model_id=1 + i % 800)
        await ctx.db.call(hash_cache.put_many, entries)

        window = MainWindow(ctx)
        window.show()
        await window.load()

        gaps: list[float] = []
        last = [time.perf_counter()]

        at: list[float] = []

        def beat() -> None:
            now = time.perf_counter()
            gaps.append(now - last[0])
            at.append(now)
            last[0] = now

        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(beat)
        timer.start()
        stall_probe = StallProbe(last) if probe else None
        if stall_probe:
            stall_probe.thread.start()
        started = time.perf_counter()
        tasks = [
            window.import_folders([folder / "sidecars"]),
            window.start_job("Hashing 1 GB", window.jobs.hash_paths(sorted((folder / "big").iterdir()))),
            window.start_job("Identifying", window.jobs.identify_paths(ident_paths)),
        ]
        durations: dict[str, float] = {}
        while any(t.running for t in tasks):
            await asyncio.sleep(0.05)
            for t in tasks:
                if not t.running and t.title not in durations:
                    durations[t.title] = time.perf_counter() - started
        timer.stop()
        if stall_probe:
            stall_probe.stop.set()
            print("    where the GUI thread was when the heartbeat was late (--probe):")
            stall_probe.report()
        last[0] = time.perf_counter()
        await asyncio.sleep(0.3)  # the views' reload after the tasks
        await window.wait_idle(30)
        worst = max(range(len(gaps)), key=gaps.__getitem__) if gaps else 0
        worst_at = (at[worst] - started) if gaps else 0.0
        over = sum(1 for g in gaps if g > 0.05)
        gaps.sort()
        result = {
            "worst_at_s": worst_at,
            "over_50": over,
            "states": {t.title: t.state for t in tasks},
            "problems": {t.title: len(t.problems) for t in tasks},
            "durations": durations,
            "beats": len(gaps),
            "max_gap_ms": gaps[-1] * 1000 if gaps else 0.0,
            "p99_gap_ms": gaps[int(len(gaps) * 0.99) - 1] * 1000 if gaps else 0.0,
            "adapters": window.adapters.library_size,
            "identify": tasks[2].result,
        }
        window.close()
        from lora_manager_gui.app import shutdown

        await shutdown(window, ctx)
        return result
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--adapters", type=int, default=100_000)
    parser.add_argument("--sidecars", type=int, default=10_000)
    parser.add_argument("--hash-mb", type=int, default=1024)
    parser.add_argument("--identify", type=int, default=1000)
    parser.add_argument("--probe", action="store_true", help="sample the GUI thread's stack when a heartbeat is late")
    parser.add_argument("--skip-a", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gallery-only", action="store_true", help="only (c), the gallery, in this process")
    parser.add_argument("--skip-gallery", action="store_true", help="without (c)")
    parser.add_argument("--make-db", help=argparse.SUPPRESS)
    parser.add_argument("--previews", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_db:
        make_library(Path(args.make_db), args.adapters, Path(args.previews) if args.previews else None)
        return 0
    if args.gallery_only:
        return gallery_only(args)

    folder = Path(tempfile.mkdtemp(prefix="lora-ui-bench-"))
    try:
        t = time.perf_counter()
        db_path = folder / "big.sqlite3"
        if not args.skip_a:
            subprocess.run([sys.executable, __file__, "--make-db", str(db_path), "--adapters", str(args.adapters)], check=True)
        make_sidecars(folder / "sidecars", args.sidecars)
        make_big_files(folder / "big", args.hash_mb)
        print(f"set-up: {args.adapters:,} adapters, {args.sidecars:,} sidecars + model files, "
              f"{args.hash_mb:,} MB to hash, {args.identify:,} files to identify ({time.perf_counter() - t:.1f} s)")

        import qasync
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        import lora_manager_gui.ui  # noqa: F401  (PySide6 work-around first)

        app = QApplication.instance() or QApplication([])
        app.setQuitOnLastWindowClosed(False)
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        store = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
        a = loop.run_until_complete(part_a(db_path, store)) if not args.skip_a else None
        if a:
            print_a(args, a)
        b = loop.run_until_complete(part_b(folder, store, args.sidecars, args.hash_mb, args.identify, args.probe))
        print_b(b)
        print(f"    peak memory (RSS) overall: {peak_rss_mb():.1f} MB")
        loop.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not args.skip_gallery:  # its own process: its memory figure is its own
        subprocess.run([sys.executable, __file__, "--gallery-only", "--adapters", str(args.adapters),
                        *(["--probe"] if args.probe else [])], check=True)
    return 0


def gallery_only(args) -> int:
    folder = Path(tempfile.mkdtemp(prefix="lora-gallery-bench-"))
    try:
        t = time.perf_counter()
        db_path = folder / "gallery.sqlite3"
        subprocess.run([sys.executable, __file__, "--make-db", str(db_path), "--adapters", str(args.adapters),
                        "--previews", str(folder / "loras")], check=True)
        print(f"set-up: {args.adapters:,} adapters with previews ({time.perf_counter() - t:.1f} s)")
        import qasync
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication

        import lora_manager_gui.ui  # noqa: F401  (PySide6 work-around first)

        app = QApplication.instance() or QApplication([])
        app.setQuitOnLastWindowClosed(False)
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        store = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
        print_c(args, loop.run_until_complete(part_c(db_path, store, args.probe)))
        loop.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def print_a(args, a) -> None:
        print(f"(a) {args.adapters:,} adapters")
        print(f"    first rows shown:     {a['first_rows'] * 1000:7.1f} ms   (goal <= 1000 ms)")
        print(f"    sort by creator:      {a['sort'] * 1000:7.1f} ms   (goal <= 200 ms)")
        print(f"    search 'neon noir':   {a['search'] * 1000:7.1f} ms   (goal <= 200 ms; {a['matches']:,} rows)")
        print(f"    filter base model:    {a['filter'] * 1000:7.1f} ms")
        print(f"    scroll to the end:    {a['scroll_end'] * 1000:7.1f} ms")
        print(f"    peak memory (RSS):    {a['rss']:7.1f} MB   (goal <= 400 MB)")


def print_b(b) -> None:
        print("(b) import + hashing + identification at the same time, 10 ms heartbeat on the GUI thread")
        for title, seconds in b["durations"].items():
            print(f"    {title}: {b['states'][title]} in {seconds:.1f} s, {b['problems'][title]} problems")
        print(f"    adapters after import: {b['adapters']:,}; identify: found {getattr(b['identify'], 'found', '?')}")
        print(f"    heartbeats: {b['beats']:,}; p99 gap {b['p99_gap_ms']:.1f} ms; "
              f"longest gap {b['max_gap_ms']:.1f} ms at t={b['worst_at_s']:.2f} s   (goal <= 50 ms); "
              f"{b['over_50']} gaps over 50 ms")


if __name__ == "__main__":
    sys.exit(main())
