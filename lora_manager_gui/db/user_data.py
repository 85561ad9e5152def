"""The user's own data on adapters (rating, favourite, notes, tags, weight, trigger words, exclude)
and collections (m0007). Only the user's edits and a restore write here; an import or a CivitAI
refresh never does. Run these functions on the database thread.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from peewee import BooleanField, CompositeKey, FloatField, ForeignKeyField, IntegerField, TextField

from lora_manager_gui.db.fields import JSONField, UTCDateTimeField, utc_now
from lora_manager_gui.db.models import Adapter, BaseModel, database_proxy

MAX_RATING = 5


class UserDataRow(BaseModel):
    adapter = ForeignKeyField(Adapter, primary_key=True, on_delete="CASCADE", column_name="adapter_id")
    rating = IntegerField(null=True)
    favorite = BooleanField(default=False)
    notes = TextField(null=True)
    tags = JSONField(default=list)
    preferred_weight = FloatField(null=True)
    trigger_words = JSONField(default=list)
    exclude = BooleanField(default=False)
    updated_at = UTCDateTimeField(default=utc_now)

    class Meta:
        table_name = "user_data"


class CollectionRow(BaseModel):
    name = TextField(unique=True)
    created_at = UTCDateTimeField(default=utc_now)

    class Meta:
        table_name = "collection"


class CollectionMemberRow(BaseModel):
    collection = ForeignKeyField(CollectionRow, on_delete="CASCADE", column_name="collection_id")
    adapter = ForeignKeyField(Adapter, on_delete="CASCADE", column_name="adapter_id")
    added_at = UTCDateTimeField(default=utc_now)

    class Meta:
        table_name = "collection_member"
        primary_key = CompositeKey("collection", "adapter")


USER_DATA_MODELS = (UserDataRow, CollectionRow, CollectionMemberRow)


class UserDataError(ValueError):
    """A value the user gave that cannot be stored (a rating of 7, an unknown adapter)."""


@dataclass(frozen=True, slots=True)
class UserData:
    """What the user said about one adapter. `tags` and `trigger_words` are the user's own."""

    adapter_id: int
    rating: int | None = None
    favorite: bool = False
    notes: str | None = None
    tags: tuple[str, ...] = ()
    preferred_weight: float | None = None
    trigger_words: tuple[str, ...] = ()
    exclude: bool = False

    @property
    def is_empty(self) -> bool:
        return self == UserData(self.adapter_id)

    def to_json(self) -> dict[str, object]:
        return {
            "rating": self.rating, "favorite": self.favorite, "notes": self.notes, "tags": list(self.tags),
            "preferred_weight": self.preferred_weight, "trigger_words": list(self.trigger_words),
            "exclude": self.exclude,
        }


@dataclass(frozen=True, slots=True)
class UserDataEdit:
    """A change to some fields; `None` in a field means "leave it" (use `clear_*` to empty one)."""

    rating: int | None = None
    clear_rating: bool = False
    favorite: bool | None = None
    notes: str | None = None
    tags: tuple[str, ...] | None = None
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()
    preferred_weight: float | None = None
    clear_weight: bool = False
    trigger_words: tuple[str, ...] | None = None
    exclude: bool | None = None

    def apply(self, data: UserData) -> UserData:
        out = data
        if self.clear_rating:
            out = replace(out, rating=None)
        if self.rating is not None:
            out = replace(out, rating=check_rating(self.rating))
        if self.favorite is not None:
            out = replace(out, favorite=self.favorite)
        if self.notes is not None:
            out = replace(out, notes=self.notes or None)
        tags = list(out.tags if self.tags is None else clean_words(self.tags))
        tags += [t for t in clean_words(self.add_tags) if t not in tags]
        removed = {t.casefold() for t in self.remove_tags}
        out = replace(out, tags=tuple(t for t in tags if t.casefold() not in removed))
        if self.clear_weight:
            out = replace(out, preferred_weight=None)
        if self.preferred_weight is not None:
            out = replace(out, preferred_weight=check_weight(self.preferred_weight))
        if self.trigger_words is not None:
            out = replace(out, trigger_words=clean_words(self.trigger_words))
        if self.exclude is not None:
            out = replace(out, exclude=self.exclude)
        return out


