"""Property-style tests: seeded random JSON (huge and non-finite numbers, lone surrogates, wrong
types, deep nesting) fed to the CivitAI answer parser, and served by the local CivitAI to identify.

Whatever comes: no exception but a classified CivitaiError escapes the parser, nothing escapes
identify, every accepted record has ids SQLite can hold and JSON the library can store, and the good
neighbour in the same batch is stored as found.
"""
from __future__ import annotations

import asyncio
import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest

from lora_manager_gui.core.civitai_errors import CivitaiError, CivitaiMalformedAnswerError
from lora_manager_gui.core.civitai_records import (
    MAX_ID,
    parse_model_page,
    parse_version,
    parse_version_batch,
    storable,
)
from lora_manager_gui.db import civitai_store as store
from lora_manager_gui.services.civitai_body import decode_json
from tests.civitai_server import fixture_json
from tests.services.test_identify import env, make_files, run_identify, sha_of  # noqa: F401  (env is a fixture)

SCALARS: list[Any] = [
    None, True, False, 0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**30, -(10**30), float("inf"), float("-inf"),
    float("nan"), 1e308, -0.0, 5e-324, 1.5, "", "x", "\ud800", "a\udfffb", "\ud83d", "<html>", "\x00\x1f", "ü" * 3,
    "9000", "1e400", [], {},
]


def deep(rng: random.Random, levels: int) -> Any:
    """A chain of `levels` nested lists/dicts, built without recursion."""
    root: Any = [] if rng.random() < 0.5 else {}
    node = root
    for _ in range(levels):
        child: Any = [] if rng.random() < 0.5 else {}
        if isinstance(node, list):
            node.append(child)
        else:
            node["k"] = child
        node = child
    return root


