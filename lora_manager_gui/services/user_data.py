"""Editing the user's data on adapters: stored in the library (db/user_data.py), then written into
the sidecars other tools read (services/user_data_sidecars.py). The database is the truth: a
sidecar that cannot be written is a problem on that file, the edit itself stays.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from lora_manager_gui.core.tasks import Changes, ItemProblem, ProblemKind, TaskOutcome
from lora_manager_gui.db import user_data as store
from lora_manager_gui.db.user_data import UserData, UserDataEdit, UserDataError
from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
from lora_manager_gui.services.user_data_sidecars import AdapterFacts, SidecarFormats, write_sidecars


@dataclass
class EditReport:
    edited: list[UserData] = field(default_factory=list)
    unchanged: int = 0
    sidecars_written: list[str] = field(default_factory=list)
    problems: list[ItemProblem] = field(default_factory=list)

    def outcome(self, *, cancelled: bool = False) -> TaskOutcome:
        return TaskOutcome.decide(done=len(self.edited) + self.unchanged, problems=len(self.problems),
                                  was_cancelled=cancelled, changes=Changes(adapters=bool(self.edited)))

    def to_json(self) -> dict[str, object]:
        return {"edited": [dict(adapter_id=d.adapter_id, **d.to_json()) for d in self.edited],
                "unchanged": self.unchanged, "sidecars_written": self.sidecars_written,
                "problems": [p.to_json() for p in self.problems], "outcome": self.outcome().status.value}


def _facts(key: store.AdapterKey) -> AdapterFacts | None:
    if not key.file_path:
        return None
    return AdapterFacts(key.file_path, key.name, key.tags, key.sha256, key.base_model)


async def write_user_sidecars(db: DatabaseExecutor, pool: WorkPool, adapter_ids: Sequence[int],
                              formats: SidecarFormats, report: EditReport) -> None:
    keys = await db.call(store.adapter_keys, list(adapter_ids))
    datas = await db.call(store.get_many, list(adapter_ids))
    for key in keys:
        facts = _facts(key)
        if facts is None:
            report.problems.append(ItemProblem(f"adapter {key.adapter_id}", ProblemKind.MISSING_MODEL_FILE,
                                               "no sidecar written: no model file is known"))
            continue
        data = datas.get(key.adapter_id, UserData(key.adapter_id))
        written, problems = await pool.call(write_sidecars, facts, data, formats)
        report.sidecars_written += written
        report.problems += problems


async def edit(db: DatabaseExecutor, pool: WorkPool, adapter_ids: Sequence[int], change: UserDataEdit, *,
               formats: SidecarFormats | None = None) -> EditReport:
    """Apply `change` to each adapter (a bad value fails that adapter only), then the sidecars."""
    report = EditReport()
    changed: list[int] = []
    for adapter_id in adapter_ids:
        try:
            before, after = await db.call(store.edit, adapter_id, change)
        except UserDataError as exc:
            report.problems.append(ItemProblem(f"adapter {adapter_id}", ProblemKind.INVALID_METADATA, str(exc)))
            continue
        if after == before:
            report.unchanged += 1
        else:
            report.edited.append(after)
            changed.append(adapter_id)
    formats = SidecarFormats.existing() if formats is None else formats
    if changed:
        await write_user_sidecars(db, pool, changed, formats, report)
    return report
