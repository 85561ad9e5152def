"""Version 5: `adapter.preview_images`, the preview images and videos the sidecars list.

A JSON list of {"url", "type" ("image" / "video"), "nsfw_level" (CivitAI's bitmask, null when the
source does not say), "width", "height"}, from CivitAI version `images[]` (`.civitai.info`, model
JSON, Lora Manager's `civitai`), Lora Manager's `customImages` and Stability Matrix's
`ThumbnailImageUrl`, so the previews of imported LoRAs can be fetched without asking CivitAI again.
Rows imported before keep `[]` until their folder is re-read (a new parser version re-reads all).
"""
from __future__ import annotations

from peewee import Database

STATEMENTS = ("ALTER TABLE adapter ADD COLUMN preview_images TEXT NOT NULL DEFAULT '[]'",)


def apply(db: Database) -> None:
    for statement in STATEMENTS:
        db.execute_sql(statement)
