"""LoRA stacks read from ComfyUI workflows and prompts, images, A1111 text and saved stack data."""
from __future__ import annotations

from lora_manager_gui.core.stacks.model import StackEntry, StackReadError, StackReadResult, Strength
from lora_manager_gui.core.stacks.names import lora_stem
from lora_manager_gui.core.stacks.reader import read_stack_bytes, read_stack_data, read_stack_file

__all__ = [
    "StackEntry",
    "StackReadError",
    "StackReadResult",
    "Strength",
    "lora_stem",
    "read_stack_bytes",
    "read_stack_data",
    "read_stack_file",
]
