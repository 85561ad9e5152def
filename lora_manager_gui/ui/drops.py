"""What a drop on the window means: stacks to inspect, folders to import, or something unusable."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QMimeData

STACK_SUFFIXES = (".json", ".png")


@dataclass
class DropPlan:
    stacks: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (what, why)

    @property
    def usable(self) -> bool:
        return bool(self.stacks or self.folders)

    def rejection_text(self) -> str:
        lines = [f"• {what}: {why}" for what, why in self.rejected[:10]]
        if len(self.rejected) > 10:
            lines.append(f"• … and {len(self.rejected) - 10:,} more")
        return ("Some of what was dropped cannot be used:\n" + "\n".join(lines) +
                "\n\nDrop a workflow, prompt or stack JSON or a PNG to inspect its LoRAs, or a folder to import it.")


def plan_for_paths(paths: list[Path]) -> DropPlan:
    plan = DropPlan()
    for path in paths:
        if path.is_dir():
            plan.folders.append(path)
        elif not path.exists():
            plan.rejected.append((path.name or str(path), "it does not exist (a broken link or a virtual file?)"))
        elif path.suffix.lower() in STACK_SUFFIXES:
            plan.stacks.append(path)
        else:
            plan.rejected.append((path.name, f"{path.suffix or 'a file without extension'} is neither a "
                                  "workflow/stack JSON, a PNG, nor a folder"))
    return plan


def split_mime(mime: QMimeData) -> tuple[list[Path], list[tuple[str, str]]]:
    """Local paths of a drop, and what cannot be used at all (web links, bare text). No disk access."""
    if not mime.hasUrls():
        text = mime.text().strip() if mime.hasText() else ""
        return [], [("dropped " + ("text" if text else "data"), "only files and folders can be dropped")]
    paths: list[Path] = []
    rejected: list[tuple[str, str]] = []
    for url in mime.urls():
        if url.isLocalFile():
            paths.append(Path(url.toLocalFile()))
        else:
            rejected.append((url.toString(), "only local files can be dropped, not web links"))
    return paths, rejected
