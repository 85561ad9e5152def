"""The ComfyUI nodes: LoRAInfoExtractor and LoRACacheDiagnostics (V1 node classes).

How ComfyUI runs them (execution.py of current ComfyUI): the prompt runs on a worker thread that
drives its own asyncio loop; the node's FUNCTION is looked up and, when it is a coroutine function,
scheduled as a task on that loop and awaited, so other async nodes and the server go on. Older
ComfyUI calls FUNCTION plainly and would get a coroutine object back, so FUNCTION names the
blocking variant there (`execution` without `_async_map_node_over_list`).

Both variants hand the work to the runtime loop (runtime.py): the async one awaits the future
(ComfyUI's loop stays free), the blocking one waits on the worker thread. A CivitAI lookup never
holds either longer than its budget.
"""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from lora_manager_gui.comfyui.diagnostics import diagnose
from lora_manager_gui.comfyui.extract import DEFAULT_BUDGET_S, ExtractRequest, Extraction, extract, fingerprint
from lora_manager_gui.comfyui.runtime import get_runtime, library_path
from lora_manager_gui.core.lora_json import DEFAULT_FALLBACK_NAME

log = logging.getLogger(__name__)

CATEGORY = "LoRA Manager"
FINGERPRINT_TIMEOUT_S = 30.0
EXTRACT_TIMEOUT_S = 24 * 3600.0  # hashing a cold library may take long; CivitAI never does


class AnyType(str):
    """A socket type that accepts every output type (WANVIDLORA, LORA_STACK, ...), also on ComfyUI
    versions that compare types with `!=`."""

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


ANY = AnyType("*")


def comfy_awaits_coroutines() -> bool:
    """True when the running ComfyUI awaits `async def` node functions (or when not in ComfyUI)."""
    execution = sys.modules.get("execution")
    if execution is None or not hasattr(execution, "get_output_data"):
        return True
    return hasattr(execution, "_async_map_node_over_list")


def _request(lora: Any, civitai_api_key: str | None, fallback_name: str | None, library: str | None,
             civitai_budget_s: float | None, unique_id: Any) -> ExtractRequest:
    budget = DEFAULT_BUDGET_S if civitai_budget_s is None else float(civitai_budget_s)
    return ExtractRequest(lora=lora, library=library or None, api_key=civitai_api_key or None,
                          fallback_name=fallback_name or None, budget_s=budget,
                          node_id=None if unique_id is None else str(unique_id))


def _outputs(extraction: Extraction) -> tuple[str, str]:
    return json.dumps(extraction.document, ensure_ascii=False), extraction.lora_info


