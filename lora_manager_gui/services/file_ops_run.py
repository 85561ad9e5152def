"""Running a planned file operation all-or-nothing, then storing what it changed.

Steps, each recorded as it completes: create a missing destination folder, rename a file
(no-clobber, services/file_ops_fs.py), or, across volumes, copy it verified. When every file is in
place, Lora Manager sidecars get their `file_name` / `file_path` updated (atomically, the original
bytes kept), then the sources of the copies are deleted. A failure at any step (permission, disk full, a
destination that appeared meanwhile) undoes the completed steps in reverse order: renames are
renamed back, copies deleted, deleted sources copied back from their verified copies, created
folders removed when empty. Then, in one database transaction, the rows follow the files
(db/file_rows.py) and the operation log records the moves; if that fails, the files go back too.

`fault(step, move)` is called after each completed step (tests inject failures there).
"""
from __future__ import annotations

import errno
import json
import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from lora_manager_gui.core.tasks import ItemProblem, ProblemKind
from lora_manager_gui.services.file_ops_fs import (
    CrossDeviceError, atomic_write, copy_verified, fsync_dir, rename_noreplace,
)
from lora_manager_gui.services.file_ops_plan import FileMove
from lora_manager_gui.services import file_ops_trash

log = logging.getLogger(__name__)
LM_SUFFIX = ".metadata.json"

FaultHook = Callable[[int, FileMove], None]


class StepKind(StrEnum):
    MKDIR = "mkdir"
    RENAME = "rename"
    COPY = "copy"
    UNLINK_SOURCE = "unlink_source"
    REWRITE = "rewrite"  # a Lora Manager sidecar's file_name / file_path updated (original kept)


@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    move: FileMove | None = None
    folder: str = ""
    original: bytes = b""  # REWRITE: the bytes to put back
    original_mtime_ns: int = 0


class FileOpError(Exception):
    """The operation could not complete; every completed step was undone."""

    def __init__(self, problem: ItemProblem, rollback_problems: Sequence[ItemProblem] = ()) -> None:
        super().__init__(problem.message)
        self.problem = problem
        self.rollback_problems = list(rollback_problems)


def classify(exc: BaseException) -> ProblemKind:
    if isinstance(exc, OSError):
        if exc.errno == errno.ENOSPC or exc.errno == getattr(errno, "EDQUOT", -1):
            return ProblemKind.DISK_FULL
        if isinstance(exc, FileExistsError):
            return ProblemKind.UNSAFE_PATH
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return ProblemKind.UNREADABLE
        if isinstance(exc, FileNotFoundError):
            return ProblemKind.MISSING_MODEL_FILE
    return ProblemKind.INTERNAL


