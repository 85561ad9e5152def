"""`comfyui install|uninstall|status [CUSTOM_NODES_DIR]` and `comfyui copy-stack STACK_FILE`."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "comfyui", help="the LoRA Manager nodes inside ComfyUI; a stack as LoraLoader nodes to paste",
        description="Install the LoRAInfoExtractor node pack into ComfyUI's custom_nodes (for a ComfyUI whose "
                    "Python has this package installed), remove it, say what is installed, or turn a stack "
                    "into what ComfyUI's canvas takes on paste.")
    commands = parser.add_subparsers(dest="comfyui_command", metavar="ACTION", required=True)
    for name, help_text in (("install", "write the node-pack folder into custom_nodes"),
                            ("uninstall", "remove the node-pack folder (only one LoRA Manager wrote)"),
                            ("status", "say whether and where the node pack is installed")):
        action = commands.add_parser(name, help=help_text)
        action.add_argument("custom_nodes", metavar="CUSTOM_NODES_DIR", nargs="?",
                            help="ComfyUI's custom_nodes folder (or its ComfyUI folder; default COMFYUI_PATH/custom_nodes)")
        action.add_argument("--json", action="store_true", help="print the status as JSON")
        action.set_defaults(handler=run_pack, pack_action=name)
    copy = commands.add_parser("copy-stack", help="a stack as LoraLoader nodes: clipboard HTML and a workflow file",
                               description="Read a stack file (workflow, prompt, image, saved stack) and build "
                                           "a chain of LoraLoader nodes: the clipboard fragment ComfyUI pastes "
                                           "into the open graph, and a workflow file to drop on the canvas.")
    copy.add_argument("stack_file", metavar="STACK_FILE")
    copy.add_argument("--out", metavar="workflow.json", help="write the workflow here (drop it on the canvas)")
    copy.add_argument("--html", metavar="clipboard.html", help="write the clipboard text/html fragment here")
    copy.add_argument("--json", action="store_true", help="print {html, text, items} as JSON")
    copy.set_defaults(handler=run_copy_stack)


def run_pack(args: argparse.Namespace) -> int:
    from lora_manager_gui.comfyui import pack

    try:
        custom_nodes = pack.custom_nodes_dir(args.custom_nodes)
        result = {"install": pack.install, "uninstall": pack.uninstall, "status": pack.status}[args.pack_action](
            custom_nodes)
    except (pack.NodePackError, OSError) as exc:
        print(f"lora-manager: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    if result.state is pack.PackState.INSTALLED:
        print(f"LoRA Manager nodes {result.version or '?'} installed in {result.folder}")
        print(f"  ComfyUI must run a Python with lora_manager_gui installed (written from {result.python})")
    elif result.state is pack.PackState.FOREIGN:
        print(f"{result.folder} exists but was not written by LoRA Manager")
    else:
        print(f"LoRA Manager nodes are not installed in {result.custom_nodes}")
    return 0


def _rows(entries: list[Any]) -> list[Any]:
    from lora_manager_gui.core.comfy_paste import LoraRow

    rows = []
    for entry in entries:
        name = entry.path or entry.name or ""
        if os.path.isabs(name) or (len(name) > 2 and name[1] == ":"):
            name = name.replace("\\", "/").rsplit("/", 1)[-1]  # another machine's folder means nothing here
        strength = entry.strength
        model = float(strength[0]) if isinstance(strength, list) and strength else (
            float(strength) if isinstance(strength, (int, float)) else 1.0)
        clip = float(entry.clip_strength) if entry.clip_strength is not None else model
        rows.append(LoraRow(name, model, clip))
    return rows


def run_copy_stack(args: argparse.Namespace) -> int:
    from lora_manager_gui.core.comfy_paste import paste_payload
    from lora_manager_gui.core.stacks import StackReadError, read_stack_file

    try:
        read = read_stack_file(args.stack_file)
    except StackReadError as exc:
        print(f"lora-manager: error: cannot read {exc.source}: {exc.reason} [{exc.kind}]", file=sys.stderr)
        return 2
    payload = paste_payload(_rows(read.entries))
    if args.out:
        Path(args.out).write_text(json.dumps(payload.workflow, ensure_ascii=False, indent=2) + "\n", "utf-8")
    if args.html:
        Path(args.html).write_text(payload.html, "utf-8")
    if args.json:
        print(json.dumps({"html": payload.html, "text": payload.text, "items": payload.items}, ensure_ascii=False))
    else:
        count = len(payload.items["nodes"])
        print(f"{count} LoraLoader node{'s' if count != 1 else ''}"
              + (f"; workflow written to {args.out}" if args.out else "")
              + (f"; clipboard HTML written to {args.html}" if args.html else ""))
    return 0
