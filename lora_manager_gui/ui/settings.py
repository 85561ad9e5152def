"""User settings in QSettings, passed to services as plain values; the settings dialog.

The CivitAI API key lives here (QSettings, per user), never in the library database or the log;
the dialog masks it. A field an environment variable overrides (CIVITAI_BASE_URL, CIVITAI_API_KEY)
is shown disabled with a note saying so, and saving keeps the stored value under it untouched.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QComboBox,
    QVBoxLayout,
    QWidget,
)

from lora_manager_gui.core import config
from lora_manager_gui.services.library import EnvironmentOverride, EnvironmentOverrides
from lora_manager_gui.ui.theme import THEME_LABELS, ThemeChoice

NSFW_LEVELS: tuple[tuple[str, int], ...] = (
    ("PG (1)", 1), ("PG-13 (2)", 2), ("R (4)", 4), ("X (8)", 8), ("XXX (16)", 16), ("Everything", 31),
)


@dataclass
class AppSettings:
    library_roots: list[str] = field(default_factory=list)
    api_key: str = ""
    base_url: str = config.DEFAULT_CIVITAI_BASE_URL
    preview_nsfw_level: int = 1
    hash_workers: int = 0  # 0 = automatic
    theme: ThemeChoice = ThemeChoice.SYSTEM

    def __repr__(self) -> str:  # never print the key
        return (f"AppSettings(library_roots={self.library_roots!r}, api_key={'***' if self.api_key else ''!r}, "
                f"base_url={self.base_url!r}, preview_nsfw_level={self.preview_nsfw_level}, "
                f"hash_workers={self.hash_workers}, theme={self.theme.value!r})")


def _as_list(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]  # type: ignore[union-attr]


def _as_int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def load_settings(store: QSettings) -> AppSettings:
    return AppSettings(
        library_roots=_as_list(store.value("library/roots", [])),
        api_key=str(store.value("civitai/api_key", "") or ""),
        base_url=str(store.value("civitai/base_url", config.DEFAULT_CIVITAI_BASE_URL) or config.DEFAULT_CIVITAI_BASE_URL),
        preview_nsfw_level=_as_int(store.value("previews/nsfw_level", 1), 1),
        hash_workers=_as_int(store.value("hashing/workers", 0), 0),
        theme=ThemeChoice.parse(store.value("appearance/theme", ThemeChoice.SYSTEM.value)),
    )


def save_settings(store: QSettings, settings: AppSettings) -> None:
    store.setValue("library/roots", list(settings.library_roots))
    store.setValue("civitai/api_key", settings.api_key)
    store.setValue("civitai/base_url", settings.base_url)
    store.setValue("previews/nsfw_level", settings.preview_nsfw_level)
    store.setValue("hashing/workers", settings.hash_workers)
    store.setValue("appearance/theme", settings.theme.value)
    store.sync()


def _with_note(edit: QWidget, override: EnvironmentOverride | None) -> tuple[QVBoxLayout, QLabel]:
    """The field, and under it the note saying which environment variable sets it (if one does)."""
    note = QLabel(override.note if override else "")
    note.setObjectName("override_note")
    note.setStyleSheet("color: palette(placeholder-text);")
    note.setVisible(override is not None)
    edit.setEnabled(override is None)
    if override is not None:
        edit.setToolTip(f"{override.note}; unset it to use this field")
    box = QVBoxLayout()
    box.setContentsMargins(0, 0, 0, 0)
    box.addWidget(edit)
    box.addWidget(note)
    return box, note


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, parent: QWidget | None = None, *,
                 overrides: EnvironmentOverrides | None = None, db_path: Path | None = None) -> None:
        super().__init__(parent)
        self._stored = settings
        self.overrides = overrides if overrides is not None else EnvironmentOverrides.current()
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.roots = QListWidget()
        self.roots.addItems(settings.library_roots)
        add = QPushButton("Add folder…")
        add.clicked.connect(self._add_root)
        remove = QPushButton("Remove")
        remove.clicked.connect(lambda: [self.roots.takeItem(self.roots.row(i)) for i in self.roots.selectedItems()])
        roots_buttons = QHBoxLayout()
        roots_buttons.addWidget(add)
        roots_buttons.addWidget(remove)
        roots_buttons.addStretch(1)
        roots_box = QVBoxLayout()
        roots_box.addWidget(self.roots)
        roots_box.addLayout(roots_buttons)

        self.api_key = QLineEdit(settings.api_key)
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("optional; needed for some models")
        self.base_url = QLineEdit(settings.base_url)
        if self.overrides.api_key is not None:  # the key itself is never put in a widget
            self.api_key.clear()
            self.api_key.setPlaceholderText(self.overrides.api_key.note)
        if self.overrides.base_url is not None:
            self.base_url.setText(self.overrides.base_url.value)
        api_key_box, self.api_key_note = _with_note(self.api_key, self.overrides.api_key)
        base_url_box, self.base_url_note = _with_note(self.base_url, self.overrides.base_url)
        self.nsfw = QComboBox()
        for label, value in NSFW_LEVELS:
            self.nsfw.addItem(label, value)
        index = max(0, self.nsfw.findData(settings.preview_nsfw_level))
        self.nsfw.setCurrentIndex(index)
        self.workers = QSpinBox()
        self.workers.setRange(0, 64)
        self.workers.setSpecialValueText("automatic")
        self.workers.setValue(settings.hash_workers)
        self.theme = QComboBox()
        for label, choice in THEME_LABELS:
            self.theme.addItem(label, choice.value)
        self.theme.setCurrentIndex(max(0, self.theme.findData(settings.theme.value)))
        self.theme.setAccessibleName("Theme")
        self.theme.setToolTip("Light or dark; \u201cFollow the system\u201d changes with the desktop's colour scheme")

        form = QFormLayout()
        form.addRow("Library folders", roots_box)
        form.addRow("CivitAI API key", api_key_box)
        form.addRow("CivitAI base URL", base_url_box)
        form.addRow("Preview NSFW level", self.nsfw)
        form.addRow("Hashing workers", self.workers)
        form.addRow("Theme", self.theme)
        if db_path is not None:
            database = self.overrides.database
            from_env = database is not None and Path(database.value).expanduser() == Path(db_path)
            self.database = QLabel(str(db_path) + (f" ({database.note})" if database and from_env else ""))
            self.database.setTextInteractionFlags(self.database.textInteractionFlags()
                                                  | Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow("Library database", self.database)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)

    def _add_root(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a LoRA folder")
        if folder:
            self.roots.addItem(folder)

    def result_settings(self) -> AppSettings:
        return AppSettings(
            library_roots=[self.roots.item(i).text() for i in range(self.roots.count())],
            # an overridden field keeps what is stored: the environment's value is not saved
            api_key=self._stored.api_key if self.overrides.api_key else self.api_key.text().strip(),
            base_url=(self._stored.base_url if self.overrides.base_url
                      else self.base_url.text().strip() or config.DEFAULT_CIVITAI_BASE_URL),
            preview_nsfw_level=int(self.nsfw.currentData()),
            hash_workers=self.workers.value(),
            theme=ThemeChoice.parse(self.theme.currentData()),
        )
