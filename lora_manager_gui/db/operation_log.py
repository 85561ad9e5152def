"""The persisted log of file operations (m0007): what each one moved, for undo and redo after a
restart. A new operation discards the redo stack, as editors do. Run on the database thread.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from peewee import TextField

from lora_manager_gui.db.fields import JSONField, UTCDateTimeField, utc_now
from lora_manager_gui.db.models import BaseModel, database_proxy


class EntryState(StrEnum):
    DONE = "done"  # on the undo stack
    UNDONE = "undone"  # on the redo stack
    DISCARDED = "discarded"  # undone, then another operation ran: no longer redoable


class LoggedMoveKind(StrEnum):
    MOVE = "move"  # a file moved or renamed inside the library
    TRASH = "trash"  # a file sent to the trash (dst: where it went; '' when not known)


@dataclass(frozen=True, slots=True)
class LoggedMove:
    src: str
    dst: str
    kind: LoggedMoveKind = LoggedMoveKind.MOVE
    is_model: bool = True

    def to_json(self) -> list[object]:
        return [self.src, self.dst, self.kind.value, self.is_model]

    @classmethod
    def from_json(cls, raw: Sequence[object]) -> LoggedMove:
        kind = LoggedMoveKind(str(raw[2])) if len(raw) > 2 else LoggedMoveKind.MOVE
        return cls(str(raw[0]), str(raw[1]), kind, bool(raw[3]) if len(raw) > 3 else True)


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: int
    kind: str
    state: EntryState
    description: str
    moves: tuple[LoggedMove, ...]
    created_at: datetime | None

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "kind": self.kind, "state": self.state.value, "description": self.description,
                "files": len(self.moves), "created_at": self.created_at.isoformat() if self.created_at else None}


class OperationLogRow(BaseModel):
    kind = TextField()
    state = TextField()
    description = TextField(default="")
    moves = JSONField(default=list)
    created_at = UTCDateTimeField(default=utc_now)
    changed_at = UTCDateTimeField(default=utc_now)

    class Meta:
        table_name = "operation_log"


def _entry(row: OperationLogRow) -> LogEntry:
    return LogEntry(row.id, row.kind, EntryState(row.state), row.description,
                    tuple(LoggedMove.from_json(m) for m in row.moves or ()), row.created_at)


def record(kind: str, description: str, moves: Sequence[LoggedMove]) -> LogEntry:
    """A new done operation; the redo stack is discarded. Call inside the transaction that stores
    the operation's row changes, so that both land or neither does."""
    with database_proxy.atomic():
        now = utc_now()
        (OperationLogRow.update(state=EntryState.DISCARDED.value, changed_at=now)
         .where(OperationLogRow.state == EntryState.UNDONE.value).execute())
        row = OperationLogRow.create(kind=kind, state=EntryState.DONE.value, description=description,
                                     moves=[m.to_json() for m in moves], created_at=now, changed_at=now)
    return _entry(row)


def set_state(entry_id: int, state: EntryState) -> None:
    OperationLogRow.update(state=state.value, changed_at=utc_now()).where(OperationLogRow.id == entry_id).execute()


def last_done() -> LogEntry | None:
    row = (OperationLogRow.select().where(OperationLogRow.state == EntryState.DONE.value)
           .order_by(OperationLogRow.id.desc()).first())
    return None if row is None else _entry(row)


def last_undone() -> LogEntry | None:
    """The next to redo: the earliest-undone of the redo stack is the latest entry undone last."""
    row = (OperationLogRow.select().where(OperationLogRow.state == EntryState.UNDONE.value)
           .order_by(OperationLogRow.id.asc()).first())
    return None if row is None else _entry(row)


def entries(limit: int = 50) -> list[LogEntry]:
    query = OperationLogRow.select().order_by(OperationLogRow.id.desc()).limit(limit)
    return [_entry(r) for r in query]


def get(entry_id: int) -> LogEntry | None:
    row = OperationLogRow.get_or_none(OperationLogRow.id == entry_id)
    return None if row is None else _entry(row)
