"""What a stack reader returns: the LoRA entries a file enables, in order, and why a file was refused."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lora_manager_gui.core.errors import LoraManagerError
from lora_manager_gui.core.stacks.names import lora_stem

Strength = float | list[float] | None


class StackReadError(LoraManagerError):
    """A file is not a LoRA stack, or is broken. `kind` classifies it for reports and the UI.

    Kinds: `not_a_stack` (readable, but describes no stack), `no_metadata` (an image without
    generation text), `malformed` (broken JSON, PNG or text), `too_deep` (nesting over the limit),
    `too_large` (over a size or count limit), `unreadable` (the file could not be read).
    """

    KINDS = ("not_a_stack", "no_metadata", "malformed", "too_deep", "too_large", "unreadable")

    def __init__(self, kind: str, source: str, reason: str) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown StackReadError kind {kind!r}")
        self.kind = kind
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


@dataclass
class StackEntry:
    """One enabled LoRA, as the source gives it.

    `path` is the file reference as written (relative with `\\` or `/`, or absolute; None when the
    source names the LoRA only). `name` is the source's own name for it (None when it gives only a
    path). `strength` is the model strength: a float, a per-step list, or None when it is linked to
    another node and cannot be known from the file. `hashes` holds hints such as
    `{"autov3": "c338953e6f16"}` that the resolver may match on.
    """

    index: int
    name: str | None
    path: str | None
    strength: Strength
    clip_strength: float | None = None
    node_type: str | None = None
    node_id: str | None = None
    raw: Any = None
    hashes: dict[str, str] = field(default_factory=dict)
    node_title: str | None = None  # the node's title in the workflow, when it has one
    subgraph_path: tuple[str, ...] = ()  # the subgraph instances the node sits in, outermost first

    @property
    def location(self) -> str:
        """Where the entry sits, for people: `Upscale › LoRAs › My loader (#5:7:3)`."""
        if self.node_id is None and self.node_type is None:
            return ""
        here = self.node_title or self.node_type or "node"
        suffix = f" (#{self.node_id})" if self.node_id else ""
        return " › ".join((*self.subgraph_path, here)) + suffix

    @property
    def stem(self) -> str:
        """The base file name without folders or model extension (dots inside names are kept);
        `lora_stem` caches it per reference, which a big stack repeats."""
        return lora_stem(self.path or self.name or "")

    @property
    def reference(self) -> str:
        """What the entry points at, for messages: the path if any, else the name."""
        return self.path or self.name or ""


class SkipReason(StrEnum):
    """Why an active node's LoRA does not run."""

    SWITCHED_OFF = "switched_off"  # on a branch a constant switch does not take
    NOT_CONNECTED = "not_connected"  # on no path to an output node


@dataclass
class SkippedEntry:
    """A LoRA of an active node that the workflow does not run, and why."""

    entry: StackEntry
    reason: SkipReason
    by_node: str | None = None  # the switch that turns it off

    @property
    def reason_text(self) -> str:
        if self.reason is SkipReason.SWITCHED_OFF:
            return f"switched off by node #{self.by_node}"
        return "not connected to an output"


@dataclass
class StackReadResult:
    """The enabled entries of one stack file, in order, plus what the reader noticed on the way."""

    source: str
    format: str
    entries: list[StackEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)  # LoRAs of nodes that do not run
