"""The integrity scan: is every model file whole, and the file CivitAI lists?

Without hashing (the default), for every model file under the roots:
- empty, or an HTML/JSON page saved under a model's name (core.download_files.sniff_model);
- a safetensors header that parses, and a file exactly as long as its tensor offsets say: a
  truncated download is caught from the size alone, as are bytes after the last tensor;
- a size that differs from the one CivitAI lists for the adapter's file (adapter.primary_file_*).
With `deep`: the SHA-256 (through the hash cache, services/hasher.py) against CivitAI's, and the
AutoV3 (tensor bytes) against an embedded `sshs_model_hash` (the header, or the tensors, changed
after training). Every finding is a `Finding` with the file and what to do. The header checks
run on the work pool, in chunks; nothing is written to the library but the hash cache.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from lora_manager_gui.core.download_files import Sniffed, sniff_model
from lora_manager_gui.core.errors import FileProblemError, InvalidModelFileError
from lora_manager_gui.core.files import READ_FLAGS
from lora_manager_gui.core.safetensors import MODEL_EXTENSIONS, read_header
from lora_manager_gui.core.tasks import Changes, ItemProblem, ProblemKind, Progress, ProgressSink, ProgressThrottle, Stage, TaskOutcome

if TYPE_CHECKING:
    from lora_manager_gui.services.library import Library

CHUNK = 256
EMPTY_SHA256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"


class Finding(StrEnum):
    EMPTY = "empty"
    NOT_A_MODEL = "not_a_model"
    TRUNCATED = "truncated"
    TRAILING_DATA = "trailing_data"
    BAD_HEADER = "bad_header"
    UNREADABLE = "unreadable"
    SIZE_MISMATCH = "size_mismatch"
    SHA256_MISMATCH = "sha256_mismatch"
    HEADER_EDITED = "header_edited"

    @property
    def advice(self) -> str:
        return _ADVICE[self]

    @property
    def kind(self) -> ProblemKind:
        return ProblemKind.UNREADABLE if self is Finding.UNREADABLE else ProblemKind.INVALID_MODEL_FILE


_REDOWNLOAD = "download it again from CivitAI (lora-manager download <link>)"
_ADVICE = {
    Finding.EMPTY: "the file is empty: " + _REDOWNLOAD,
    Finding.NOT_A_MODEL: "the file is a web page saved under a model's name: delete it and " + _REDOWNLOAD,
    Finding.TRUNCATED: "the download stopped early: " + _REDOWNLOAD,
    Finding.TRAILING_DATA: "the file has bytes after its last tensor: " + _REDOWNLOAD,
    Finding.BAD_HEADER: "the file is damaged: " + _REDOWNLOAD,
    Finding.UNREADABLE: "check the file's permissions and the disk",
    Finding.SIZE_MISMATCH: "the file is not the one CivitAI lists for this version: " + _REDOWNLOAD,
    Finding.SHA256_MISMATCH: "the file's content is not the one CivitAI lists: " + _REDOWNLOAD,
    Finding.HEADER_EDITED: "the header's sshs_model_hash does not match the tensors: the file was changed after "
                           "training (a metadata editor, a merge); re-download if that was not you",
}


@dataclass(frozen=True, slots=True)
class VerifyFinding:
    path: str
    finding: Finding
    message: str

    def to_problem(self) -> ItemProblem:
        return ItemProblem(self.path, self.finding.kind, f"{self.finding.value}: {self.message} ({self.finding.advice})")

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "finding": self.finding.value, "message": self.message, "advice": self.finding.advice}


@dataclass(frozen=True, slots=True)
class Listed:
    """What CivitAI lists for the file at a path (through its adapter)."""

    size_bytes: int | None
    sha256: str | None


@dataclass
class VerifyReport:
    roots: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    findings: list[VerifyFinding] = field(default_factory=list)
    deep: bool = False

    @property
    def problems(self) -> list[ItemProblem]:
        return [f.to_problem() for f in self.findings]

    def outcome(self, *, cancelled: bool = False) -> TaskOutcome:
        return TaskOutcome.decide(done=self.files, problems=len(self.findings), was_cancelled=cancelled,
                                  changes=Changes(hashes=self.deep))

    def to_json(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.finding.value] = counts.get(f.finding.value, 0) + 1
        return {"roots": self.roots, "files": self.files, "bytes": self.bytes, "deep": self.deep,
                "findings": [f.to_json() for f in self.findings], "counts": counts,
                "summary": self.outcome().describe()}


def walk_models(root: str) -> list[tuple[str, int]]:
    """(path, size) of every model file under `root`, iteratively, symlinked folders not followed."""
    found: list[tuple[str, int]] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.name.lower().endswith(MODEL_EXTENSIONS) and entry.is_file():
                            found.append((entry.path, entry.stat().st_size))
                    except OSError:
                        continue
        except OSError:
            continue
    found.sort()
    return found


def _head(path: str, n: int = 64) -> bytes:
    fd = os.open(path, READ_FLAGS | getattr(os, "O_NONBLOCK", 0))
    try:
        return os.read(fd, n)
    finally:
        os.close(fd)


def check_file(path: str, size: int, listed: Listed | None = None) -> tuple[VerifyFinding | None, str | None]:
    """The finding for one file (None when it is whole) and its embedded sshs_model_hash. Blocking."""
    if size == 0:
        return VerifyFinding(path, Finding.EMPTY, "0 bytes"), None
    embedded: str | None = None
    try:
        if path.lower().endswith(".safetensors"):
            try:
                header = read_header(path, check_size=False, size=size)
            except InvalidModelFileError as exc:
                return _not_safetensors(path, exc), None
            expected = header.data_offset + max((t["data_offsets"][1] for t in header.tensors.values()), default=0)
            embedded = header.metadata.get("sshs_model_hash")
            if size < expected:
                return VerifyFinding(path, Finding.TRUNCATED, f"{size:,} bytes, the header's tensors need {expected:,}"), embedded
            if size > expected:
                return VerifyFinding(path, Finding.TRAILING_DATA, f"{size - expected:,} bytes after the last tensor"), embedded
        else:
            sniffed = sniff_model(_head(path))
            if sniffed in (Sniffed.HTML, Sniffed.JSON):
                return VerifyFinding(path, Finding.NOT_A_MODEL, f"the file is {sniffed.value.upper()}, not a model"), None
    except (FileProblemError, OSError) as exc:
        return VerifyFinding(path, Finding.UNREADABLE, str(exc)), None
    if listed is not None and listed.size_bytes is not None and listed.size_bytes != size:
        return VerifyFinding(path, Finding.SIZE_MISMATCH,
                             f"{size:,} bytes, CivitAI lists {listed.size_bytes:,} for this version"), embedded
    return None, embedded


def _not_safetensors(path: str, exc: InvalidModelFileError) -> VerifyFinding:
    try:
        sniffed = sniff_model(_head(path))
    except OSError:
        sniffed = Sniffed.UNKNOWN
    if sniffed in (Sniffed.HTML, Sniffed.JSON):
        return VerifyFinding(path, Finding.NOT_A_MODEL, f"the file is {sniffed.value.upper()}, not a safetensors file")
    text = str(exc)
    if "truncated" in text:
        return VerifyFinding(path, Finding.TRUNCATED, text)
    return VerifyFinding(path, Finding.BAD_HEADER, text)


def check_chunk(items: Sequence[tuple[str, int, Listed | None]]) -> list[tuple[str, VerifyFinding | None, str | None]]:
    return [(path, *check_file(path, size, listed)) for path, size, listed in items]


def listed_files(paths: Sequence[str]) -> dict[str, Listed]:
    """What CivitAI lists for each path's adapter, when the file is the adapter's primary file. DB thread."""
    from lora_manager_gui.db.models import Adapter

    wanted = set(paths)
    out: dict[str, Listed] = {}
    query = Adapter.select(Adapter.file_path, Adapter.primary_file_name, Adapter.primary_file_size_kb,
                           Adapter.primary_file_sha256).where(Adapter.file_path.is_null(False)).tuples()
    for file_path, name, size_kb, sha in query:
        if file_path not in wanted or (name and name.lower() != os.path.basename(file_path).lower()):
            continue
        out[file_path] = Listed(round(size_kb * 1024) if size_kb is not None else None, (sha or "").upper() or None)
    return out


async def verify(library: Library, roots: Sequence[str], *, deep: bool = False,
                 progress: ProgressSink | None = None) -> VerifyReport:
    """Check every model file under `roots` (see the module docstring)."""
    report = VerifyReport(roots=[os.path.abspath(r) for r in roots], deep=deep)
    throttle = ProgressThrottle(progress)
    throttle(Progress(Stage.WALK), force=True)
    files: list[tuple[str, int]] = []
    for root in report.roots:
        files.extend(await library.pool.call(walk_models, root))
    listed: dict[str, Listed] = await library.db.call(listed_files, [p for p, _ in files])
    report.files = len(files)
    report.bytes = sum(s for _, s in files)
    items = [(p, s, listed.get(p)) for p, s in files]

    chunks = [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]
    embedded: dict[str, str] = {}
    done = 0
    throttle(Progress(Stage.VERIFY, 0, len(items)), force=True)
    for future in asyncio.as_completed([library.pool.call(check_chunk, c) for c in chunks]):
        results = await future
        for path, finding, sshs in results:
            done += 1
            if finding is not None:
                report.findings.append(finding)
            elif sshs:
                embedded[path] = sshs
        throttle(Progress(Stage.VERIFY, done, len(items), problems=len(report.findings)))
    if deep:  # only the files found whole: a broken file's hash says nothing new
        broken = {f.path for f in report.findings}
        await _deep(library, report, [p for p, _ in files if p not in broken], listed, embedded, throttle)
    report.findings.sort(key=lambda f: (f.path, f.finding.value))
    throttle(Progress(Stage.DONE, report.files, report.files, problems=len(report.findings)), force=True)
    return report


async def _deep(library: Library, report: VerifyReport, paths: list[str], listed: dict[str, Listed],
                embedded: dict[str, str], throttle: ProgressThrottle) -> None:
    async with library.use_hasher() as hasher:
        hashed = await hasher.hash_paths([p for p in paths if p in listed and listed[p].sha256], progress=throttle.sink)
        for result in hashed:
            want = listed[result.path].sha256 if result.path in listed else None
            if result.ok and want and result.sha256 and result.sha256.upper() != want:
                report.findings.append(VerifyFinding(result.path, Finding.SHA256_MISMATCH,
                                                     f"SHA-256 {result.sha256[:16]}..., CivitAI lists {want[:16]}..."))
        for path, sshs in embedded.items():
            text = sshs.strip().upper()
            if len(text) < 12 or not all(c in "0123456789ABCDEF" for c in text) or EMPTY_SHA256.startswith(text):
                continue  # absent, not hex, or the hash of nothing (ai-toolkit wrote that into every file)
            autov3 = await hasher.autov3(path)
            if autov3 and not text.startswith(autov3.upper()):
                report.findings.append(VerifyFinding(path, Finding.HEADER_EDITED,
                                                     f"AutoV3 {autov3.upper()} but the header says {text[:12]}"))
