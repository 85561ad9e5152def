"""peewee models of the current schema. The history of the schema lives in db/migrations."""
from __future__ import annotations

from peewee import (
    BooleanField,
    DatabaseProxy,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from lora_manager_gui.db.fields import JSONField, UTCDateTimeField, utc_now

database_proxy = DatabaseProxy()


class BaseModel(Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class Adapter(BaseModel):
    """One LoRA adapter (a model version) as imported from the metadata beside its file."""

    name = TextField()
    version = TextField(default="")
    canonical_version_name = TextField(null=True)
    description = TextField(null=True)
    author_username = TextField(null=True)
    visibility = TextField(default="Public")
    published_at = TextField(null=True)  # ISO 8601 as the source gave it
    tags = JSONField(default=list)
    trained_words = JSONField(default=list)
    triggers = JSONField(default=list)  # derived from trained_words
    file_path = TextField(null=True)  # absolute path of the model file
    weight = FloatField(default=1.0)
    active = BooleanField(default=False)
    ordinal = IntegerField(null=True)
    archetype = TextField(null=True)
    archetype_confidence = FloatField(null=True)
    primary_file_name = TextField(null=True)
    primary_file_size_kb = FloatField(null=True)
    primary_file_sha256 = TextField(null=True)  # upper-case hex, as CivitAI lists it
    primary_file_download_url = TextField(null=True)
    primary_file_local_path = TextField(null=True)
    supports_generation = BooleanField(null=True)
    sd_version = TextField(null=True)
    nsfw_level = IntegerField(default=0)
    activation_text = TextField(null=True)
    stats = JSONField(null=True)
    extra = JSONField(default=dict)  # every unmapped top-level key of the source JSON
    json_file_path = TextField(null=True)
    json_file_mtime = IntegerField(null=True)  # st_mtime_ns of the metadata file when ingested
    json_file_size = IntegerField(null=True)
    last_ingested_at = UTCDateTimeField(null=True)
    created_at = UTCDateTimeField(default=utc_now)
    updated_at = UTCDateTimeField(default=utc_now)
    # Beyond the CivitAI JSON list: what the UI filters on and the import's bookkeeping of the model file.
    base_model = TextField(null=True)  # CivitAI baseModel, e.g. "SDXL 1.0", "Wan Video 14B i2v 480p"
    model_type = TextField(null=True)  # CivitAI model type, e.g. "LORA"
    civitai_model_id = IntegerField(null=True)
    civitai_version_id = IntegerField(null=True)
    notes = TextField(null=True)  # the user's notes from A1111 / Lora Manager sidecars
    sources = JSONField(default=list)  # sidecar formats the row was built from, in precedence order
    file_size_bytes = IntegerField(null=True)
    file_mtime_ns = IntegerField(null=True)
    file_missing = BooleanField(default=False)  # the model file was not found by the latest import
    preview_images = JSONField(default=list)  # m0005: [{url, type, nsfw_level, width, height}] from the sidecars

    class Meta:
        table_name = "adapter"
        indexes = ((("name", "version"), True),)


class LibraryFile(BaseModel):
    """A model file seen by an import; adapter NULL means an orphan (no metadata beside it)."""

    path = TextField(unique=True)
    root = TextField()
    rel_path = TextField()  # '/'-separated, relative to root
    rel_path_lower = TextField(index=True)
    stem_lower = TextField(index=True)
    folder = TextField(default="")
    size_bytes = IntegerField()
    mtime_ns = IntegerField()
    adapter = ForeignKeyField(Adapter, null=True, on_delete="SET NULL", column_name="adapter_id", backref="files")
    missing = BooleanField(default=False)
    problem = TextField(null=True)  # error class when the file itself is broken
    external = BooleanField(default=False)  # reached through a symlink pointing outside the root
    first_seen_at = UTCDateTimeField(default=utc_now)
    last_seen_at = UTCDateTimeField(default=utc_now)

    class Meta:
        table_name = "library_file"


class ImportSource(BaseModel):
    """The import's bookkeeping for one group of sidecars (`<folder>/<base name>`): change detection."""

    key = TextField(unique=True)
    root = TextField()  # indexed with folder (m0004)
    folder = TextField(default="")  # absolute folder of the group (m0004)
    signature = TextField()  # (name, size, mtime_ns) of the sidecars and of the model file
    model_path = TextField(null=True)
    adapter = ForeignKeyField(Adapter, null=True, on_delete="SET NULL", column_name="adapter_id")
    status = TextField()  # imported | failed | duplicate | not_on_civitai | not_a_sidecar
    issues = JSONField(default=list)  # [{path, class, message}] still true while the signature holds
    checked_at = UTCDateTimeField(default=utc_now)

    class Meta:
        table_name = "import_source"


class ImportFolder(BaseModel):
    """A self-contained folder an import walked: the digest of its files, for skipping it whole (m0004)."""

    path = TextField(unique=True)  # absolute
    root = TextField(index=True)
    rel_path = TextField()  # '/'-separated, relative to root ('' for the root itself)
    fingerprint = TextField()
    files = IntegerField()  # model files and sidecars, as the report counts them
    models = IntegerField()
    checked_at = UTCDateTimeField(default=utc_now)

    class Meta:
        table_name = "import_folder"


ALL_MODELS: tuple[type[BaseModel], ...] = (Adapter, LibraryFile, ImportSource, ImportFolder)


# --- issue 3: hash cache and CivitAI answers (migration m0002) ---------------------------------


class HashCacheEntry(BaseModel):
    """A file's SHA-256 (and AutoV3 once computed), valid while size and mtime_ns still match."""

    path = TextField(primary_key=True)  # absolute path, symlinks not resolved
    size_bytes = IntegerField()
    mtime_ns = IntegerField()
    sha256 = TextField()  # 64 upper-case hex
    autov3 = TextField(null=True)  # 12 upper-case hex; '' = checked, not a safetensors file; NULL = not computed
    hashed_at = UTCDateTimeField(default=utc_now)

    class Meta:
        table_name = "hash_cache"


class CivitaiLookup(BaseModel):
    """What CivitAI answered for one SHA-256: found / not_found / failed / deferred, and when."""

    sha256 = TextField(primary_key=True)  # 64 upper-case hex
    status = TextField()
    version_id = IntegerField(null=True)
    model_id = IntegerField(null=True)
    matched_by = TextField(null=True)  # 'sha256' or 'autov3'
    fetched_at = UTCDateTimeField(default=utc_now)  # when this status was learnt
    checked_at = UTCDateTimeField(default=utc_now)  # the last attempt, whatever its outcome
    error_class = TextField(null=True)  # of the last failed attempt
    error = TextField(null=True)
    attempts = IntegerField(default=0)

    class Meta:
        table_name = "civitai_lookup"


class CivitaiVersion(BaseModel):
    """A model-version object as CivitAI returned it (images[].meta.comfy stripped)."""

    version_id = IntegerField(primary_key=True)
    model_id = IntegerField(null=True)
    data = JSONField()
    fetched_at = UTCDateTimeField(default=utc_now)

    class Meta:
        table_name = "civitai_version"


class CivitaiModelRecord(BaseModel):
    """A model object (creator, tags, description, licence, versions) as CivitAI returned it."""

    model_id = IntegerField(primary_key=True)
    data = JSONField()
    fetched_at = UTCDateTimeField(default=utc_now)

    class Meta:
        table_name = "civitai_model"


ALL_MODELS = ALL_MODELS + (HashCacheEntry, CivitaiLookup, CivitaiVersion, CivitaiModelRecord)
