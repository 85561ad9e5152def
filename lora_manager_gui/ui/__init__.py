"""The window: the only package that imports Qt."""
from __future__ import annotations

from lora_manager_gui.ui.pyside_compat import protect_singletons

protect_singletons()
