"""The import's parse step, pinned: thousands of seeded, fuzzed inputs and a digest of what comes out.

The parse step (sidecar parsers, merge, record building, the safetensors header check, prepare_chunk)
is tuned for speed, and a faster version must behave exactly as the slower one: the same records,
the same field values, the same error classes and messages for bad input, even the message of an
unexpected exception that parse_groups turns into a failed group. This test runs the parsers over
the fixtures mutated every way a sidecar can be wrong (wrong types, nulls, empty and padded strings,
missing and extra keys, huge and deep values, several versions and files, hash hints, broken bytes)
and compares a digest of every output with the one the code gave when the test was written.

When a change of behaviour is intended, look at what changed and take the new digest:
    python tests/core/test_parse_equivalence.py /tmp/before.txt   # on the old code
    python tests/core/test_parse_equivalence.py /tmp/after.txt    # on the new code
    diff /tmp/before.txt /tmp/after.txt                            # one line per case
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import random
import struct
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

from lora_manager_gui.core.discovery import FileEntry, ImportOptions, scan_root
from lora_manager_gui.core.records import ADAPTER_FIELDS, AdapterRecord, derive_triggers
from lora_manager_gui.core.safetensors import parse_header_bytes, read_header
from lora_manager_gui.core.sidecars import parse_sidecar
from lora_manager_gui.core.sidecars.base import SidecarContext, SidecarFields, read_json_file
from lora_manager_gui.core.sidecars.group import build_record, folder_index
from lora_manager_gui.core.sidecars.merge import merge
from lora_manager_gui.services.import_parse import FolderModels, prepare_chunk

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SEED = 20240611
EXPECTED_CASES = 37391
# Problems are core.tasks.ItemProblem since issue 12 (same path, class and message; another repr);
# the sidecar mappings of issue 13 add fields (preview images, Stability Matrix's, activation-text words).
EXPECTED_DIGEST = "a9efb7dbf98a0bc8de4f4f5fd1e84fcc353af5f91a3c19cb527dd6f132329de0"

KINDS = ("json", "civitai_info", "civitai_api_info", "lora_manager", "stability_matrix")

# Values a mutation puts where a field was: every JSON type, and the strings the parsers treat
# specially (digits for ids, hex for hashes, numbers as strings for weights, unicode digits).
VALUES: list[Any] = [
    None, "", "   ", "x", "  Padded  ", "ABCDEF0123", "abcdef0123", "Model not found", "123", " 42 ", "007",
    "1.5", "nan", "inf", "-3", "1e3", "\u0661\u0662\u0663", "\u00b2", "\u00df", "\u0130stanbul", " \t\n ", "a,b, c",
    "tag1,,tag2", "E3" * 32, "e" * 64, "0x" + "ab" * 32, "g" * 64, "x" * 5000, "model.safetensors",
    "Sub/Dir/model.safetensors", "../escape.safetensors", "/abs/model.pt", "C:model.safetensors", "~/m.safetensors",
    "nul\x00byte", 0, 1, -1, 7, 2.0, 2.5, -0.0, 0.65, 1e308, 10**30, -(10**20), True, False, [], {}, ["a", " b ", ""],
    ["a", 1], [{"name": "t"}], [{"name": 3}], [{"nom": "t"}], [None], ["x,y", "  z  "], {"name": "x"}, {"username": 5},
    {"username": " u "}, {"SHA256": "abc"}, {"SHA256": "E3" * 32}, {"a": [1, {"b": None}]}, [[[[[[["deep"]]]]]]],
    [{"name": "v.safetensors", "sizeKB": 3}], '{"strength": 0.8}', '{"strength": "x"}', "{not json", '{"strength": -1}',
]

# Keys the parsers read, inserted where the fixtures lack them.
KNOWN_KEYS = sorted(
    {
        "id", "name", "description", "tags", "creator", "modelVersions", "stats", "supportsGeneration", "nsfwLevel",
        "type", "availability", "notes", "sd version", "activation text", "preferred weight", "modelId",
        "modelVersionId", "sha256", "publishedAt", "trainedWords", "baseModel", "files", "model", "downloadUrl",
        "primary", "sizeKB", "hashes", "SHA256", "username", "nsfw", "skeleton_file", "model_name", "file_name",
        "base_model", "modelDescription", "civitai", "usage_tips", "ModelName", "ModelDescription", "Nsfw", "Tags",
        "ModelType", "VersionName", "TrainedWords", "BaseModel", "ModelId", "VersionId", "Hashes", "extra_key",
    }
)

KNOWN_KEY_SET = frozenset(KNOWN_KEYS)


def _fixture(rel: str) -> Any:
    return json.loads((FIXTURES / rel).read_text("utf-8"))


def base_documents() -> list[Any]:
    """The fixtures, and the shapes they lack (Stability Matrix, a bare model, the 'not on CivitAI' files)."""
    docs = [
        _fixture(rel)
        for rel in (
            "civitai/model.json", "civitai/by_hash_lora.json", "civitai/not_found.json", "formats/civitai_info.json",
            "formats/lora_manager_metadata.json", "formats/a1111_user_metadata.json", "formats/civitai_model_api.json",
        )
    ]
    docs.append({
        "ModelName": "SM Model", "ModelDescription": "d", "Nsfw": False, "Tags": ["a", "b"], "ModelType": "LORA",
        "VersionName": "v1", "TrainedWords": ["w1, w2"], "BaseModel": "SD 1.5", "ModelId": 5, "VersionId": "6",
        "Hashes": {"SHA256": "ab" * 32, "BLAKE3": "x"}, "ImportedAt": "2024",
    })
    docs.append({"ModelName": "SM nsfw", "Nsfw": True, "Hashes": {"SHA256": " " + "AB" * 32 + " "}})
    docs.append({"name": "Bare", "modelVersions": [{"name": "v", "files": [{"name": "bare.safetensors"}]}]})
    docs.append({
        "name": "Two", "id": "77", "modelVersions": [
            {"id": 1, "name": "a", "files": [{"name": "one.safetensors", "sizeKB": 5, "hashes": {"SHA256": "aa" * 32}}]},
            {"id": 2, "name": "b", "files": [{"name": "two.safetensors", "sizeKB": 9.5}, {"name": "two.pt", "primary": True}],
             "downloadUrl": "https://x/2", "trainedWords": ["t"], "description": "vd"},
        ],
        "sha256": "bb" * 32, "modelId": "Model not found", "preferred weight": "0.7", "sd version": "SDXL",
    })
    docs.append({})
    docs.append({"skeleton_file": True, "name": "ghost"})
    docs.append({"modelId": 3, "model": {"name": "vobj", "nsfw": True, "tags": [{"name": "t1"}, "t2"]}, "files": []})
    docs.append({"model_name": "lm", "civitai": {}, "usage_tips": '{"strength": 0.5}', "sha256": "cd" * 32})
    docs.append({"name": "Odd id", "modelVersions": [{"id": "\u00b2", "files": [{"name": "odd.safetensors"}]}]})  # a ValueError
    return docs


def _slots(doc: Any, depth: int = 0) -> Iterator[tuple[Any, Any]]:
    """(container, key or index) of every value worth mutating (not deep inside image lists)."""
    if depth > 6:
        return
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield doc, key
        if key not in ("images", "metadata", "trainingDetails"):
            yield from _slots(value, depth + 1)


def _containers(doc: Any, depth: int = 0) -> Iterator[Any]:
    if depth > 6:
        return
    if isinstance(doc, (dict, list)):
        yield doc
        for value in doc.values() if isinstance(doc, dict) else doc:
            yield from _containers(value, depth + 1)


def mutate(rng: random.Random, doc: Any, count: int) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(count):
        op = rng.random()
        if op < 0.03:
            return rng.choice([[], "text", 3, None, [doc]])  # not an object at the top
        slots = list(_slots(doc))
        mapped = [(c, k) for c, k in slots if k in KNOWN_KEY_SET]  # most keys are unmapped: pick these more
        if op < 0.55 and slots:
            container, key = rng.choice(mapped if mapped and rng.random() < 0.7 else slots)
            container[key] = copy.deepcopy(rng.choice(VALUES))
        elif op < 0.68 and slots:
            container, key = rng.choice(slots)
            if isinstance(container, dict):
                del container[key]
            else:
                container.pop(key)
        elif op < 0.85:
            target = rng.choice(list(_containers(doc)) or [doc])
            if isinstance(target, dict):
                target[rng.choice(KNOWN_KEYS)] = copy.deepcopy(rng.choice(VALUES))
            elif isinstance(target, list):
                target.append(copy.deepcopy(rng.choice(target)) if target and rng.random() < 0.6 else copy.deepcopy(rng.choice(VALUES)))
        else:  # shuffle or copy a list: versions and files in another order, several of them
            lists = [c for c in _containers(doc) if isinstance(c, list) and c]
            if lists:
                target = rng.choice(lists)
                if rng.random() < 0.5:
                    rng.shuffle(target)
                else:
                    target.extend(copy.deepcopy(target[: rng.randint(1, len(target))]))
    return doc


def _strings_under(doc: Any, key: str) -> list[str]:
    return [c[key] for c in _containers(doc) if isinstance(c, dict) and isinstance(c.get(key), str)]


def contexts(rng: random.Random, doc: Any) -> list[SidecarContext]:
    names = [n.lower() for n in _strings_under(doc, "name")]
    shas = _strings_under(doc, "SHA256") + [rng.choice(["AA" * 32, "E3" * 32, "x"])]
    picked = frozenset(rng.sample(names, min(len(names), rng.randint(1, 3)))) if names else frozenset({"one.safetensors"})
    return [
        SidecarContext(),
        SidecarContext(picked),
        SidecarContext(picked, rng.choice(shas).strip().upper()),
        SidecarContext(frozenset(), rng.choice(shas).upper()),
    ]


def _outcome(call: Callable[[], Any]) -> str:
    try:
        return repr(call())
    except Exception as exc:  # the class and message are part of the behaviour
        return f"!{type(exc).__name__}: {exc}"


class Transcript:
    """One line per case: its name, a digest of its outcome, the outcome's start (to read a diff)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, name: str, outcome: str) -> None:
        digest = hashlib.sha256(outcome.encode("utf-8", "backslashreplace")).hexdigest()[:16]
        self.lines.append(f"{name} {digest} {outcome[:240]!r}")

    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.lines).encode()).hexdigest()


