"""File operations on the library, typed like Anki's: move to a folder, rename, organize by a
template, trash; undo and redo from the persisted log. Each returns an `OperationResult` saying
what changed. Safe by construction:

- a plan first (what a dry run shows), every destination inside a library root and free;
- all-or-nothing: a failure at any step rolls back the completed ones (services/file_ops_run.py);
- an existing file is never overwritten (no-clobber renames, services/file_ops_fs.py);
- the rows, user data, hash cache entries and CivitAI answers follow the files (db/file_rows.py):
  nothing is hashed again;
- the model file is never written; sidecars and previews move with it.
"""
from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from lora_manager_gui.core.tasks import (
    Changes, ItemProblem, ProblemKind, Progress, ProgressSink, ProgressThrottle, Stage, TaskOutcome,
)
from lora_manager_gui.core.templates import Template, sanitize_stem
from lora_manager_gui.db import file_rows, operation_log
from lora_manager_gui.db.file_rows import RowMove
from lora_manager_gui.db.models import database_proxy
from lora_manager_gui.db.operation_log import EntryState, LoggedMove, LoggedMoveKind
from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
from lora_manager_gui.services.file_ops_plan import FileMove, OperationPlan, OpKind, PlannedUnit, plan_moves
from lora_manager_gui.services.file_ops_run import FaultHook, FileOpError, run_moves
from lora_manager_gui.services.file_ops_trash import TrashMode, app_trash_folder, operation_label


@dataclass
class OperationResult:
    """What one operation did (or, for a dry run, would do)."""

    plan: OperationPlan
    dry_run: bool = False
    moved: list[FileMove] = field(default_factory=list)
    entry_id: int | None = None
    error: ItemProblem | None = None
    rollback_problems: list[ItemProblem] = field(default_factory=list)

    @property
    def kind(self) -> OpKind | str:
        return self.plan.kind

    @property
    def problems(self) -> list[ItemProblem]:
        return self.plan.problems + ([self.error] if self.error else []) + self.rollback_problems

    @property
    def models_moved(self) -> int:
        return sum(1 for m in self.moved if m.is_model)

    def outcome(self, *, cancelled: bool = False) -> TaskOutcome:
        changed = bool(self.moved)
        changes = Changes(adapters=changed, files=changed, hashes=changed)
        return TaskOutcome.decide(done=self.models_moved, problems=len(self.plan.problems) + len(self.rollback_problems),
                                  was_cancelled=cancelled, error=self.error.message if self.error else "",
                                  changes=changes)

    def to_json(self) -> dict[str, object]:
        out = self.plan.to_json()
        out.update({
            "dry_run": self.dry_run, "operation_id": self.entry_id, "moved": [m.to_json() for m in self.moved],
            "outcome": self.outcome().status.value,
            "problems": [p.to_json() for p in self.problems],
        })
        return out


def _row_moves(moves: Sequence[FileMove]) -> list[RowMove]:
    out = []
    for m in moves:
        missing = True if m.to_trash else (False if m.from_trash else None)
        out.append(RowMove(m.src, m.dst, m.is_model, missing))
    return out


def _store(plan: OperationPlan, made: Sequence[FileMove], *, entry: tuple[int, EntryState] | None) -> int:
    """One transaction: the rows follow the files; the log records (or re-states) the operation."""
    with database_proxy.atomic():
        file_rows.apply_moves(_row_moves(made))
        if entry is not None:
            operation_log.set_state(*entry)
            return entry[0]
        models = [m for m in made if m.is_model]
        payload = [LoggedMove(m.src, m.dst, LoggedMoveKind.TRASH if m.to_trash else LoggedMoveKind.MOVE,
                              m.is_model) for m in made]
        return operation_log.record(plan.kind.value, f"{plan.description} ({len(models)} model files)", payload).id


