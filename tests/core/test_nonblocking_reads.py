"""Nothing the app opens for reading can block or read without bound: a FIFO, a symlink to
/dev/zero, and a model file or sidecar swapped for a FIFO between the walk and the parse.

Every FIFO is watched by tests/fifo_watch.py: were a reader to block on it, the watchdog unblocks
it (it then reads end-of-file) and the classification asserted below fails instead of the suite
hanging.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lora_manager_gui.core.discovery import ImportOptions, scan_root
from lora_manager_gui.core.errors import FileProblemError, UnreadableFileError
from lora_manager_gui.core.files import NotRegularFileError, open_regular, open_regular_stream
from lora_manager_gui.core.hashing import autov3_file, sha256_file
from lora_manager_gui.core.safetensors import read_header, write_safetensors
from lora_manager_gui.core.sidecars.base import read_json_file
from lora_manager_gui.core.sidecars.group import folder_index, parse_group
from tests.fifo_watch import FifoWatch


@pytest.fixture
def fifo(tmp_path: Path):
    path = tmp_path / "trap.safetensors"
    os.mkfifo(path)
    with FifoWatch(path):
        yield path


@pytest.fixture
def zero_link(tmp_path: Path) -> Path:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    link = tmp_path / "zero.safetensors"
    link.symlink_to("/dev/zero")
    return link


READERS = {
    "read_header": lambda p: read_header(p),
    "read_header (walk size)": lambda p: read_header(p, size=4096),
    "sha256_file": lambda p: sha256_file(p),
    "autov3_file": lambda p: autov3_file(p),
    "read_json_file": lambda p: read_json_file(str(p)),
    "read_json_file (walk size)": lambda p: read_json_file(str(p), size=4096),
}


@pytest.mark.parametrize("reader", READERS, ids=list(READERS))
@pytest.mark.parametrize("target", ["fifo", "zero_link"])
def test_each_reader_refuses_a_fifo_and_dev_zero(reader: str, target: str, request) -> None:
    path = request.getfixturevalue(target)
    with pytest.raises(FileProblemError) as caught:
        READERS[reader](path)
    message = caught.value.message
    if "walk size" in reader and reader.startswith("read_json_file"):
        # the sidecar reader's own classes (core/sidecars/base.py): changed since the walk or too large
        assert caught.value.error_class in ("unreadable", "too_large"), message
    else:
        assert caught.value.error_class == "unreadable" and "not a regular file" in message, message


def test_open_regular_says_what_it_refused(fifo: Path, zero_link: Path, tmp_path: Path) -> None:
    with pytest.raises(NotRegularFileError, match="a FIFO"):
        open_regular(fifo)
    with pytest.raises(NotRegularFileError, match="a character device"):
        open_regular(zero_link)
    with pytest.raises(NotRegularFileError, match="a folder"):
        open_regular(tmp_path)
    good = tmp_path / "good.bin"
    good.write_bytes(b"abc")
    fd, st = open_regular(good)
    os.close(fd)
    assert st.st_size == 3
    with open_regular_stream(good) as fh:
        assert fh.read() == b"abc"


def _swap_for_fifo(path: Path) -> None:
    spare = path.with_name(path.name + ".fifo")
    os.mkfifo(spare)
    os.replace(spare, path)


def test_files_swapped_for_fifos_after_the_walk_fail_their_group_and_nothing_blocks(tmp_path: Path) -> None:
    root = tmp_path / "loras"
    root.mkdir()
    model = write_safetensors(root / "style.safetensors", {"w": b"\x00" * 64}, {"ss_base_model_version": "sdxl_base_v1-0"})
    (root / "style.civitai.info").write_text(json.dumps({"name": "v1", "model": {"name": "Style"}, "baseModel": "SDXL 1.0"}))
    other = write_safetensors(root / "other.safetensors", {"w": b"\x00" * 64})
    other_info = root / "other.civitai.info"
    other_info.write_text(json.dumps({"name": "v1", "model": {"name": "Other"}}))
    options = ImportOptions()
    scan = scan_root(str(root), options)
    groups = {g.base: g for g in scan.groups}
    assert set(groups) == {"style", "other"}
    # after the walk: the model file of one group and the sidecar of the other become FIFOs
    _swap_for_fifo(model)
    _swap_for_fifo(other_info)
    folders = folder_index(scan.models)
    with FifoWatch(model), FifoWatch(other_info):
        style = parse_group(groups["style"], scan.models, folders, options)
        other_group = parse_group(groups["other"], scan.models, folders, options)
    assert style.record is None and style.model_problem == "unreadable"
    assert any("not a regular file" in issue.message for issue in style.issues), style.issues
    assert other_group.record is None
    assert [issue.kind.value for issue in other_group.issues] == ["unreadable"], other_group.issues
    assert other.exists()  # the untouched model file is still there


def test_header_read_with_the_walks_stat_refuses_dev_zero_swapped_in(tmp_path: Path) -> None:
    model = write_safetensors(tmp_path / "m.safetensors", {"w": b"\x00" * 64})
    size = model.stat().st_size
    model.unlink()
    model.symlink_to("/dev/zero")  # what a walk that saw the regular file would not know
    with pytest.raises(UnreadableFileError, match="not a regular file"):
        read_header(model, size=size)


@pytest.mark.parametrize("target", ["fifo", "zero_link"])
def test_preview_readers_refuse_a_fifo_and_dev_zero(target: str, request, tmp_path: Path) -> None:
    from lora_manager_gui.services.previews import make_thumbnail

    path = request.getfixturevalue(target)
    with pytest.raises(UnreadableFileError, match="not a regular file"):
        make_thumbnail(path, tmp_path / "thumb.webp")
    assert not (tmp_path / "thumb.webp").exists()
