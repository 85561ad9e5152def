"""Update checks: is there a newer version of the CivitAI models the library holds?

- Every identified model (db.updates.identified_models) is asked for with `GET /models?ids=`,
  100 ids a call, through the client's rate limiter; a model checked less than `every_hours`
  ago is skipped unless `force`.
- A version newer (publishedAt, then id) than every owned version, and not ignored, is an
  update; when only early-access versions are newer, the update is marked early access.
- Hosts are a list (civitai.com, civitai.red: CIVITAI_API.md §6, §8.6): the models one host does
  not show (mature models hidden on the "green" host) are asked of the next. A batch that fails
  is recorded as failed for its models, keeping what an earlier check learnt.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from lora_manager_gui.core.civitai_errors import CivitaiError
from lora_manager_gui.core.tasks import Changes, ItemProblem, Progress, ProgressSink, ProgressThrottle, Stage, TaskOutcome
from lora_manager_gui.db import civitai_store
from lora_manager_gui.db import updates as store
from lora_manager_gui.db.fields import utc_now
from lora_manager_gui.db.updates import UpdateState, UpdateStatus

if TYPE_CHECKING:
    from lora_manager_gui.core.civitai_records import CivitaiModel
    from lora_manager_gui.services.civitai import CivitaiClient
    from lora_manager_gui.services.library import Library

BATCH = 100
DEFAULT_EVERY_HOURS = 24.0
OFFICIAL_HOSTS = ("civitai.com", "civitai.red")


def default_hosts(base_url: str) -> list[str]:
    """The configured API, then the other official host when it is one of them."""
    parts = urlsplit(base_url)
    hosts = [base_url.rstrip("/")]
    if parts.hostname in OFFICIAL_HOSTS:
        for other in OFFICIAL_HOSTS:
            if other != parts.hostname:
                hosts.append(urlunsplit((parts.scheme, other, parts.path, "", "")).rstrip("/"))
    return hosts


def _published(version: dict[str, Any]) -> tuple[str, int]:
    return (str(version.get("publishedAt") or ""), int(version["id"]))


def is_early_access(version: dict[str, Any], now: datetime) -> bool:
    if version.get("availability") == "EarlyAccess":
        return True
    ends = version.get("earlyAccessEndsAt")
    if isinstance(ends, str) and ends:
        try:
            when = datetime.fromisoformat(ends.replace("Z", "+00:00"))
        except ValueError:
            return False
        return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)) > now
    return False


def judge(model: CivitaiModel, owned: set[int], ignored: set[int], host: str, now: datetime) -> UpdateState:
    """The update state of one model from its /models answer."""
    versions = [v for v in model.raw.get("modelVersions") or [] if isinstance(v, dict) and type(v.get("id")) is int]
    mine = [v for v in versions if v["id"] in owned]
    if mine:
        newest_owned = max(_published(v) for v in mine)
        newer = [v for v in versions if v["id"] not in owned and _published(v) > newest_owned]
    else:  # the owned versions are gone from CivitAI: newer means a higher id
        top = max(owned, default=0)
        newer = [v for v in versions if v["id"] > top]
    newer = [v for v in newer if v["id"] not in ignored]
    regular = [v for v in newer if not is_early_access(v, now)]
    pick = max(regular or newer, key=_published) if newer else None
    if pick is None:
        return UpdateState(model.id, UpdateStatus.UP_TO_DATE, now, tuple(sorted(owned)), host=host)
    return UpdateState(model.id, UpdateStatus.UPDATE_AVAILABLE, now, tuple(sorted(owned)), pick["id"],
                       str(pick.get("name") or ""), pick.get("publishedAt"), not regular, host)


@dataclass
class UpdateReport:
    checked: int = 0
    skipped: int = 0  # checked less than every_hours ago
    requests: int = 0
    states: list[UpdateState] = field(default_factory=list)
    problems: list[ItemProblem] = field(default_factory=list)

    @property
    def updates(self) -> list[UpdateState]:
        return [s for s in self.states if s.status is UpdateStatus.UPDATE_AVAILABLE]

    def outcome(self, *, cancelled: bool = False) -> TaskOutcome:
        return TaskOutcome.decide(done=self.checked, problems=len(self.problems), was_cancelled=cancelled,
                                  changes=Changes(civitai=self.checked > 0))

    def to_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "skipped": self.skipped, "requests": self.requests,
                "updates": [s.to_json() for s in self.updates],
                "not_found": [s.model_id for s in self.states if s.status is UpdateStatus.NOT_FOUND],
                "problems": [p.to_json() for p in self.problems], "summary": self.outcome().describe()}


async def _extra_client(library: Library, base_url: str) -> CivitaiClient:
    import asyncio

    from lora_manager_gui.services.civitai import CivitaiClient

    key = library.settings.civitai.api_key if urlsplit(base_url).hostname in OFFICIAL_HOSTS else None
    return await asyncio.to_thread(CivitaiClient, base_url, key)


async def check_updates(library: Library, *, hosts: Sequence[str] | None = None, force: bool = False,
                        every_hours: float = DEFAULT_EVERY_HOURS, progress: ProgressSink | None = None) -> UpdateReport:
    """Check every identified model (see the module docstring)."""
    report = UpdateReport()
    throttle = ProgressThrottle(progress)
    owned: dict[int, set[int]] = await library.db.call(store.identified_models)
    ignored: set[int] = await library.db.call(store.ignored_versions)
    todo = sorted(owned)
    if not force:
        recent = await library.db.call(store.checked_since, todo, store.stale_before(every_hours))
        report.skipped = len(recent)
        todo = [m for m in todo if m not in recent]
    host_list = list(hosts) if hosts else default_hosts(library.settings.civitai.base_url)
    total = len(todo)
    throttle(Progress(Stage.MODELS, 0, total), force=True)
    async with library.use_civitai() as main_client:
        for index, host in enumerate(host_list):
            if not todo:
                break
            own = index == 0 and host.rstrip("/") == main_client.base_url
            client = main_client if own else await _extra_client(library, host)
            try:
                todo = await _ask_host(library, client, host, todo, owned, ignored, report, throttle, total)
            finally:
                if not own:
                    await client.close()
    if todo:
        missing = [UpdateState(m, UpdateStatus.NOT_FOUND, utc_now(), tuple(sorted(owned[m]))) for m in todo]
        await library.db.call(store.save, missing)
        report.states.extend(missing)
        report.checked += len(missing)
    throttle(Progress(Stage.DONE, report.checked, total, problems=len(report.problems)), force=True)
    return report


async def _ask_host(library: Library, client: CivitaiClient, host: str, todo: list[int], owned: dict[int, set[int]],
                    ignored: set[int], report: UpdateReport, throttle: ProgressThrottle, total: int) -> list[int]:
    """Ask `host` about `todo`; returns the models it did not show."""
    left: list[int] = []
    for start in range(0, len(todo), BATCH):
        batch = todo[start:start + BATCH]
        report.requests += 1
        try:
            found = await client.models_by_ids(batch)
        except CivitaiError as exc:
            await library.db.call(store.record_failed, batch, str(exc), owned)
            report.problems.extend(ItemProblem(f"civitai model {m}", exc.kind, str(exc)) for m in batch)
            continue
        now = utc_now()
        states = [judge(found[m], owned[m], ignored, host, now) for m in batch if m in found]

        def write(models: list[CivitaiModel] = list(found.values()), states: list[UpdateState] = states) -> None:
            civitai_store.store_models(models)
            store.save(states)

        await library.db.call(write)
        report.states.extend(states)
        report.checked += len(states)
        left.extend(m for m in batch if m not in found)
        throttle(Progress(Stage.MODELS, report.checked, total, problems=len(report.problems), detail=host))
    return left
