"""What the shared library holds, for the LoRACacheDiagnostics node (and `comfyui status`)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lora_manager_gui.comfyui.runtime import NodeRuntime, node_settings
from lora_manager_gui.core.sizes import human_size
from lora_manager_gui.db import civitai_store, hash_cache


@dataclass(frozen=True)
class CacheDiagnostics:
    library: Path
    entries: int
    stale_entries: int
    bytes_covered: int
    with_autov3: int
    civitai_answers: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"library": str(self.library), "entries": self.entries, "stale_entries": self.stale_entries,
                "bytes_covered": self.bytes_covered, "with_autov3": self.with_autov3,
                "civitai_answers": dict(self.civitai_answers)}

    def text(self) -> str:
        answers = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in self.civitai_answers.items())
        return "\n".join([
            f"Library: {self.library}",
            f"Hash cache: {self.entries:,} entries, {self.stale_entries:,} stale, "
            f"{human_size(self.bytes_covered)} covered, {self.with_autov3:,} with AutoV3",
            f"CivitAI answers: {answers or 'none'}",
        ])


def _read_blocking() -> tuple[hash_cache.HashCacheStats, dict[str, int]]:
    return hash_cache.stats(check_files=True), civitai_store.counts()


async def diagnose(runtime: NodeRuntime, db_path: Path) -> CacheDiagnostics:
    """Run on the runtime loop: the hash cache (each file stat'ed for staleness) and the answers."""
    library = await runtime.library(db_path, node_settings(None))
    stats, answers = await library.db.call(_read_blocking)
    return CacheDiagnostics(db_path, stats.entries, stats.stale_entries, stats.bytes_covered,
                            stats.with_autov3, answers)
