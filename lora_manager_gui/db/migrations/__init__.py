"""Schema history. Each migration is frozen once released: never edit one, add the next.

A migration is a function taking the open peewee database; it runs inside a transaction together
with the update of PRAGMA user_version, so a crash leaves the file at the previous version.
"""
from __future__ import annotations

from collections.abc import Callable

from peewee import Database

from lora_manager_gui.db.migrations import (
    m0001_initial,
    m0002_hash_civitai,
    m0003_browse_indexes,
    m0004_folder_fingerprints,
    m0005_preview_images,
    m0006_downloads,
    m0007_user_data,
    m0008_gallery_sort_indexes,
    m0009_offline_moves,
)

Migration = Callable[[Database], None]

# Index i holds the migration that brings the schema from version i to version i + 1.
MIGRATIONS: tuple[Migration, ...] = (
    m0001_initial.apply,
    m0002_hash_civitai.apply,
    m0003_browse_indexes.apply,
    m0004_folder_fingerprints.apply,
    m0005_preview_images.apply,
    m0006_downloads.apply,
    m0007_user_data.apply,
    m0008_gallery_sort_indexes.apply,
    m0009_offline_moves.apply,
)

LATEST_VERSION = len(MIGRATIONS)
