"""The main window's menus and keys: every action in a menu, with the shortcut people expect.

Ctrl+F finds (the search box), Escape there clears it, Ctrl+, opens the settings, F5 re-scans,
Ctrl+A selects every row, Ctrl+C copies the selected adapters' prompt tags, Ctrl+1..3 the views.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from lora_manager_gui import APP_DISPLAY_NAME
from lora_manager_gui.ui.about import show_about

if TYPE_CHECKING:
    from lora_manager_gui.ui.main_window import MainWindow

Shortcut = QKeySequence.StandardKey | str


def add_action(window: MainWindow, menu: QMenu, text: str, slot: Callable[[], object],
               shortcuts: Sequence[Shortcut] = ()) -> QAction:
    """A menu entry; its shortcuts are the given ones that this platform knows, first wins."""
    action = QAction(text, window)
    keys: list[QKeySequence] = []
    for shortcut in shortcuts:
        found = QKeySequence.keyBindings(shortcut) if isinstance(shortcut, QKeySequence.StandardKey) \
            else [QKeySequence(shortcut)]
        keys.extend(k for k in found if not k.isEmpty() and k not in keys)
    if keys:
        action.setShortcuts(keys)
    action.triggered.connect(lambda *_: slot())
    menu.addAction(action)
    return action


def build_menus(window: MainWindow, views: Sequence[str]) -> dict[str, QAction]:
    actions: dict[str, QAction] = {}
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    actions["add_folder"] = add_action(window, file_menu, "Add a LoRA folder…", window.add_folder,
                                       [QKeySequence.StandardKey.Open])
    actions["rescan"] = add_action(window, file_menu, "Re-scan library folders", window.rescan,
                                   [QKeySequence.StandardKey.Refresh, "F5"])
    actions["open_db"] = add_action(window, file_menu, "Open library database…", window.choose_database)
    actions["demo"] = add_action(window, file_menu, "Open the demo library", window.open_demo_library)
    file_menu.addSeparator()
    actions["settings"] = add_action(window, file_menu, "Settings…", window.edit_settings,
                                     ["Ctrl+,", QKeySequence.StandardKey.Preferences])
    file_menu.addSeparator()
    actions["quit"] = add_action(window, file_menu, "Quit", window.close, [QKeySequence.StandardKey.Quit])

    edit = bar.addMenu("&Edit")
    actions["find"] = add_action(window, edit, "Find…", window.focus_search, [QKeySequence.StandardKey.Find])
    adapter = window.adapter_actions
    for action in (adapter.copy_tags, adapter.copy_paths, adapter.select_all, adapter.remove):
        edit.addAction(action)  # their keys act where the rows have the focus (see AdapterActions)

    tools = bar.addMenu("&Tools")
    actions["hash"] = add_action(window, tools, "Hash selected adapters", window.hash_selected)
    actions["identify"] = add_action(window, tools, "Identify selected adapters on CivitAI", window.identify_selected)
    actions["problems"] = add_action(window, tools, "Show problems", window.task_panel.show_problems,
                                     ["Ctrl+Shift+P"])

    view = bar.addMenu("&View")
    for i, name in enumerate(views):
        actions[f"view_{name}"] = add_action(window, view, name.capitalize(),
                                             lambda i=i: window.tabs.setCurrentIndex(i), [f"Ctrl+{i + 1}"])

    help_menu = bar.addMenu("&Help")
    actions["about"] = add_action(window, help_menu, f"About {APP_DISPLAY_NAME}", lambda: show_about(window, window.ctx.db_path))
    return actions


def clear_on_escape(window: MainWindow) -> QAction:
    """Escape in the search box empties it (and shows every adapter again)."""
    search = window.adapters.search
    action = QAction("Clear the search", search)
    action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
    action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
    action.triggered.connect(lambda *_: window.clear_search())
    search.addAction(action)
    return action