def sidecar_cases(rng: random.Random, out: Transcript, count: int) -> None:
    docs = base_documents()
    parsed = []
    for case in range(count):
        doc = mutate(rng, rng.choice(docs), rng.choice((0, 1, 1, 2, 3, 5)))
        ctxs = contexts(rng, doc)
        for kind in KINDS:
            for c, ctx in enumerate(rng.sample(ctxs, 2)):
                try:
                    fields = parse_sidecar(kind, f"d{case}.{kind}", doc, ctx)
                except Exception as exc:
                    out.add(f"sidecar {case} {kind} {c}", f"!{type(exc).__name__}: {exc}")
                    continue
                out.add(f"sidecar {case} {kind} {c}", repr(fields))
                parsed.append(fields)
        if len(parsed) > 4 and case % 3 == 0:
            sources = rng.sample(parsed, rng.randint(1, 4))
            out.add(f"merge {case}", _outcome(lambda: merge(sources)))
            out.add(f"merged sources {case}", repr(sources))  # a merge never changes its sources
        if len(parsed) > 200:
            del parsed[:100]


FRAGMENTS = ["a", "B", " ", ",", ", ", "  ,  ", "\t", "\n", "tag", "Tag", "TAG", "\u00df", "SS", "\u0130", "i\u0307", "x y", ""]