def check_rating(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RATING:
        raise UserDataError(f"a rating is a whole number from 0 to {MAX_RATING}, not {value!r}")
    return value


def check_weight(value: float) -> float:
    weight = float(value)
    if weight != weight or not -10.0 <= weight <= 10.0:
        raise UserDataError(f"a preferred weight is between -10 and 10, not {value!r}")
    return weight


def clean_words(words: Iterable[str]) -> tuple[str, ...]:
    """Stripped, non-empty, first occurrence kept (case-insensitively)."""
    out: dict[str, str] = {}
    for word in words:
        text = str(word).strip()
        if text and text.casefold() not in out:
            out[text.casefold()] = text
    return tuple(out.values())


def _data(row: UserDataRow) -> UserData:
    return UserData(
        adapter_id=row.adapter_id, rating=row.rating, favorite=bool(row.favorite), notes=row.notes,
        tags=tuple(row.tags or ()), preferred_weight=row.preferred_weight,
        trigger_words=tuple(row.trigger_words or ()), exclude=bool(row.exclude),
    )


def get(adapter_id: int) -> UserData:
    row = UserDataRow.get_or_none(UserDataRow.adapter == adapter_id)
    return UserData(adapter_id) if row is None else _data(row)


def get_many(adapter_ids: Iterable[int]) -> dict[int, UserData]:
    ids = list(adapter_ids)
    out: dict[int, UserData] = {}
    for start in range(0, len(ids), 400):
        for row in UserDataRow.select().where(UserDataRow.adapter.in_(ids[start:start + 400])):
            out[row.adapter_id] = _data(row)
    return out


def all_user_data() -> list[UserData]:
    return [_data(r) for r in UserDataRow.select().order_by(UserDataRow.adapter)]


def put(data: UserData) -> None:
    """Store `data` whole (an empty record removes the row)."""
    if Adapter.get_or_none(Adapter.id == data.adapter_id) is None:
        raise UserDataError(f"no adapter with id {data.adapter_id}")
    with database_proxy.atomic():
        if data.is_empty:
            UserDataRow.delete().where(UserDataRow.adapter == data.adapter_id).execute()
            return
        values = dict(
            rating=data.rating, favorite=data.favorite, notes=data.notes, tags=list(data.tags),
            preferred_weight=data.preferred_weight, trigger_words=list(data.trigger_words),
            exclude=data.exclude, updated_at=utc_now(),
        )
        (UserDataRow.insert(adapter=data.adapter_id, **values)
         .on_conflict(conflict_target=[UserDataRow.adapter], update=values).execute())


def edit(adapter_id: int, change: UserDataEdit) -> tuple[UserData, UserData]:
    """(before, after) of applying `change`, stored in one transaction."""
    with database_proxy.atomic():
        before = get(adapter_id)
        after = change.apply(before)
        if after != before:
            put(after)
    return before, after


# --- collections ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Collection:
    id: int
    name: str
    adapter_ids: tuple[int, ...] = field(default=())


def _collection_row(name: str) -> CollectionRow | None:
    return CollectionRow.get_or_none(CollectionRow.name == name.strip())


def create_collection(name: str) -> Collection:
    text = name.strip()
    if not text:
        raise UserDataError("a collection needs a name")
    row = _collection_row(text)
    if row is None:
        row = CollectionRow.create(name=text)
    return collection(row.name)  # type: ignore[return-value]


def collection(name: str) -> Collection | None:
    row = _collection_row(name)
    if row is None:
        return None
    members = (CollectionMemberRow.select(CollectionMemberRow.adapter)
               .where(CollectionMemberRow.collection == row.id).order_by(CollectionMemberRow.adapter))
    return Collection(row.id, row.name, tuple(m.adapter_id for m in members))


def collections() -> list[Collection]:
    members: dict[int, list[int]] = {}
    for m in CollectionMemberRow.select().order_by(CollectionMemberRow.adapter):
        members.setdefault(m.collection_id, []).append(m.adapter_id)
    return [Collection(r.id, r.name, tuple(members.get(r.id, ())))
            for r in CollectionRow.select().order_by(CollectionRow.name)]


def collections_of(adapter_id: int) -> list[str]:
    query = (CollectionRow.select(CollectionRow.name).join(CollectionMemberRow)
             .where(CollectionMemberRow.adapter == adapter_id).order_by(CollectionRow.name))
    return [r.name for r in query]


def add_to_collection(name: str, adapter_ids: Iterable[int]) -> int:
    """Adds (creating the collection when needed); returns how many were not members before."""
    with database_proxy.atomic():
        coll = create_collection(name)
        ids = [i for i in dict.fromkeys(adapter_ids) if i not in coll.adapter_ids]
        known = {a.id for a in Adapter.select(Adapter.id).where(Adapter.id.in_(ids))} if ids else set()
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise UserDataError(f"no adapter with id {unknown[0]}")
        now = utc_now()
        for i in ids:
            CollectionMemberRow.insert(collection=coll.id, adapter=i, added_at=now).execute()
    return len(ids)


def remove_from_collection(name: str, adapter_ids: Iterable[int]) -> int:
    row = _collection_row(name)
    if row is None:
        return 0
    return (CollectionMemberRow.delete()
            .where(CollectionMemberRow.collection == row.id, CollectionMemberRow.adapter.in_(list(adapter_ids)))
            .execute())


def delete_collection(name: str) -> bool:
    row = _collection_row(name)
    if row is None:
        return False
    with database_proxy.atomic():
        CollectionMemberRow.delete().where(CollectionMemberRow.collection == row.id).execute()
        row.delete_instance()
    return True


# --- what the services need about adapters -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdapterKey:
    """How a backup finds an adapter again: SHA-256 when known, else the path relative to its root."""

    adapter_id: int
    name: str
    version: str
    file_path: str | None
    tags: tuple[str, ...]
    base_model: str | None
    sha256: str | None
    rel_path: str | None


_KEY_SQL = (
    "SELECT a.id, a.name, a.version, a.file_path, a.tags, COALESCE(NULLIF(a.base_model, ''), a.sd_version), "
    "COALESCE(h.sha256, a.primary_file_sha256), "
    "(SELECT f.rel_path FROM library_file f WHERE f.adapter_id = a.id ORDER BY f.missing, f.id LIMIT 1) "
    "FROM adapter a LEFT JOIN hash_cache h ON h.path = a.file_path"
)


def _key(row: tuple[object, ...]) -> AdapterKey:
    import json

    try:
        tags = tuple(str(t) for t in json.loads(row[4] or "[]"))  # type: ignore[arg-type]
    except ValueError:
        tags = ()
    sha = str(row[6]).upper() if row[6] else None
    return AdapterKey(int(row[0]), str(row[1]), str(row[2] or ""), row[3], tags, row[5], sha, row[7])  # type: ignore[arg-type]


def adapter_key(adapter_id: int) -> AdapterKey | None:
    row = database_proxy.execute_sql(_KEY_SQL + " WHERE a.id = ?", (adapter_id,)).fetchone()
    return None if row is None else _key(row)


def adapter_keys(adapter_ids: Iterable[int] | None = None) -> list[AdapterKey]:
    if adapter_ids is None:
        return [_key(r) for r in database_proxy.execute_sql(_KEY_SQL + " ORDER BY a.id").fetchall()]
    out = []
    ids = list(adapter_ids)
    for start in range(0, len(ids), 400):
        batch = ids[start:start + 400]
        marks = ",".join("?" * len(batch))
        out += [_key(r) for r in database_proxy.execute_sql(_KEY_SQL + f" WHERE a.id IN ({marks})", batch).fetchall()]
    return out


def resolve_adapter(ref: str) -> int | None:
    """An adapter id from what a person types: an id, a model file path, or a name."""
    text = ref.strip()
    if text.isdigit():
        row = database_proxy.execute_sql("SELECT id FROM adapter WHERE id = ?", (int(text),)).fetchone()
        if row:
            return int(row[0])
    import os

    path = os.path.abspath(text)
    for sql in ("SELECT id FROM adapter WHERE file_path = ?", "SELECT adapter_id FROM library_file WHERE path = ? AND adapter_id IS NOT NULL"):
        row = database_proxy.execute_sql(sql, (path,)).fetchone()
        if row:
            return int(row[0])
    rows = database_proxy.execute_sql("SELECT id FROM adapter WHERE name = ? COLLATE NOCASE", (text,)).fetchall()
    return int(rows[0][0]) if len(rows) == 1 else None


def find_for_restore(sha256: str | None, rel_path: str | None, name: str | None, version: str | None) -> int | None:
    """The adapter a backup entry names: by SHA-256, else relative path, else name and version."""
    if sha256:
        sha = sha256.upper()
        for sql in ("SELECT a.id FROM hash_cache h JOIN adapter a ON a.file_path = h.path WHERE h.sha256 = ?",
                    "SELECT f.adapter_id FROM hash_cache h JOIN library_file f ON f.path = h.path "
                    "WHERE h.sha256 = ? AND f.adapter_id IS NOT NULL",
                    "SELECT id FROM adapter WHERE upper(primary_file_sha256) = ?"):
            row = database_proxy.execute_sql(sql + " LIMIT 1", (sha,)).fetchone()
            if row:
                return int(row[0])
    if rel_path:
        row = database_proxy.execute_sql(
            "SELECT adapter_id FROM library_file WHERE rel_path_lower = ? AND adapter_id IS NOT NULL LIMIT 1",
            (rel_path.lower(),)).fetchone()
        if row:
            return int(row[0])
    if name is not None:
        row = database_proxy.execute_sql("SELECT id FROM adapter WHERE name = ? AND version = ?",
                                         (name, version or "")).fetchone()
        if row:
            return int(row[0])
    return None
