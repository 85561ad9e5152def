"""Duplicates settled once an import run's groups are stored: which of several files claiming one
(name, version) keeps the row must not depend on the order the run's chunks were stored in.

Parallel chunks finish in any order and a new root's groups are stored in walk order, so the
first claim of a run is not always the same file. For a row the run inserted, the claim of the
first path in sort order is kept: the row is rewritten with exactly that file's values (as a clean
import in sort order would have written it), its group becomes the imported one, the others
duplicates, and every claiming file stays linked to the row.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from lora_manager_gui.core.records import STATUS_DUPLICATE, STATUS_IMPORTED, DuplicateClaim, coverage_mask
from lora_manager_gui.db.adapters import ADAPTER_COLUMNS, to_record
from lora_manager_gui.db.import_store import StoreItem
from lora_manager_gui.db.models import Adapter


@dataclass
class SettledDuplicates:
    """What settle_duplicates changed in the report: the duplicate claims of the settled keys (in
    place of those reported while storing) and the coverage masks to take back and to count."""

    keys: set[tuple[str, str]] = field(default_factory=set)
    duplicates: list[DuplicateClaim] = field(default_factory=list)
    unfilled: list[int] = field(default_factory=list)
    filled: list[int] = field(default_factory=list)


def settle_duplicates(contested: list[StoreItem], first_new_id: int) -> SettledDuplicates:
    """For each (name, version) several files of this run claimed, on a row this run inserted
    (id > `first_new_id`): keep the claim of the first path in sort order, whichever chunk was
    stored first. The row then holds exactly the kept file's values, as a clean import in sort
    order would have written it; every claiming file is linked to it. Rows that existed before
    the run keep their first claim (the stored file, or the first to take over a moved one)."""
    out = SettledDuplicates()
    if not contested:
        return out
    db = Adapter._meta.database
    by_key: dict[tuple[str, str], list[StoreItem]] = {}
    for item in contested:
        by_key.setdefault((item.name, item.version), []).append(item)  # type: ignore[arg-type]
    sets = ", ".join(f'"{c}" = ?' for c in ADAPTER_COLUMNS)
    with db.atomic():
        for key, later in by_key.items():
            row = Adapter.get_or_none((Adapter.name == key[0]) & (Adapter.version == key[1]))
            if row is None or row.id <= first_new_id:
                continue
            first_path = row.file_path or ""
            first_source = db.execute_sql(
                "SELECT key FROM import_source WHERE adapter_id = ? AND status = ? ORDER BY key LIMIT 1",
                (row.id, STATUS_IMPORTED),
            ).fetchone()
            claimers = sorted(later, key=lambda i: i.model_path or i.file_path or "")
            winner = claimers[0]
            winner_path = winner.model_path or winner.file_path or ""
            out.keys.add(key)
            if winner_path < first_path:
                db.execute_sql(f'UPDATE "adapter" SET {sets} WHERE id = ?', [*winner.adapter_row, row.id])  # type: ignore[misc]
                db.execute_sql("UPDATE import_source SET status = ?, adapter_id = ? WHERE key = ?",
                               (STATUS_IMPORTED, row.id, winner.key))
                if first_source is not None:
                    db.execute_sql("UPDATE import_source SET status = ? WHERE key = ?", (STATUS_DUPLICATE, first_source[0]))
                out.unfilled.append(coverage_mask(to_record(row)))
                out.filled.append(winner.filled)
                kept_path = winner_path
                losers = [(first_path, row.json_file_path)] + [
                    (i.model_path or i.file_path or "", i.json_file_path) for i in claimers[1:]]
            else:
                kept_path = first_path
                losers = [(i.model_path or i.file_path or "", i.json_file_path) for i in claimers]
            out.duplicates.extend(DuplicateClaim(key[0], key[1], kept_path, path, sidecar) for path, sidecar in losers)
    return out