def trigger_cases(rng: random.Random, out: Transcript, count: int) -> None:
    for case in range(count):
        words: list[Any] = ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 6))) for _ in range(rng.randint(0, 6))]
        if rng.random() < 0.1:
            words.append(rng.choice([1, None, 2.5]))
        out.add(f"triggers {case}", _outcome(lambda: derive_triggers(words)))


def _header_bytes(rng: random.Random) -> tuple[bytes, int]:
    """A safetensors header (the JSON, maybe padded), and the data length it indexes."""
    header: dict[str, Any] = {}
    if rng.random() < 0.7:
        header["__metadata__"] = rng.choice([
            {"ss_output_name": "a", "ss_base_model_version": "sdxl_base_v1-0"}, {"n": 1, "l": [1, 2], "d": {"x": None}},
            {"big": "x" * 70_000},  # over the first read
            None, [], "", {}, "meta", {"ss_v2": "True", "modelspec.architecture": "flux-1-dev/lora"},
        ])
    offset = 0
    for i in range(rng.randint(0, 4)):
        size = rng.randint(0, 5)
        header[f"t{i}"] = {"dtype": "U8", "shape": [size], "data_offsets": [offset, offset + size]}
        offset += size
    slots = [(h, "data_offsets") for h in header.values() if isinstance(h, dict) and "data_offsets" in h]
    if slots and rng.random() < 0.4:
        container, key = rng.choice(slots)
        container[key] = rng.choice([[1], [0, 1, 2], [True, 1], [0, 1.0], [-1, 0], [3, 1], "0,1", None, [0, 10**20]])
    if rng.random() < 0.1:
        header["t_bad"] = rng.choice([1, "x", [], None])
    raw = json.dumps(header, separators=(",", ":")).encode()
    roll = rng.random()
    if roll < 0.1:
        raw += b" " * rng.randint(1, 7)
    elif roll < 0.15:
        raw = b"  " + raw
    elif roll < 0.3:
        raw = rng.choice([b"[]", b"1", b"{", b'{"a":', b"nope", b"{\xff}", b'{"a":NaN}', b'{"a":{"data_offsets":[0,1]},"a":1}', b"\xef\xbb\xbf{}", b"{}"])
    elif roll < 0.4 and raw:
        i = rng.randrange(len(raw))
        raw = raw[:i] + bytes([rng.randrange(256)]) + raw[i + 1 :] if rng.random() < 0.5 else raw[:i]
    return raw, offset


