"""LoRA Manager inside ComfyUI: the LoRAInfoExtractor and LoRACacheDiagnostics nodes.

The nodes run on the same core and services as the desktop app and open the same library (hash
cache, CivitAI answers), so what one learns the other sees. Qt is never imported here.

- `inputs`: whatever a LoRA socket carries (WANVIDLORA, LORA_STACK, nested stacks, objects) made
  plain, and names resolved through ComfyUI's `folder_paths` when running inside ComfyUI.
- `runtime`: one daemon thread with its own event loop that owns the open libraries and the
  background CivitAI lookups; node functions hand it coroutines and never block ComfyUI's loop.
- `extract`: the pipeline (read, resolve, hash through the cache, CivitAI within a time budget).
- `nodes`: the ComfyUI node classes (V1: INPUT_TYPES / RETURN_TYPES / FUNCTION, `async def` when
  the running ComfyUI awaits coroutine node functions).
- `pack`: writing, finding and removing the small node-pack folder in ComfyUI's custom_nodes.

Import `lora_manager_gui.comfyui.nodes` for NODE_CLASS_MAPPINGS; this package itself stays light.
"""
from __future__ import annotations