async def execute(db: DatabaseExecutor, pool: WorkPool, plan: OperationPlan, *, dry_run: bool = False,
                  progress: ProgressSink | None = None, fault: FaultHook | None = None,
                  trash_mode: TrashMode | None = None,
                  entry: tuple[int, EntryState] | None = None) -> OperationResult:
    """Run `plan` all-or-nothing and store it (or, with dry_run, only return it)."""
    throttle = ProgressThrottle(progress)
    result = OperationResult(plan, dry_run=dry_run)
    moves = plan.moves
    throttle(Progress(Stage.MOVE, 0, len(moves), problems=len(plan.problems)), force=True)
    if dry_run or not moves:
        throttle(Progress(Stage.DONE, 0, len(moves), problems=len(plan.problems)), force=True)
        return result
    loop = asyncio.get_running_loop()

    def step(done: int, move: FileMove) -> None:
        if fault is not None:
            fault(done, move)
        if throttle.active:
            loop.call_soon_threadsafe(throttle, Progress(Stage.MOVE, min(done, len(moves)), len(moves), detail=move.src))

    try:
        tx, made = await pool.call(run_moves, moves, step, system_trash=trash_mode)
    except FileOpError as exc:
        result.error, result.rollback_problems = exc.problem, exc.rollback_problems
        throttle(Progress(Stage.DONE, 0, len(moves), problems=len(result.problems)), force=True)
        return result
    try:
        result.entry_id = await db.call(_store, plan, made, entry=entry)
    except Exception as exc:  # the rows could not follow: put the files back
        result.rollback_problems = await pool.call(tx.rollback)
        result.error = ItemProblem(str(db.path), ProblemKind.DATABASE,
                                   f"the library could not record the moves ({exc}); nothing was moved")
        return result
    result.moved = list(made)
    throttle(Progress(Stage.DONE, len(moves), len(moves), problems=len(result.problems)), force=True)
    return result


# --- the operations ---------------------------------------------------------------------------


async def _roots(db: DatabaseExecutor) -> list[str]:
    return await db.call(file_rows.known_roots)


async def move_to_folder(db: DatabaseExecutor, pool: WorkPool, models: Sequence[str], folder: str, *,
                         dry_run: bool = False, progress: ProgressSink | None = None,
                         fault: FaultHook | None = None) -> OperationResult:
    """Move model files (with their companions) into `folder`, which must be inside a library root."""
    roots = await _roots(db)
    dest = os.path.abspath(folder)
    targets = [(m, os.path.join(dest, os.path.basename(m))) for m in models]
    plan = await pool.call(plan_moves, OpKind.MOVE, f"move to {dest}", targets, roots)
    return await execute(db, pool, plan, dry_run=dry_run, progress=progress, fault=fault)


async def rename(db: DatabaseExecutor, pool: WorkPool, model: str, new_stem: str, *, dry_run: bool = False,
                 progress: ProgressSink | None = None, fault: FaultHook | None = None) -> OperationResult:
    """Rename a model file (its extension kept) and its companions."""
    roots = await _roots(db)
    stem = sanitize_stem(new_stem)
    target = os.path.join(os.path.dirname(os.path.abspath(model)), stem + os.path.splitext(model)[1])
    plan = await pool.call(plan_moves, OpKind.RENAME, f"rename {os.path.basename(model)} to {stem}", [(model, target)], roots)
    return await execute(db, pool, plan, dry_run=dry_run, progress=progress, fault=fault)


async def organize(db: DatabaseExecutor, pool: WorkPool, template: str, *, models: Sequence[str] | None = None,
                   dry_run: bool = False, progress: ProgressSink | None = None,
                   fault: FaultHook | None = None) -> OperationResult:
    """Move every present model file (or those of `models`) to `<its root>/<template>.<ext>`."""
    parsed = Template.parse(template)
    ProgressThrottle(progress)(Progress(Stage.PLAN), force=True)
    facts = await db.call(file_rows.file_facts, None if models is None else [os.path.abspath(m) for m in models])
    roots = await _roots(db)

    def targets() -> list[tuple[str, str]]:
        out = []
        for f in facts:
            rel = parsed.render(f.template_values())
            out.append((f.path, os.path.join(f.root, *rel.split("/")) + os.path.splitext(f.path)[1]))
        return out

    def make_plan() -> OperationPlan:
        return plan_moves(OpKind.ORGANIZE, f"organize by {template}", targets(), roots)

    plan = await pool.call(make_plan)
    return await execute(db, pool, plan, dry_run=dry_run, progress=progress, fault=fault)


