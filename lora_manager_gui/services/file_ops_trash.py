"""Where trashed files go, and how they come back.

Two trashes:

- The system trash through send2trash (PyPI), where the platform and the volume have one. On
  Linux (the freedesktop.org trash specification, which send2trash follows) the trashed file is
  found again by its `.trashinfo`, so undo can put it back and redo can send it there again
  (writing the `.trashinfo` the specification asks for). On macOS and Windows the location is
  not known to the app: such files are restored from the system's trash by the user.
- The app trash, `.lora-manager-trash/<operation>/<path relative to the root>` at the library
  root, where a volume has no system trash (send2trash refuses) or when chosen. Discovery ignores
  hidden folders, so an import never sees trashed files.
"""
from __future__ import annotations

import os
import sys
import time
from datetime import datetime
from enum import StrEnum
from urllib.parse import quote, unquote

from lora_manager_gui.services.file_ops_plan import FileMove

APP_TRASH_DIR = ".lora-manager-trash"
_INFO_SUFFIX = ".trashinfo"


class TrashMode(StrEnum):
    AUTO = "auto"  # the system trash, else the app trash
    SYSTEM = "system"
    APP = "app"


class NoSystemTrashError(OSError):
    pass


def system_trash_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("send2trash") is not None


def app_trash_folder(root: str, label: str) -> str:
    return os.path.join(root, APP_TRASH_DIR, label)


def operation_label() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 100000:05d}"


# --- the freedesktop.org trash -----------------------------------------------------------------


def _trash_of(path: str) -> tuple[str, str] | None:
    """(trash folder, name) when `path` is `<trash>/files/<name>` of a freedesktop trash."""
    files_dir, name = os.path.split(path)
    trash, last = os.path.split(files_dir)
    if last != "files" or not os.path.isdir(os.path.join(trash, "info")):
        return None
    base = os.path.basename(trash)
    if base == "Trash" or base.startswith(".Trash"):
        return trash, name
    parent = os.path.basename(os.path.dirname(trash))
    return (trash, name) if parent == ".Trash" else None


def _info_path(trash: str, name: str) -> str:
    return os.path.join(trash, "info", name + _INFO_SUFFIX)


def before_move(move: FileMove) -> None:
    """A move into a freedesktop trash (redo, or a rollback of a restore) writes its .trashinfo."""
    where = _trash_of(move.dst)
    if where is None:
        return
    trash, name = where
    topdir = os.path.dirname(trash) if os.path.basename(trash) != "Trash" else None
    original = move.src
    if topdir and original.startswith(topdir.rstrip(os.sep) + os.sep):
        original = os.path.relpath(original, topdir)
    text = f"[Trash Info]\nPath={quote(original)}\nDeletionDate={datetime.now():%Y-%m-%dT%H:%M:%S}\n"
    with open(_info_path(trash, name), "w", encoding="utf-8") as out:
        out.write(text)


def after_failed_move(move: FileMove) -> None:
    where = _trash_of(move.dst)
    if where is not None and not os.path.lexists(move.dst):
        _remove(_info_path(*where))


def after_move(move: FileMove) -> None:
    """A file taken out of a freedesktop trash leaves no .trashinfo behind."""
    where = _trash_of(move.src)
    if where is not None and not os.path.lexists(move.src):
        _remove(_info_path(*where))


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _candidate_trashes(path: str) -> list[str]:
    out: list[str] = []
    if sys.platform.startswith("linux") or sys.platform.startswith("freebsd"):
        try:
            from send2trash import plat_other

            out.append(plat_other.HOMETRASH)
            top = os.fsdecode(plat_other.find_mount_point(os.fsencode(os.path.dirname(path))))
        except (ImportError, OSError):
            return out
        uid = str(os.getuid())
        out += [os.path.join(top, ".Trash", uid), os.path.join(top, ".Trash-" + uid)]
    return out


def locate_in_trash(original: str, trashes: list[str]) -> str | None:
    """The newest trashed file whose .trashinfo names `original`."""
    best: tuple[float, str] | None = None
    stem = os.path.splitext(os.path.basename(original))[0]
    for trash in trashes:
        info_dir = os.path.join(trash, "info")
        try:
            names = [n for n in os.listdir(info_dir) if n.endswith(_INFO_SUFFIX) and n.startswith(stem)]
        except OSError:
            continue
        topdir = os.path.dirname(trash) if os.path.basename(trash) != "Trash" else None
        for name in names:
            info = os.path.join(info_dir, name)
            try:
                with open(info, encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()
                mtime = os.stat(info).st_mtime
            except OSError:
                continue
            recorded = next((unquote(line[5:]) for line in lines if line.startswith("Path=")), None)
            if recorded is None:
                continue
            if not os.path.isabs(recorded) and topdir:
                recorded = os.path.join(topdir, recorded)
            if os.path.normpath(recorded) == os.path.normpath(original):
                if best is None or mtime >= best[0]:
                    best = (mtime, os.path.join(trash, "files", name[: -len(_INFO_SUFFIX)]))
    return best[1] if best else None


def send_to_system_trash(path: str) -> str:
    """send2trash `path`; returns where it went, or '' when the platform does not say."""
    try:
        from send2trash import send2trash
        from send2trash.exceptions import TrashPermissionError
    except ImportError as exc:
        raise NoSystemTrashError(f"send2trash is not installed: {exc}") from exc
    trashes = _candidate_trashes(path)
    try:
        send2trash(path)
    except TrashPermissionError as exc:
        raise NoSystemTrashError(str(exc)) from exc
    except OSError as exc:
        if os.path.lexists(path):
            raise NoSystemTrashError(f"no system trash for {path}: {exc}") from exc
        raise
    return locate_in_trash(path, trashes) or ""
