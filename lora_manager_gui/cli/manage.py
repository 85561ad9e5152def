"""Managing the library from the command line: edit user data, collections, move, rename,
organize, trash, undo/redo, duplicates, list, backup and restore. Thin over the services; every
command prints text or, with --json, one JSON object."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, TypeVar

from lora_manager_gui.cli import with_library
from lora_manager_gui.core.templates import DEFAULT_TEMPLATE, TemplateError
from lora_manager_gui.db.user_data import UserDataEdit, UserDataError
from lora_manager_gui.services.library import Library

T = TypeVar("T")
EXIT_PROBLEMS = 1


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


def register(subparsers: Any) -> None:
    e = subparsers.add_parser("edit", help="edit the user's data on adapters (also written to their sidecars)")
    e.add_argument("adapters", nargs="+", metavar="ADAPTER", help="adapter id, model file path or name")
    e.add_argument("--rating", type=int)
    e.add_argument("--clear-rating", action="store_true")
    e.add_argument("--favorite", dest="favorite", action="store_true", default=None)
    e.add_argument("--no-favorite", dest="favorite", action="store_false")
    e.add_argument("--notes")
    e.add_argument("--tags", help="the user's tags, comma-separated (replaces them)")
    e.add_argument("--add-tag", action="append", default=[])
    e.add_argument("--remove-tag", action="append", default=[])
    e.add_argument("--weight", type=float, help="preferred weight")
    e.add_argument("--clear-weight", action="store_true")
    e.add_argument("--triggers", help="the user's trigger words, comma-separated")
    e.add_argument("--exclude", dest="exclude", action="store_true", default=None)
    e.add_argument("--no-exclude", dest="exclude", action="store_false")
    e.add_argument("--sidecars", default="existing",
                   help="which sidecars to write: existing (default), none, or a list of lora_manager,a1111")
    _json_flag(e)
    e.set_defaults(handler=cmd_edit)
    c = subparsers.add_parser("collection", help="list collections, or add/remove adapters")
    c.add_argument("action", choices=("list", "add", "remove", "delete", "show"))
    c.add_argument("name", nargs="?")
    c.add_argument("adapters", nargs="*", metavar="ADAPTER")
    _json_flag(c)
    c.set_defaults(handler=cmd_collection)
    m = subparsers.add_parser("move", help="move model files (with sidecars and previews) into a folder")
    m.add_argument("files", nargs="+", metavar="FILE")
    m.add_argument("--to", required=True, metavar="FOLDER")
    m.add_argument("--dry-run", action="store_true")
    _json_flag(m)
    m.set_defaults(handler=cmd_move)
    r = subparsers.add_parser("rename", help="rename a model file and its sidecars and previews")
    r.add_argument("file", metavar="FILE")
    r.add_argument("new_name", metavar="NEW_NAME", help="the new name, without extension")
    r.add_argument("--dry-run", action="store_true")
    _json_flag(r)
    r.set_defaults(handler=cmd_rename)
    o = subparsers.add_parser("organize", help="move every model file to a path made by a template")
    o.add_argument("--template", default=DEFAULT_TEMPLATE, help=f"default {DEFAULT_TEMPLATE}")
    o.add_argument("--dry-run", action="store_true", help="show every move, do nothing")
    o.add_argument("files", nargs="*", metavar="FILE", help="only these model files")
    _json_flag(o)
    o.set_defaults(handler=cmd_organize)
    t = subparsers.add_parser("trash", help="send model files and their sidecars to the trash (undoable)")
    t.add_argument("files", nargs="+", metavar="FILE")
    t.add_argument("--trash", choices=("auto", "system", "app"), default="auto")
    t.add_argument("--dry-run", action="store_true")
    _json_flag(t)
    t.set_defaults(handler=cmd_trash)
    u = subparsers.add_parser("undo", help="undo the latest file operation (or --list the log)")
    u.add_argument("--list", action="store_true")
    _json_flag(u)
    u.set_defaults(handler=cmd_undo)
    rd = subparsers.add_parser("redo", help="redo the latest undone file operation")
    _json_flag(rd)
    rd.set_defaults(handler=cmd_redo)
    d = subparsers.add_parser("duplicates", help="files with the same SHA-256; same model, other versions")
    d.add_argument("--clean-up", choices=("newest", "preferred_folder", "most_metadata"),
                   help="keep one file per group by this rule, trash the rest (undoable)")
    d.add_argument("--prefer", metavar="FOLDER", help="with --clean-up preferred_folder")
    d.add_argument("--dry-run", action="store_true")
    d.add_argument("--trash", choices=("auto", "system", "app"), default="auto")
    _json_flag(d)
    d.set_defaults(handler=cmd_duplicates)
    ls = subparsers.add_parser("list", help="the library's adapters, as the table shows them")
    ls.add_argument("--search", default="")
    ls.add_argument("--limit", type=int, default=1000)
    _json_flag(ls)
    ls.set_defaults(handler=cmd_list)
    b = subparsers.add_parser("backup", help="write all user data (ratings, notes, tags, collections) to a JSON file")
    b.add_argument("out", metavar="OUT.json")
    _json_flag(b)
    b.set_defaults(handler=cmd_backup)
    rs = subparsers.add_parser("restore", help="restore user data from a backup JSON file")
    rs.add_argument("source", metavar="IN.json")
    _json_flag(rs)
    rs.set_defaults(handler=cmd_restore)


class _Failed:
    """What _run returns when the command could not run (the message is printed)."""


FAILED: Any = _Failed()


def _run(args: argparse.Namespace, work: Callable[[Library], Awaitable[T]]) -> T:
    try:
        return with_library(args.db, work)
    except (UserDataError, TemplateError, ValueError) as exc:
        print(f"lora-manager: error: {exc}", file=sys.stderr)
        return FAILED


def _print(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    print(json.dumps(doc, ensure_ascii=False, indent=2) if args.json else text)


def _problems_text(problems: list[Any]) -> str:
    return "".join(f"\n  {p.kind.value}: {p.path}: {p.message}" for p in problems)


async def _adapter_ids(library: Library, refs: list[str]) -> list[int]:
    from lora_manager_gui.db.user_data import resolve_adapter

    ids = []
    for ref in refs:
        found = await library.db.call(resolve_adapter, ref)
        if found is None:
            raise UserDataError(f"no adapter matches {ref!r} (give an id, a model file path or a unique name)")
        ids.append(found)
    return ids


def _words(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(w for w in text.split(",") if w.strip())


def cmd_edit(args: argparse.Namespace) -> int:
    from lora_manager_gui.services.user_data import edit
    from lora_manager_gui.services.user_data_sidecars import SidecarFormats

    if args.sidecars == "existing":
        formats = SidecarFormats.existing()
    elif args.sidecars == "none":
        formats = SidecarFormats.none()
    else:
        formats = SidecarFormats.of(f.strip() for f in args.sidecars.split(",") if f.strip())
    change = UserDataEdit(
        rating=args.rating, clear_rating=args.clear_rating, favorite=args.favorite, notes=args.notes,
        tags=_words(args.tags), add_tags=tuple(args.add_tag), remove_tags=tuple(args.remove_tag),
        preferred_weight=args.weight, clear_weight=args.clear_weight, trigger_words=_words(args.triggers),
        exclude=args.exclude)

    async def work(library: Library) -> Any:
        return await edit(library.db, library.pool, await _adapter_ids(library, args.adapters), change, formats=formats)

    report = _run(args, work)
    if report is FAILED:
        return 2
    _print(args, report.to_json(), f"{len(report.edited)} edited, {report.unchanged} unchanged, "
           f"{len(report.sidecars_written)} sidecar(s) written{_problems_text(report.problems)}")
    return EXIT_PROBLEMS if report.problems else 0


def cmd_collection(args: argparse.Namespace) -> int:
    from lora_manager_gui.db import user_data as store

    async def work(library: Library) -> Any:
        if args.action == "list":
            return [asdict(c) for c in await library.db.call(store.collections)]
        if not args.name:
            raise UserDataError(f"collection {args.action} needs a name")
        if args.action == "show":
            found = await library.db.call(store.collection, args.name)
            if found is None:
                raise UserDataError(f"no collection named {args.name!r}")
            return asdict(found)
        if args.action == "delete":
            return {"deleted": await library.db.call(store.delete_collection, args.name)}
        ids = await _adapter_ids(library, args.adapters)
        if args.action == "add":
            return {"added": await library.db.call(store.add_to_collection, args.name, ids)}
        return {"removed": await library.db.call(store.remove_from_collection, args.name, ids)}

    result = _run(args, work)
    if result is FAILED:
        return 2
    if args.json:
        print(json.dumps({"collections": result} if isinstance(result, list) else result, ensure_ascii=False, indent=2))
    elif isinstance(result, list):
        for c in result:
            print(f"{c['name']}\t{len(c['adapter_ids'])} adapter(s)")
    else:
        print(", ".join(f"{k}: {v}" for k, v in result.items()))
    return 0


def _report_op(args: argparse.Namespace, result: Any) -> int:
    if result is FAILED:
        return 2
    if result is None:
        if args.json:
            print(json.dumps({"operation_id": None, "message": "nothing to do"}))
        else:
            print("nothing to do")
        return 0
    moves = result.plan.moves if result.dry_run else result.moved
    lines = [f"{m.src} -> {m.dst}" for m in moves]
    head = ("would move" if result.dry_run else "moved") + f" {len(moves)} file(s)"
    if result.entry_id is not None:
        head += f" (operation {result.entry_id}; `undo` puts them back)"
    text = "\n".join(lines + [head]) + _problems_text(result.problems)
    _print(args, result.to_json(), text)
    return EXIT_PROBLEMS if result.problems else 0


def cmd_move(args: argparse.Namespace) -> int:
    from lora_manager_gui.services.file_ops import move_to_folder

    return _report_op(args, _run(args, lambda lib: move_to_folder(lib.db, lib.pool, args.files, args.to, dry_run=args.dry_run)))


def cmd_rename(args: argparse.Namespace) -> int:
    from lora_manager_gui.services.file_ops import rename

    return _report_op(args, _run(args, lambda lib: rename(lib.db, lib.pool, args.file, args.new_name, dry_run=args.dry_run)))


def cmd_organize(args: argparse.Namespace) -> int:
    from lora_manager_gui.services.file_ops import organize

    return _report_op(args, _run(args, lambda lib: organize(lib.db, lib.pool, args.template,
                                                            models=args.files or None, dry_run=args.dry_run)))


def cmd_trash(args: argparse.Namespace) -> int:
    from lora_manager_gui.services.file_ops import trash
    from lora_manager_gui.services.file_ops_trash import TrashMode

    return _report_op(args, _run(args, lambda lib: trash(lib.db, lib.pool, args.files, mode=TrashMode(args.trash),
                                                         dry_run=args.dry_run)))


def cmd_undo(args: argparse.Namespace) -> int:
    from lora_manager_gui.db import operation_log
    from lora_manager_gui.services.file_ops import undo

    if args.list:
        entries = _run(args, lambda lib: lib.db.call(operation_log.entries))
        if entries is FAILED:
            return 2
        docs = [e.to_json() for e in entries]
        _print(args, {"operations": docs}, "\n".join(
            f"{d['id']}\t{d['state']}\t{d['kind']}\t{d['files']} file(s)\t{d['description']}" for d in docs) or "no operations")
        return 0
    return _report_op(args, _run(args, lambda lib: undo(lib.db, lib.pool)))


def cmd_redo(args: argparse.Namespace) -> int:
    from lora_manager_gui.services.file_ops import redo

    return _report_op(args, _run(args, lambda lib: redo(lib.db, lib.pool)))


def cmd_duplicates(args: argparse.Namespace) -> int:
    from lora_manager_gui.services import duplicates as dup
    from lora_manager_gui.services.file_ops_trash import TrashMode

    if args.clean_up:
        async def clean(lib: Library) -> Any:
            return await dup.clean_up(lib.db, lib.pool, dup.KeepRule(args.clean_up), preferred_folder=args.prefer,
                                      mode=TrashMode(args.trash), dry_run=args.dry_run)

        out = _run(args, clean)
        if out is FAILED:
            return 2
        plan, result = out
        if args.json:
            print(json.dumps({"cleanup": plan.to_json(), "operation": result.to_json()}, ensure_ascii=False, indent=2))
            return EXIT_PROBLEMS if result.problems else 0
        print("\n".join(f"keep {p}" for p in plan.keep))
        return _report_op(args, result)

    async def work(lib: Library) -> Any:
        return await lib.db.call(dup.find_duplicate_groups), await lib.db.call(dup.find_version_groups)

    found = _run(args, work)
    if found is FAILED:
        return 2
    groups, versions = found
    doc = {"duplicates": [g.to_json() for g in groups], "versions": [v.to_json() for v in versions],
           "groups": len(groups), "redundant_files": sum(len(g.files) - 1 for g in groups)}
    text = []
    for g in groups:
        text.append(f"{g.sha256[:12]}  {len(g.files)} files, {g.files[0].size:,} bytes each")
        text += [f"  {f.path}" for f in g.files]
    for v in versions:
        text.append(f"model {v.model_id}: " + ", ".join(f"{n} {ver} (version {vid})" for _, vid, n, ver in v.adapters))
    _print(args, doc, "\n".join(text) or "no duplicates")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from lora_manager_gui.db.browse import BrowseQuery, count_adapters, fetch_adapters

    from lora_manager_gui.db import user_data as store

    async def work(lib: Library) -> Any:
        query = BrowseQuery(search=args.search)
        rows = await lib.db.call(fetch_adapters, query, 0, args.limit)
        users = await lib.db.call(store.get_many, [r.id for r in rows])
        return await lib.db.call(count_adapters, query), rows, users

    found = _run(args, work)
    if found is FAILED:
        return 2
    total, rows, users = found
    doc = {"total": total, "adapters": [dict(asdict(r), user=users[r.id].to_json() if r.id in users else None)
                                        for r in rows]}

    def marks(adapter_id: int) -> str:
        data = users.get(adapter_id)
        if data is None:
            return ""
        return ("*" if data.favorite else "") + (f"{data.rating}/5" if data.rating is not None else "")

    text = "\n".join(f"{r.id}\t{r.name}\t{r.version}\t{r.base_model or ''}\t{r.creator or ''}\t{marks(r.id)}\t"
                     f"{r.file_path or ''}" for r in rows)
    _print(args, doc, (text + "\n" if text else "") + f"{len(rows)} of {total} adapter(s)")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from lora_manager_gui.services.user_data_backup import backup

    report = _run(args, lambda lib: backup(lib.db, lib.pool, args.out))
    if report is FAILED:
        return 2
    _print(args, report.to_json(), f"{report.adapters} adapter(s), {report.collections} collection(s) -> {report.path}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from lora_manager_gui.services.user_data_backup import restore

    report = _run(args, lambda lib: restore(lib.db, lib.pool, args.source))
    if report is FAILED:
        return 2
    _print(args, report.to_json(), f"{report.restored} adapter(s), {report.collections} collection(s) restored"
           + _problems_text(report.problems))
    return EXIT_PROBLEMS if report.problems else 0