def describe(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        where = exc.filename2 or exc.filename
        text = exc.strerror or str(exc)
        return f"{text}: {where}" if where else text
    return f"{type(exc).__name__}: {exc}"


@dataclass
class Transaction:
    """The completed steps of one operation, to undo on failure."""

    fault: FaultHook | None = None
    steps: list[Step] = field(default_factory=list)
    copied: int = 0
    file_steps: int = 0
    touched_dirs: set[str] = field(default_factory=set)

    def _done(self, step: Step) -> None:
        """A file step completed; `fault` gets its number (1 = the first file moved or copied)."""
        self.steps.append(step)
        self.file_steps += 1
        if self.fault is not None and step.move is not None:
            self.fault(self.file_steps, step.move)

    def _ensure_dir(self, folder: str) -> None:
        missing: list[str] = []
        probe = folder
        while probe and not os.path.isdir(probe):
            missing.append(probe)
            parent = os.path.dirname(probe)
            if parent == probe:
                break
            probe = parent
        for path in reversed(missing):
            os.mkdir(path)
            self.steps.append(Step(StepKind.MKDIR, folder=path))

    def move(self, move: FileMove) -> None:
        self._ensure_dir(os.path.dirname(move.dst))
        self.touched_dirs.update((os.path.dirname(move.src), os.path.dirname(move.dst)))
        file_ops_trash.before_move(move)
        try:
            rename_noreplace(move.src, move.dst)
        except CrossDeviceError:
            copy_verified(move.src, move.dst)
            self.copied += 1
            self._done(Step(StepKind.COPY, move))
            return
        except BaseException:
            file_ops_trash.after_failed_move(move)
            raise
        self._done(Step(StepKind.RENAME, move))

    def trash_to_system(self, path: str, is_model: bool) -> FileMove:
        """send2trash, then find where it went (for undo); a step like a rename."""
        dst = file_ops_trash.send_to_system_trash(path)
        move = FileMove(path, dst, is_model, to_trash=True)
        self.touched_dirs.add(os.path.dirname(path))
        self._done(Step(StepKind.RENAME, move))
        return move

    def update_lora_manager_paths(self, moves: Sequence[FileMove]) -> None:
        """Lora Manager's `.metadata.json` names its model file (`file_name`, `file_path`): once
        the files are in place, those follow too (atomically; the original bytes kept for rollback).
        Files going to or coming from the trash are left as they are."""
        models = {os.path.splitext(m.dst)[0].casefold(): m.dst for m in moves if m.is_model}
        for move in moves:
            if move.is_model or move.to_trash or move.from_trash or not move.dst.lower().endswith(LM_SUFFIX):
                continue
            model = models.get(move.dst[: -len(LM_SUFFIX)].casefold())
            if model is None:
                continue
            mtime_ns = os.stat(move.dst).st_mtime_ns
            original, updated = lora_manager_paths(move.dst, model)
            if updated is None:
                continue
            atomic_write(move.dst, updated)
            self._done(Step(StepKind.REWRITE, move, original=original, original_mtime_ns=mtime_ns))

    def delete_copied_sources(self) -> None:
        for step in [s for s in self.steps if s.kind is StepKind.COPY]:
            assert step.move is not None
            os.unlink(step.move.src)
            self._done(Step(StepKind.UNLINK_SOURCE, step.move))

    def finish(self) -> None:
        for folder in self.touched_dirs:
            fsync_dir(folder)
        for step in self.steps:
            if step.move is not None and step.kind in (StepKind.RENAME, StepKind.COPY):
                file_ops_trash.after_move(step.move)

    def rollback(self) -> list[ItemProblem]:
        """Undo the completed steps, newest first. Returns what could not be undone (each logged)."""
        problems: list[ItemProblem] = []
        rewritten = {s.move: s for s in self.steps if s.kind is StepKind.REWRITE}
        for step in reversed(self.steps):
            try:
                self._undo(step, rewritten)
            except OSError as exc:
                path = step.move.src if step.move else step.folder
                log.error("rolling back %s of %s failed: %s", step.kind, path, exc)
                problems.append(ItemProblem(path, classify(exc), f"could not be put back: {describe(exc)}"))
        self.steps.clear()
        return problems

    @staticmethod
    def _undo(step: Step, rewritten: dict[FileMove | None, Step]) -> None:
        move = step.move
        if step.kind is StepKind.MKDIR:
            try:
                os.rmdir(step.folder)
            except OSError:
                pass  # not empty: something else lives there now
        elif step.kind is StepKind.RENAME:
            assert move is not None
            back = move.inverse()
            file_ops_trash.before_move(back)
            rename_noreplace(back.src, back.dst)
            file_ops_trash.after_move(back)
        elif step.kind is StepKind.COPY:
            assert move is not None
            os.unlink(move.dst)
        elif step.kind is StepKind.UNLINK_SOURCE:
            assert move is not None
            rewrite = rewritten.get(move)
            if rewrite is None:
                copy_verified(move.dst, move.src)
            else:  # the copy was updated since: the source gets its own bytes back
                _write_new(move.src, rewrite.original, rewrite.original_mtime_ns)
        elif step.kind is StepKind.REWRITE:
            assert move is not None
            atomic_write(move.dst, step.original)
            os.utime(move.dst, ns=(step.original_mtime_ns, step.original_mtime_ns))


def run_moves(moves: Sequence[FileMove], fault: FaultHook | None = None, *,
              system_trash: file_ops_trash.TrashMode | None = None) -> tuple[Transaction, list[FileMove]]:
    """Make every move or none (blocking); returns the transaction and the moves as made (a file
    sent to the system trash went where the trash put it). Raises FileOpError after rolling back.

    `system_trash` AUTO or SYSTEM: moves into the trash go to the system trash instead of their
    planned app-trash destination (AUTO falls back to that destination where there is none)."""
    tx = Transaction(fault)
    made: list[FileMove] = []
    current: FileMove | None = None
    try:
        for current in moves:
            if current.to_trash and system_trash in (file_ops_trash.TrashMode.AUTO, file_ops_trash.TrashMode.SYSTEM):
                try:
                    made.append(tx.trash_to_system(current.src, current.is_model))
                    continue
                except file_ops_trash.NoSystemTrashError:
                    if system_trash is file_ops_trash.TrashMode.SYSTEM:
                        raise
            tx.move(current)
            made.append(current)
        current = None
        tx.update_lora_manager_paths(made)
        tx.delete_copied_sources()
    except BaseException as exc:
        rollback_problems = tx.rollback()
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        path = current.src if current is not None else ""
        problem = ItemProblem(path, classify(exc), f"{describe(exc)}; nothing was moved")
        raise FileOpError(problem, rollback_problems) from exc
    tx.finish()
    return tx, made


def _write_new(path: str, data: bytes, mtime_ns: int) -> None:
    """Create `path` (never over an existing file) with `data`, synced, with this mtime."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), 0o644)
    with os.fdopen(fd, "wb", closefd=True) as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.utime(path, ns=(mtime_ns, mtime_ns))


def lora_manager_paths(sidecar: str, model: str) -> tuple[bytes, bytes | None]:
    """(original bytes, updated bytes or None when nothing to change or not a JSON object).

    The two values are replaced in the text itself where they appear once, so the rest of the
    file keeps its bytes (and an undo gives back the very same file); else the object is re-dumped."""
    with open(sidecar, "rb") as f:
        original = f.read()
    try:
        doc = json.loads(original)
    except ValueError:
        return original, None
    if not isinstance(doc, dict):
        return original, None
    wanted = {"file_name": os.path.splitext(os.path.basename(model))[0], "file_path": model.replace(os.sep, "/")}
    changes = {k: v for k, v in wanted.items() if k in doc and doc[k] != v}
    if not changes:
        return original, None
    text = original.decode("utf-8", "surrogateescape")
    for key, value in changes.items():
        old = doc[key]
        hits = [m for ascii_ in (False, True) if isinstance(old, str)
                for m in re.finditer(re.escape(json.dumps(key)) + r"\s*:\s*" + re.escape(json.dumps(old, ensure_ascii=ascii_)), text)]
        if len({(m.start(), m.end()) for m in hits}) != 1:
            new = dict(doc, **changes)
            return original, (json.dumps(new, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
        m = hits[0]
        text = text[: m.start()] + f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}" + text[m.end():]
    return original, text.encode("utf-8", "surrogateescape")
