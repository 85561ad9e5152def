"""What an import reports: the final report (text or --json), summed in one place (`add`).

Progress while it runs is `core.tasks.Progress` (stages WALK, PARSE, STORE, FINISH), throttled
by `core.tasks.ProgressThrottle`; problems are `core.tasks.ItemProblem`s.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lora_manager_gui.core.records import COVERAGE_FIELDS, DuplicateClaim
from lora_manager_gui.core.tasks import Changes, ItemProblem, TaskOutcome


class ReportShare(Protocol):
    """What a comparison of groups adds to the report (a tally of parsed or unchanged groups)."""

    unchanged: int
    sidecar_groups: int
    not_sidecars: int
    not_on_civitai: int
    errors: list[ItemProblem]
    orphans: list[str]


@dataclass
class ImportReport:
    roots: list[str] = field(default_factory=list)
    files_processed: int = 0  # model files and sidecars found
    model_files: int = 0
    sidecar_groups: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    orphans: list[str] = field(default_factory=list)
    duplicates: list[DuplicateClaim] = field(default_factory=list)
    errors: list[ItemProblem] = field(default_factory=list)  # `problems`: one per file and class
    missing: list[str] = field(default_factory=list)  # model files gone since the last import
    moved: list[tuple[str, str]] = field(default_factory=list)  # (from, to): moved outside the app, recognised
    offline_roots: list[str] = field(default_factory=list)  # roots offline: their files flagged offline
    offline_files: int = 0  # files of those roots flagged offline by this run
    external: list[str] = field(default_factory=list)  # symlinks followed out of the root
    skipped_links: list[str] = field(default_factory=list)  # links to files/folders already counted
    not_on_civitai: int = 0
    not_sidecars: int = 0
    ignored: int = 0
    cancelled: bool = False
    forced: bool = False
    duration_s: float = 0.0
    # Field coverage, counted as records are stored (keeping every record of a 70,000-file import
    # alive only to count them cost memory and long garbage-collector pauses).
    coverage_filled: dict[str, int] = field(default_factory=dict, repr=False)
    coverage_total: int = 0

    def add(self, *, files: int = 0, models: int = 0, imported: int = 0, updated: int = 0, unchanged: int = 0,
            sidecar_groups: int = 0, not_sidecars: int = 0, not_on_civitai: int = 0, ignored: int = 0,
            problems: Iterable[ItemProblem] = (), orphans: Iterable[str] = (),
            duplicates: Iterable[DuplicateClaim] = (), missing: Iterable[str] = (), external: Iterable[str] = (),
            skipped_links: Iterable[str] = (), filled: list[int] | None = None) -> None:
        """The one place the report's counters are summed: what a walk, a comparison, a stored
        chunk or a skipped folder's share adds."""
        self.files_processed += files
        self.model_files += models
        self.imported += imported
        self.updated += updated
        self.unchanged += unchanged
        self.sidecar_groups += sidecar_groups
        self.not_sidecars += not_sidecars
        self.not_on_civitai += not_on_civitai
        self.ignored += ignored
        self.errors.extend(problems)
        self.orphans.extend(orphans)
        self.duplicates.extend(duplicates)
        self.missing.extend(missing)
        self.external.extend(external)
        self.skipped_links.extend(skipped_links)
        if filled:
            self.count_coverage(filled)

    def add_share(self, share: ReportShare) -> None:
        """A part with the comparison's counters (import_parse.ImportTally, import_folders.FolderShare)."""
        self.add(unchanged=share.unchanged, sidecar_groups=share.sidecar_groups, not_sidecars=share.not_sidecars,
                 not_on_civitai=share.not_on_civitai, problems=share.errors, orphans=share.orphans)

    def count_coverage(self, masks: list[int], sign: int = 1) -> None:
        """Count the filled columns of the rows a chunk wrote (records.coverage_mask of each);
        `sign` -1 takes rows back (a duplicate settled for another file)."""
        self.coverage_total += sign * len(masks)
        for i, name in enumerate(COVERAGE_FIELDS):
            bit = 1 << i
            filled = sum(1 for m in masks if m & bit)
            self.coverage_filled[name] = self.coverage_filled.get(name, 0) + sign * filled

    @property
    def problems(self) -> list[ItemProblem]:
        return self.errors

    def outcome(self, *, cancelled: bool = False) -> TaskOutcome:
        """How the import ended, by the task contract's one rule."""
        return TaskOutcome.decide(
            done=self.imported + self.updated + self.unchanged,
            problems=len(self.errors),
            was_cancelled=cancelled or self.cancelled,
            changes=Changes(adapters=bool(self.imported or self.updated or self.missing or self.moved or self.offline_files),
                            files=bool(self.model_files or self.missing or self.moved or self.offline_files)),
        )

    @property
    def failed(self) -> int:
        return len({e.path for e in self.errors})

    @property
    def failed_by_class(self) -> dict[str, int]:
        return dict(sorted(Counter(e.kind.value for e in self.errors).items()))

    @property
    def success_rate(self) -> float:
        """Share of sidecar groups imported without any error (1.0 when there were none)."""
        if self.sidecar_groups == 0:
            return 1.0
        failed_groups = len({e.path for e in self.errors if not e.path.lower().endswith((".safetensors", ".pt", ".bin", ".ckpt"))})
        return max(0.0, (self.sidecar_groups - min(failed_groups, self.sidecar_groups)) / self.sidecar_groups)

    @property
    def time_per_file_ms(self) -> float:
        return 1000.0 * self.duration_s / self.files_processed if self.files_processed else 0.0

    def field_coverage(self) -> dict[str, float]:
        if not self.coverage_total:
            return {}
        return {name: round(self.coverage_filled.get(name, 0) / self.coverage_total, 4) for name in COVERAGE_FIELDS}

    def to_json(self) -> dict[str, Any]:
        return {
            "roots": self.roots,
            "files_processed": self.files_processed,
            "model_files": self.model_files,
            "sidecar_groups": self.sidecar_groups,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "failed_by_class": self.failed_by_class,
            "orphans": self.orphans,
            "duplicates": [d.to_json() for d in self.duplicates],
            "errors": [e.to_json() for e in self.errors],
            "missing": self.missing,
            "moved": [{"from": src, "to": dst} for src, dst in self.moved],
            "moved_count": len(self.moved),
            "offline_roots": self.offline_roots,
            "offline_files": self.offline_files,
            "external_links": self.external,
            "skipped_links": self.skipped_links,
            "not_on_civitai": self.not_on_civitai,
            "not_sidecars": self.not_sidecars,
            "ignored": self.ignored,
            "field_coverage": self.field_coverage(),
            "success_rate": round(self.success_rate, 4),
            "duration_s": round(self.duration_s, 3),
            "time_per_file_ms": round(self.time_per_file_ms, 4),
            "cancelled": self.cancelled,
            "forced": self.forced,
        }

    def to_text(self, *, max_listed: int = 20) -> str:
        lines = [
            f"Imported {self.imported}, updated {self.updated}, unchanged {self.unchanged}, failed {self.failed} "
            f"({self.files_processed} files in {self.duration_s:.2f} s, {self.time_per_file_ms:.2f} ms per file)",
        ]
        if self.cancelled:
            lines.append("Cancelled: what was imported before the cancel is kept; run again to finish.")
        if self.failed_by_class:
            lines.append("Failed by class: " + ", ".join(f"{k} {v}" for k, v in self.failed_by_class.items()))
        lines.append(f"Success rate: {self.success_rate:.1%}")

        def listing(title: str, items: list[str]) -> None:
            if not items:
                return
            lines.append(f"{title} ({len(items)}):")
            lines.extend(f"  {item}" for item in items[:max_listed])
            if len(items) > max_listed:
                lines.append(f"  ... and {len(items) - max_listed} more (--json lists all)")

        listing("Errors", [f"{e.path}: [{e.kind.value}] {e.message}" for e in self.errors])
        listing("Duplicates", [f"{d.name} {d.version}: {d.duplicate_path} (kept {d.kept_path})" for d in self.duplicates])
        listing("Orphans (model files with no metadata)", self.orphans)
        listing("Missing since the last import", self.missing)
        listing("Moved outside the app, recognised (kept their data)", [f"{a} -> {b}" for a, b in self.moved])
        listing("Roots offline (their files are kept, flagged offline)", self.offline_roots)
        listing("Followed symlinks leading out of the library", self.external)
        coverage = self.field_coverage()
        if coverage:
            lines.append("Field coverage: " + ", ".join(f"{k} {v:.0%}" for k, v in coverage.items()))
        return "\n".join(lines)