class LoRAInfoExtractor:
    """Every LoRA of a stack with its file, hash and CivitAI data, as lora_json and lora_info."""

    CATEGORY = CATEGORY
    DESCRIPTION = ("Walks a LoRA stack (WanVideo, LORA_STACK, Lora Manager, nested), hashes each file through "
                   "the LoRA Manager library's cache and adds what CivitAI knows, for metadata nodes.")
    RETURN_TYPES = ("STRING", "STRING")
    RETURN_NAMES = ("lora_json", "lora_info")
    OUTPUT_TOOLTIPS = ("The lora_json document (schema lora_json.schema.json).",
                       "A summary line, then one line per LoRA: strength, hash fragment, file status.")
    FUNCTION = "extract" if comfy_awaits_coroutines() else "extract_blocking"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "lora": (ANY, {"tooltip": "WANVIDLORA, LORA_STACK, a Lora Manager stack, or a LoRA name or path"}),
            },
            "optional": {
                "civitai_api_key": ("STRING", {"default": "", "tooltip": (
                    "Leave empty to use CIVITAI_API_KEY. A value typed here is saved in the workflow.")}),
                "fallback_name": ("STRING", {"default": DEFAULT_FALLBACK_NAME,
                                             "tooltip": "The display name of an empty stack"}),
                "library": ("STRING", {"default": "", "tooltip": (
                    "The LoRA Manager library database; empty: LORA_MANAGER_DB, else the desktop app's library")}),
                "civitai_budget_s": ("FLOAT", {"default": DEFAULT_BUDGET_S, "min": 0.0, "max": 60.0, "step": 0.5,
                                               "tooltip": "How long a run waits for CivitAI before using local data"}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    async def extract(self, lora: Any = None, civitai_api_key: str = "", fallback_name: str = "",
                      library: str = "", civitai_budget_s: float = DEFAULT_BUDGET_S,
                      unique_id: Any = None) -> tuple[str, str]:
        runtime = get_runtime()
        request = _request(lora, civitai_api_key, fallback_name, library, civitai_budget_s, unique_id)
        return _outputs(await runtime.arun(extract(runtime, request)))

    def extract_blocking(self, lora: Any = None, civitai_api_key: str = "", fallback_name: str = "",
                         library: str = "", civitai_budget_s: float = DEFAULT_BUDGET_S,
                         unique_id: Any = None) -> tuple[str, str]:
        runtime = get_runtime()
        request = _request(lora, civitai_api_key, fallback_name, library, civitai_budget_s, unique_id)
        return _outputs(runtime.run(extract(runtime, request), timeout=EXTRACT_TIMEOUT_S))

    @classmethod
    def IS_CHANGED(cls, lora: Any = None, civitai_api_key: str = "", fallback_name: str = "",
                   library: str = "", civitai_budget_s: float = DEFAULT_BUDGET_S, unique_id: Any = None) -> str:
        runtime = get_runtime()
        request = _request(lora, civitai_api_key, fallback_name, library, civitai_budget_s, unique_id)
        try:
            return runtime.run(fingerprint(runtime, request), timeout=FINGERPRINT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - unknown state: run again rather than serve stale data
            log.warning("LoRAInfoExtractor: cannot tell whether the LoRAs changed: %s", exc)
            return f"unknown-{time.time_ns()}"


class LoRACacheDiagnostics:
    """What the shared library's hash cache and CivitAI store hold."""

    CATEGORY = CATEGORY
    DESCRIPTION = "Hash cache entries (stale ones, bytes covered) and CivitAI answers by status."
    RETURN_TYPES = ("STRING", "STRING")
    RETURN_NAMES = ("report", "report_json")
    OUTPUT_NODE = True
    FUNCTION = "diagnose" if comfy_awaits_coroutines() else "diagnose_blocking"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"optional": {"library": ("STRING", {"default": "", "tooltip": (
            "The LoRA Manager library database; empty: LORA_MANAGER_DB, else the desktop app's library")})}}

    @staticmethod
    def _result(text: str, data: dict[str, Any]) -> dict[str, Any]:
        return {"ui": {"text": [text]}, "result": (text, json.dumps(data, ensure_ascii=False))}

    async def diagnose(self, library: str = "") -> dict[str, Any]:
        runtime = get_runtime()
        try:
            found = await runtime.arun(diagnose(runtime, library_path(library or None)))
        except Exception as exc:  # noqa: BLE001 - a report node reports
            return self._result(f"The LoRA Manager library cannot be read: {exc}", {"error": str(exc)})
        return self._result(found.text(), found.to_json())

    def diagnose_blocking(self, library: str = "") -> dict[str, Any]:
        runtime = get_runtime()
        try:
            found = runtime.run(diagnose(runtime, library_path(library or None)), timeout=FINGERPRINT_TIMEOUT_S * 10)
        except Exception as exc:  # noqa: BLE001 - a report node reports
            return self._result(f"The LoRA Manager library cannot be read: {exc}", {"error": str(exc)})
        return self._result(found.text(), found.to_json())

    @classmethod
    def IS_CHANGED(cls, library: str = "") -> str:
        return str(time.time_ns())  # always current


NODE_CLASS_MAPPINGS = {
    "LoRAInfoExtractor": LoRAInfoExtractor,
    "LoRACacheDiagnostics": LoRACacheDiagnostics,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "LoRAInfoExtractor": "LoRA Info Extractor (LoRA Manager)",
    "LoRACacheDiagnostics": "LoRA Cache Diagnostics (LoRA Manager)",
}
