"""Planning a file operation: every move it would make, checked before anything happens.

A plan is what a dry run shows: each model file with the companions that go with it
(services/file_ops_groups.py), every destination checked to stay inside a library root, to be
free on disk and not claimed twice by the same operation. A unit that cannot go (a missing file, a
destination taken, sidecars shared with another model file of the same stem) gets an ItemProblem
and is left out; the others go. Blocking (stats and folder listings): run it on the work pool.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from lora_manager_gui.core.tasks import ItemProblem, ProblemKind
from lora_manager_gui.services.file_ops_groups import FolderListing, companion_suffix


class OpKind(StrEnum):
    MOVE = "move"
    RENAME = "rename"
    ORGANIZE = "organize"
    TRASH = "trash"
    DUPLICATES = "duplicates"


@dataclass(frozen=True, slots=True)
class FileMove:
    """One file's move. `to_trash` / `from_trash` set the file's missing flag in the library."""

    src: str
    dst: str
    is_model: bool
    to_trash: bool = False
    from_trash: bool = False

    def inverse(self) -> FileMove:
        return FileMove(self.dst, self.src, self.is_model, to_trash=self.from_trash, from_trash=self.to_trash)

    def to_json(self) -> dict[str, object]:
        return {"from": self.src, "to": self.dst, "model": self.is_model}


@dataclass(frozen=True, slots=True)
class PlannedUnit:
    """A model file and its companions, going together."""

    model: str
    target: str
    moves: tuple[FileMove, ...]


@dataclass
class OperationPlan:
    kind: OpKind
    description: str
    units: list[PlannedUnit] = field(default_factory=list)
    problems: list[ItemProblem] = field(default_factory=list)
    unchanged: int = 0  # already where they should be

    @property
    def moves(self) -> list[FileMove]:
        return [m for u in self.units for m in u.moves]

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind.value, "description": self.description, "files": len(self.moves),
            "models": len(self.units), "unchanged": self.unchanged,
            "moves": [m.to_json() for m in self.moves],
            "problems": [p.to_json() for p in self.problems],
        }


class PathOutsideRootError(ValueError):
    pass


def _normal(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))


def inside(path: str, root: str) -> bool:
    path, root = _normal(path), _normal(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def plan_moves(kind: OpKind, description: str, targets: Iterable[tuple[str, str]], roots: Sequence[str], *,
               to_trash: bool = False) -> OperationPlan:
    """A plan moving each model file (first of a pair) to its new path (second), with its companions.

    Every destination must lie inside one of `roots` (trash plans pass the trash folders)."""
    plan = OperationPlan(kind, description)
    listing = FolderListing()
    claimed: set[str] = set()
    for model, target in targets:
        model, target = _normal(model), _normal(target)
        if model == target:
            plan.unchanged += 1
            continue
        problem = _check_unit(model, target, roots)
        if problem is not None:
            plan.problems.append(ItemProblem(model, *problem))
            continue
        group = listing.group(model)
        if group.shared_with:
            others = ", ".join(os.path.basename(p) for p in group.shared_with)
            plan.problems.append(ItemProblem(model, ProblemKind.UNSAFE_PATH,
                                             f"its sidecars also belong to {others} (same name): move those together by hand"))
            continue
        new_folder = os.path.dirname(target)
        new_stem = os.path.splitext(os.path.basename(target))[0]
        moves = [FileMove(model, target, True, to_trash=to_trash)]
        for name in group.companions:
            suffix = companion_suffix(name, group.stem) or ""
            moves.append(FileMove(os.path.join(group.folder, name), os.path.join(new_folder, new_stem + suffix),
                                  False, to_trash=to_trash))
        taken = next((m.dst for m in moves if m.dst.casefold() in claimed or os.path.lexists(m.dst)), None)
        if taken is not None:
            why = ("another file of this operation goes there" if taken.casefold() in claimed
                   else "a file is already there (never overwritten)")
            plan.problems.append(ItemProblem(model, ProblemKind.UNSAFE_PATH, f"cannot move to {taken}: {why}"))
            continue
        claimed.update(m.dst.casefold() for m in moves)
        plan.units.append(PlannedUnit(model, target, tuple(moves)))
    return plan


def _check_unit(model: str, target: str, roots: Sequence[str]) -> tuple[ProblemKind, str] | None:
    if not os.path.isfile(model):
        return ProblemKind.MISSING_MODEL_FILE, "the model file is not there"
    if not any(inside(target, r) for r in roots):
        return ProblemKind.UNSAFE_PATH, f"{target} is outside the library roots ({', '.join(roots) or 'none known'})"
    if os.path.splitext(target)[1].lower() != os.path.splitext(model)[1].lower():
        return ProblemKind.UNSAFE_PATH, "a model file keeps its extension"
    return None