def random_value(rng: random.Random, *, max_depth: int, level: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.45 or level >= 3:
        value = rng.choice(SCALARS)
        return copy.copy(value)
    if roll < 0.55:
        return rng.randint(-(2**70), 2**70)
    if roll < 0.62:
        return "".join(chr(rng.choice([rng.randint(0, 0x7F), rng.randint(0xD800, 0xDFFF), rng.randint(0x80, 0x10FFFF)]))
                       for _ in range(rng.randint(0, 12)))
    if roll < 0.70:
        return deep(rng, rng.randint(min(10, max_depth), max_depth))
    if roll < 0.85:
        return [random_value(rng, max_depth=max_depth, level=level + 1) for _ in range(rng.randint(0, 4))]
    keys = ["id", "modelId", "files", "hashes", "SHA256", "name", "\ud800", "images", "url", "x"]
    return {rng.choice(keys): random_value(rng, max_depth=max_depth, level=level + 1) for _ in range(rng.randint(0, 4))}


def mutate(rng: random.Random, version: dict[str, Any], *, max_depth: int) -> dict[str, Any]:
    """`version` with one to three random places replaced, deleted or added."""
    out = copy.deepcopy(version)
    for _ in range(rng.randint(1, 3)):
        places: list[tuple[Any, Any]] = [(out, k) for k in out]
        for f in out.get("files") if isinstance(out.get("files"), list) else []:
            if isinstance(f, dict):
                places += [(f, k) for k in f]
                if isinstance(f.get("hashes"), dict):
                    places += [(f["hashes"], k) for k in f["hashes"]]
        for image in out.get("images") if isinstance(out.get("images"), list) else []:
            if isinstance(image, dict):
                places += [(image, k) for k in image]
        container, key = rng.choice(places)
        action = rng.random()
        if action < 0.15:
            del container[key]
        elif action < 0.25:
            container[rng.choice(["extra", "\udc80", "files", "modelId"])] = random_value(rng, max_depth=max_depth)
        else:
            container[key] = random_value(rng, max_depth=max_depth)
    return out


def check_record(version: Any) -> None:
    assert 1 <= version.id <= MAX_ID and type(version.id) is int
    assert version.model_id is None or (type(version.model_id) is int and 1 <= version.model_id <= MAX_ID)
    assert all(f.id is None or 1 <= f.id <= MAX_ID for f in version.files)
    assert storable(version.raw)


def test_the_parser_takes_any_json_value_without_an_unclassified_exception() -> None:
    rng = random.Random(20261203)
    good = fixture_json("by_hash_lora.json")
    model = fixture_json("model.json")
    for case in range(400):
        mutant = mutate(rng, good, max_depth=3000)
        batch = parse_version_batch([copy.deepcopy(good), mutant, None, random_value(rng, max_depth=50)])
        assert batch.versions and batch.versions[0].id == good["id"], case
        for version in batch.versions:
            check_record(version)
        try:
            check_record(parse_version(mutant))
        except CivitaiMalformedAnswerError:
            pass
        try:  # the same answer as it comes over the wire, where JSON has its own idea of numbers
            text = json.dumps([good, mutant]).encode("utf-8", "surrogatepass")
        except (RecursionError, ValueError):
            text = None
        if text is not None:
            try:
                wire = decode_json(text)
            except ValueError:  # too deep for any JSON parser: the whole answer is malformed
                wire = None
            if wire is not None:
                assert parse_version_batch(wire).versions[0].id == good["id"], case
        for value in (random_value(rng, max_depth=300), mutant):
            for parser in (parse_version_batch, parse_model_page, parse_version):
                try:
                    parser(value)
                except CivitaiError:
                    pass
        page = parse_model_page({"items": [model, mutant], "metadata": {"nextCursor": random_value(rng, max_depth=5)}})
        assert page.items[0].id == model["id"], case


def test_identify_survives_random_answers_and_stores_the_good_neighbour(env, fake_civitai,  # noqa: F811
                                                                         tmp_path: Path) -> None:
    files = make_files(tmp_path, fake_civitai, 2)
    good_sha, odd_sha = sha_of(files[0]), sha_of(files[1])
    original = copy.deepcopy(fake_civitai.catalogue.versions[9001])
    dbx, _ = env
    rng = random.Random(41)
    for case in range(30):
        mutant = mutate(rng, original, max_depth=400)  # deeper than ~1,000 levels no JSON parser reads a body
        fake_civitai.catalogue.versions[9001] = mutant
        report = run_identify(env, fake_civitai, files, refresh_found=True)
        assert dbx.call_sync(store.status_for_sha256, good_sha) == "found", case
        by_path = {item.path: item for item in report.items}
        assert by_path[str(files[0])].status == "found", case
        odd = by_path[str(files[1])]
        try:
            parsed = parse_version(decode_json(json.dumps(mutant).encode("utf-8", "surrogatepass")))
        except CivitaiMalformedAnswerError:
            parsed = None
        if parsed is None:  # an untrusted answer is a failure, asked again next run: never "not found"
            assert (odd.status, odd.error_class) == ("failed", "malformed_answer"), case
        elif odd_sha in parsed.sha256s:
            assert odd.status == "found" and odd.version_id == parsed.id, case
        else:  # a sane answer about some other file: this file really was not in it
            assert odd.status in ("not_found", "found"), case
        assert report.outcome() is not None and isinstance(report.problems, list)


@pytest.mark.parametrize("seed", range(3))
def test_random_whole_bodies_fail_the_batch_cleanly(env, fake_civitai, tmp_path: Path, seed: int) -> None:  # noqa: F811
    files = make_files(tmp_path, fake_civitai, 1)
    rng = random.Random(seed)
    for _ in range(5):
        body = random_value(rng, max_depth=200)
        fake_civitai.clear_faults()
        fake_civitai.add_fault("by-hash", "body", payload=json.dumps(body), times=None)
        report = run_identify(env, fake_civitai, files, refresh_found=True, autov3_fallback=False,
                              recheck_not_found_days=0)
        [item] = report.items
        assert item.status in ("failed", "not_found"), body
        if item.status == "not_found":  # only a list of nothing trustworthy about this file
            assert isinstance(body, list)