def header_cases(rng: random.Random, out: Transcript, count: int, folder: Path) -> None:
    for case in range(count):
        raw, data = _header_bytes(rng)
        size = 8 + len(raw) + data + rng.choice((0, 0, 0, -1, 1))
        check = rng.random() < 0.85
        out.add(f"header {case}", _outcome(lambda: parse_header_bytes("h.safetensors", raw, size, check_size=check)))
        if case % 4 == 0:  # the same through a file, with some lengths that lie
            n = len(raw) if rng.random() < 0.8 else rng.choice((0, 1, 2, 10**9, len(raw) + 3))
            content = struct.pack("<Q", n) + raw + b"\x00" * data
            content = content[: rng.choice((len(content), len(content), 0, 3, 8, 9))]
            path = folder / f"h{case}.safetensors"
            path.write_bytes(content)
            given = len(content) if rng.random() < 0.7 else None
            out.add(f"header file {case}", _outcome(lambda: read_header(path, size=given)).replace(str(folder), "<dir>"))


def _sidecar_bytes(rng: random.Random, doc: Any) -> bytes:
    raw = json.dumps(doc).encode()
    roll = rng.random()
    if roll < 0.03:
        return b""
    if roll < 0.05:
        return b"   \n"
    if roll < 0.08:
        return b"\xef\xbb\xbf" + raw
    if roll < 0.1:
        return raw[: len(raw) // 2]
    if roll < 0.12:
        return b'{"name": "\xff\xfe"}'
    if roll < 0.14:
        return b'{"name": "n", "modelVersions": [{"files": [], "sizeKB": NaN}]}'
    if roll < 0.15:
        return b"[" * 100_000
    return raw


def group_cases(rng: random.Random, out: Transcript, count: int, root: Path) -> None:
    """Groups on disk (sidecars of every kind, model files good and bad, names from the metadata),
    through the walk and prepare_chunk, under several options."""
    docs = base_documents()
    suffix = {"json": ".json", "civitai_info": ".civitai.info", "civitai_api_info": ".api_info.json",
              "lora_manager": ".metadata.json", "stability_matrix": ".cm-info.json"}
    good = struct.pack("<Q", 2) + b"{}"
    for g in range(count):
        folder = root / f"f{g % 7}" / ("sub" if g % 5 == 0 else "")
        (folder / "Sub" / "Dir").mkdir(parents=True, exist_ok=True)
        base = f"m{g}"
        kinds = ["json"] if rng.random() < 0.4 else rng.sample(KINDS, rng.randint(1, 3))
        for kind in kinds:
            doc = mutate(rng, rng.choice(docs), rng.choice((0, 0, 1, 2)))
            if isinstance(doc, dict) and rng.random() < 0.3:  # a model file named by the metadata
                named = rng.choice([f"m{g}.pt", f"M{g}.PT", f"other{g}.safetensors", f"Sub/Dir/n{g}.safetensors", f"n{g}", "../x.safetensors", "/abs.pt"])
                for c in _containers(doc):
                    if isinstance(c, dict) and "name" in c and "sizeKB" in c:
                        c["name"] = named
                doc["file_name"] = named if kind == "lora_manager" else doc.get("file_name")
            (folder / (base + suffix[kind])).write_bytes(_sidecar_bytes(rng, doc))
        roll = rng.random()
        if roll < 0.55:
            raw, data = _header_bytes(rng) if rng.random() < 0.3 else (b'{"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}', 2)
            (folder / (base + ".safetensors")).write_bytes(struct.pack("<Q", len(raw)) + raw + b"\x00" * data)
        elif roll < 0.65:
            (folder / (base + rng.choice((".pt", ".ckpt", ".bin")))).write_bytes(b"\x80" * rng.randint(0, 3))
        elif roll < 0.7:
            (folder / (base + ".safetensors")).write_bytes(good)
            (folder / (base + ".pt")).write_bytes(b"x")
        elif roll < 0.8:
            for name in (f"other{g}.safetensors", f"Sub/Dir/n{g}.safetensors", f"n{g}.pt"):
                if rng.random() < 0.5:
                    (folder / name).write_bytes(good)
    for path in root.rglob("*"):  # signatures hold mtimes: make them the same on every run
        if path.is_file():
            os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    scan = scan_root(str(root))
    index = folder_index(scan.models)
    stored = {group.key: i for i, group in enumerate(scan.groups) if i % 3 == 0}
    every = ImportOptions()
    variants = [every, ImportOptions(check_safetensors=False, min_model_bytes=11), ImportOptions(max_model_bytes=12, max_sidecar_bytes=3000)]
    for v, options in enumerate(variants):
        for start in range(0, len(scan.groups), 50):
            chunk = scan.groups[start : start + 50]
            if v == 2:  # a worker process's view: the model files of this chunk's folders only
                folders = {group.folder for group in chunk}
                models: Any = FolderModels({p: e for p, e in scan.models.items() if os.path.dirname(p) in folders}, folders)
            else:
                models = scan.models
            prepared = prepare_chunk(str(root), chunk, models, index, stored, options)
            claimed, prepared.claimed = sorted(prepared.claimed), set()  # a set's order is the hash seed's
            text = repr(prepared).replace(str(root), "<root>") + repr(claimed).replace(str(root), "<root>")
            out.add(f"chunk {v} {start}", text)
            for item in prepared.items:
                out.add(f"item {v} {item.key.replace(str(root), '<root>')}", repr(item).replace(str(root), "<root>"))
    for v, size in enumerate((None, 10, 10**6)):  # read_json_file on its own, with and without the walk's size
        for group in scan.groups[:40]:
            for _, entry in group.sidecars:
                given = entry.size if size is None else None
                result = _outcome(lambda: read_json_file(entry.path, size or 32 * 1024 * 1024, size=given))
                out.add(f"read {v} {entry.name}", result.replace(str(root), "<root>"))


def transcript() -> Transcript:
    rng = random.Random(SEED)
    out = Transcript()
    logger = logging.getLogger("lora_manager_gui.core.sidecars.group")
    was_disabled, logger.disabled = logger.disabled, True  # parser "bugs" met on purpose: no tracebacks
    try:
        sidecar_cases(rng, out, 3000)
        trigger_cases(rng, out, 1500)
        with tempfile.TemporaryDirectory() as tmp:
            header_cases(rng, out, 1500, Path(tmp))
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "library"
            group_cases(rng, out, 600, root)
    finally:
        logger.disabled = was_disabled
    return out


def test_parse_outputs_are_unchanged() -> None:
    out = transcript()
    assert (len(out.lines), out.digest()) == (EXPECTED_CASES, EXPECTED_DIGEST), (
        "the parse step's outputs changed: see this module's docstring to find which"
    )


def test_records_built_from_a_dict_are_what_the_class_builds() -> None:
    """build_record gives AdapterRecord its attributes as one dict (records.adapter_record_of): the
    dict must name every field, in the class's order, and the class must not need its __init__."""
    assert not hasattr(AdapterRecord, "__post_init__") and not hasattr(AdapterRecord, "__slots__")
    fields = SidecarFields(format="civitai_model", path="/l/a.json", name="A", tags=["t"], trained_words=["w, x"])
    model = FileEntry("/l/a.safetensors", "a.safetensors", "a.safetensors", 10, 20)
    record = build_record(fields, model, FileEntry("/l/a.json", "a.json", "a.json", 3, 4), ["civitai_model"])
    assert tuple(vars(record)) == ADAPTER_FIELDS == tuple(f.name for f in dataclass_fields(AdapterRecord))
    rebuilt = AdapterRecord(**vars(record))
    assert rebuilt == record and repr(rebuilt) == repr(record) and list(vars(rebuilt)) == list(vars(record))


if __name__ == "__main__":
    result = transcript()
    Path(sys.argv[1]).write_text("\n".join(result.lines) + "\n", "utf-8")
    print(len(result.lines), result.digest())
