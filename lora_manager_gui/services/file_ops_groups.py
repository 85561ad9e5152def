"""Which files belong to a model file: its sidecars and previews, by the importer's rules.

A companion of `<stem>.safetensors` is a file of the same folder named `<stem><suffix>`, with the
stem compared case-insensitively as discovery groups sidecars (core/discovery.py), and the suffix
one of the sidecar registry's (core/sidecars: `.metadata.json`, `.civitai.info`, `.json`, ...),
the preview lookup order (services/previews.py), the video previews Lora Manager knows, and the
text files A1111 and sd-civitai-browser-plus keep (`.txt`, `.description.txt`, `.html`).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from lora_manager_gui.core.safetensors import MODEL_EXTENSIONS
from lora_manager_gui.core.sidecars import SIDECAR_SUFFIXES
from lora_manager_gui.services.previews import PREVIEW_SUFFIXES

EXTRA_SUFFIXES = (".preview.mp4", ".mp4", ".preview.webm", ".webm", ".txt", ".description.txt", ".html")
COMPANION_SUFFIXES: frozenset[str] = frozenset(
    [s for s, _ in SIDECAR_SUFFIXES] + list(PREVIEW_SUFFIXES) + list(EXTRA_SUFFIXES)
)


@dataclass(frozen=True, slots=True)
class FileGroup:
    """A model file and the names of its companions in the same folder."""

    model: str  # absolute path
    companions: tuple[str, ...]  # file names (not paths), sorted
    shared_with: tuple[str, ...] = ()  # other model files of the same stem: the companions are theirs too

    @property
    def folder(self) -> str:
        return os.path.dirname(self.model)

    @property
    def stem(self) -> str:
        return os.path.splitext(os.path.basename(self.model))[0]

    def companion_paths(self) -> list[str]:
        return [os.path.join(self.folder, n) for n in self.companions]


def is_model_name(name: str) -> bool:
    return name.lower().endswith(MODEL_EXTENSIONS)


def companion_suffix(name: str, stem: str) -> str | None:
    """The suffix of `name` when it is a companion of a model file with this stem, else None."""
    if len(name) <= len(stem) or name[: len(stem)].casefold() != stem.casefold():
        return None
    suffix = name[len(stem):]
    return suffix if suffix.lower() in COMPANION_SUFFIXES else None


def group_of(model: str, names: Iterable[str]) -> FileGroup:
    """The group of `model` among the file names of its folder."""
    base = os.path.basename(model)
    stem = os.path.splitext(base)[0]
    companions: list[str] = []
    shared: list[str] = []
    for name in names:
        if name == base:
            continue
        if is_model_name(name) and os.path.splitext(name)[0].casefold() == stem.casefold():
            shared.append(os.path.join(os.path.dirname(model), name))
        elif companion_suffix(name, stem) is not None:
            companions.append(name)
    return FileGroup(model, tuple(sorted(companions)), tuple(sorted(shared)))


class FolderListing:
    """os.listdir per folder, once per operation (an organize of 10,000 files lists each folder once)."""

    def __init__(self) -> None:
        self._names: dict[str, list[str]] = {}

    def names(self, folder: str) -> list[str]:
        names = self._names.get(folder)
        if names is None:
            try:
                names = [e.name for e in os.scandir(folder) if not e.is_dir(follow_symlinks=False)]
            except OSError:
                names = []
            self._names[folder] = names
        return names

    def group(self, model: str) -> FileGroup:
        return group_of(model, self.names(os.path.dirname(model)))
