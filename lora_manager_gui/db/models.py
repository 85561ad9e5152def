"""peewee models of the current schema. The history of the schema lives in db/migrations."""
from __future__ import annotations

from peewee import (
    BooleanField,
    DatabaseProxy,
    FloatField,
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

    class Meta:
        table_name = "adapter"
        indexes = ((("name", "version"), True),)


ALL_MODELS: tuple[type[BaseModel], ...] = (Adapter,)