async def trash(db: DatabaseExecutor, pool: WorkPool, models: Sequence[str], *, mode: TrashMode = TrashMode.AUTO,
                dry_run: bool = False, progress: ProgressSink | None = None, fault: FaultHook | None = None,
                kind: OpKind = OpKind.TRASH) -> OperationResult:
    """Send model files and their companions to the trash (system or app, see file_ops_trash)."""
    roots = await _roots(db)
    label = operation_label()
    targets, trash_roots = [], set()
    for model in models:
        path = os.path.abspath(model)
        root = file_rows.root_for(path, roots) or os.path.dirname(path)
        folder = app_trash_folder(root, label)
        trash_roots.add(folder)
        targets.append((path, os.path.join(folder, os.path.relpath(path, root))))
    plan = await pool.call(plan_moves, kind, f"trash {len(targets)} file(s)", targets, sorted(trash_roots),
                           to_trash=True)
    return await execute(db, pool, plan, dry_run=dry_run, progress=progress, fault=fault, trash_mode=mode)


# --- undo and redo ----------------------------------------------------------------------------


def _moves_of(entry: operation_log.LogEntry, *, backwards: bool) -> tuple[list[FileMove], list[ItemProblem]]:
    moves, problems = [], []
    for m in entry.moves:
        trashed = m.kind is LoggedMoveKind.TRASH
        move = FileMove(m.src, m.dst, m.is_model, to_trash=trashed)
        if backwards:
            move = move.inverse()
        if not move.src or not move.dst:
            problems.append(ItemProblem(m.src, ProblemKind.UNSAFE_PATH,
                                        "the system trash did not say where it put this file: restore it from there"))
            continue
        moves.append(move)
    if backwards:
        moves.reverse()
    return moves, problems


async def _replay(db: DatabaseExecutor, pool: WorkPool, entry: operation_log.LogEntry, *, backwards: bool,
                  progress: ProgressSink | None, fault: FaultHook | None) -> OperationResult:
    moves, problems = _moves_of(entry, backwards=backwards)
    verb = "undo" if backwards else "redo"
    plan = OperationPlan(OpKind(entry.kind) if entry.kind in OpKind._value2member_map_ else OpKind.MOVE,
                         f"{verb} {entry.description}", problems=problems)
    if problems and not moves:
        return OperationResult(plan)
    plan.units = [PlannedUnit(moves[0].src, moves[0].dst, tuple(moves))]
    state = EntryState.UNDONE if backwards else EntryState.DONE
    return await execute(db, pool, plan, progress=progress, fault=fault, entry=(entry.id, state))


async def undo(db: DatabaseExecutor, pool: WorkPool, *, progress: ProgressSink | None = None,
               fault: FaultHook | None = None) -> OperationResult | None:
    """Undo the latest done operation (None when there is none)."""
    entry = await db.call(operation_log.last_done)
    if entry is None:
        return None
    return await _replay(db, pool, entry, backwards=True, progress=progress, fault=fault)


async def redo(db: DatabaseExecutor, pool: WorkPool, *, progress: ProgressSink | None = None,
               fault: FaultHook | None = None) -> OperationResult | None:
    """Redo the latest undone operation (None when there is none)."""
    entry = await db.call(operation_log.last_undone)
    if entry is None:
        return None
    return await _replay(db, pool, entry, backwards=False, progress=progress, fault=fault)
