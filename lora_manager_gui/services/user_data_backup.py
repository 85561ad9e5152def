"""Backup and restore of all user data (ratings, favourites, notes, tags, weights, trigger words,
exclude, collections) as one JSON file. No secrets: nothing of the settings goes in.

Each adapter is keyed so that a restore into a re-imported library finds it: the SHA-256 of its
model file when known, else its path relative to the library root, else name and version.
Collections name their members by the same keys. Restored values replace the stored ones for the
adapters the backup names; unmatched entries are reported, never guessed.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lora_manager_gui.core.tasks import Changes, ItemProblem, ProblemKind, TaskOutcome
from lora_manager_gui.db import user_data as store
from lora_manager_gui.db.user_data import UserData, UserDataError, check_rating, check_weight, clean_words
from lora_manager_gui.services.executors import DatabaseExecutor, WorkPool
from lora_manager_gui.services.file_ops_fs import atomic_write

FORMAT_NAME = "lora-manager-user-data"
FORMAT_VERSION = 1


def _key_json(key: store.AdapterKey) -> dict[str, Any]:
    return {"sha256": key.sha256, "rel_path": key.rel_path, "name": key.name, "version": key.version}


def build_backup() -> dict[str, Any]:
    """The backup document (on the database thread)."""
    datas = store.all_user_data()
    colls = store.collections()
    ids = {d.adapter_id for d in datas} | {i for c in colls for i in c.adapter_ids}
    keys = {k.adapter_id: k for k in store.adapter_keys(sorted(ids))}
    adapters = [dict(key=_key_json(keys[d.adapter_id]), **d.to_json()) for d in datas if d.adapter_id in keys]
    collections = [{"name": c.name, "members": [_key_json(keys[i]) for i in c.adapter_ids if i in keys]} for c in colls]
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION,
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "adapters": adapters, "collections": collections}


@dataclass
class BackupReport:
    path: str
    adapters: int = 0
    collections: int = 0
    problems: list[ItemProblem] = field(default_factory=list)

    def outcome(self, *, cancelled: bool = False) -> TaskOutcome:
        return TaskOutcome.decide(done=self.adapters, problems=len(self.problems), was_cancelled=cancelled)

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "adapters": self.adapters, "collections": self.collections,
                "problems": [p.to_json() for p in self.problems], "outcome": self.outcome().status.value}


async def backup(db: DatabaseExecutor, pool: WorkPool, out_path: str) -> BackupReport:
    doc = await db.call(build_backup)
    data = (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    await pool.call(atomic_write, os.path.abspath(out_path), data)
    return BackupReport(out_path, len(doc["adapters"]), len(doc["collections"]))


@dataclass
class RestoreReport:
    path: str
    restored: int = 0
    collections: int = 0
    members: int = 0
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    problems: list[ItemProblem] = field(default_factory=list)

    def outcome(self, *, cancelled: bool = False) -> TaskOutcome:
        return TaskOutcome.decide(done=self.restored, problems=len(self.problems), was_cancelled=cancelled,
                                  changes=Changes(adapters=bool(self.restored or self.members)))

    def to_json(self) -> dict[str, object]:
        return {"path": self.path, "restored": self.restored, "collections": self.collections,
                "members": self.members, "unmatched": self.unmatched,
                "problems": [p.to_json() for p in self.problems], "outcome": self.outcome().status.value}


def _find(key: Any) -> int | None:
    if not isinstance(key, dict):
        return None
    text = lambda k: key.get(k) if isinstance(key.get(k), str) else None  # noqa: E731
    return store.find_for_restore(text("sha256"), text("rel_path"), text("name"), text("version"))


def _user_data(adapter_id: int, entry: dict[str, Any]) -> UserData:
    rating = entry.get("rating")
    weight = entry.get("preferred_weight")
    words = lambda k: clean_words(v for v in entry.get(k) or () if isinstance(v, str))  # noqa: E731
    return UserData(
        adapter_id=adapter_id,
        rating=None if rating is None else check_rating(rating),
        favorite=bool(entry.get("favorite")),
        notes=entry.get("notes") if isinstance(entry.get("notes"), str) and entry.get("notes") else None,
        tags=words("tags"),
        preferred_weight=None if weight is None else check_weight(weight),
        trigger_words=words("trigger_words"),
        exclude=bool(entry.get("exclude")),
    )


def apply_restore(doc: Any, report: RestoreReport) -> None:
    """On the database thread, in one transaction."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise UserDataError(f"{report.path} is not a LoRA Manager user data backup")
    if not isinstance(doc.get("version"), int) or doc["version"] > FORMAT_VERSION:
        raise UserDataError(f"{report.path} has backup version {doc.get('version')!r}; this app reads up to {FORMAT_VERSION}")
    with store.database_proxy.atomic():
        for entry in doc.get("adapters") or ():
            if not isinstance(entry, dict):
                continue
            adapter_id = _find(entry.get("key"))
            if adapter_id is None:
                report.unmatched.append(entry.get("key") if isinstance(entry.get("key"), dict) else {})
                continue
            try:
                store.put(_user_data(adapter_id, entry))
            except (UserDataError, TypeError, ValueError) as exc:
                report.problems.append(ItemProblem(str(entry.get("key")), ProblemKind.INVALID_METADATA, str(exc)))
                continue
            report.restored += 1
        for coll in doc.get("collections") or ():
            if not isinstance(coll, dict) or not isinstance(coll.get("name"), str):
                continue
            ids = []
            for member in coll.get("members") or ():
                found = _find(member)
                if found is None:
                    report.unmatched.append(member if isinstance(member, dict) else {})
                else:
                    ids.append(found)
            store.create_collection(coll["name"])
            report.members += store.add_to_collection(coll["name"], ids)
            report.collections += 1


async def restore(db: DatabaseExecutor, pool: WorkPool, in_path: str) -> RestoreReport:
    report = RestoreReport(in_path)

    def load() -> Any:
        with open(in_path, "rb") as f:
            return json.loads(f.read())

    try:
        doc = await pool.call(load)
    except (OSError, ValueError) as exc:
        raise UserDataError(f"cannot read the backup {in_path}: {exc}") from exc
    await db.call(apply_restore, doc, report)
    for key in report.unmatched:
        report.problems.append(ItemProblem(str(key.get("rel_path") or key.get("sha256") or key.get("name")),
                                           ProblemKind.NOT_FOUND, "no adapter in this library matches this backup entry"))
    return report
