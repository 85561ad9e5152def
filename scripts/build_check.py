"""Check a built desktop build against the source tree (run by scripts/check_build.sh).

    python scripts/build_check.py dist/lora-manager/lora-manager

Runs the executable and `python -m lora_manager_gui` side by side on the same inputs and compares:
`--version` (= pyproject's version), `--screenshot` over the demo library shipped *in the build*
(a non-blank PNG of the window's size), `import --json` of a small real library tree, `inspect
--json` of a ComfyUI prompt against it, and `identify --json` against the fake CivitAI server of
the test suite. Also checks the build holds the resources, the package metadata and the Qt plugins
the app needs, and that every bundled plugin finds the libraries it links to.
Prints one line per check; exits 1 on the first failure, saying what differed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lora_manager_gui.core.safetensors import write_safetensors  # noqa: E402
from lora_manager_gui.ui.screenshot import SIZE as SCREENSHOT_SIZE  # noqa: E402
from tests.civitai_server import FakeCivitai  # noqa: E402

FORMATS = ROOT / "tests" / "fixtures" / "formats"
STACK = FORMATS / "comfy_prompt_api.json"
TIMEOUT_S = 240
# Keys whose values legitimately differ between two runs of the same command: timings, and when a
# piece of data was obtained (each run imports into its own database, maybe a second apart).
VOLATILE_KEYS = {"duration_s", "time_per_file_ms", "seconds", "fetched_at", "checked_at"}
QT_PLUGINS_REQUIRED = {
    "platforms": ("qxcb", "qwayland", "qoffscreen", "qminimal"),
    "imageformats": ("qjpeg", "qwebp", "qgif", "qico"),
    "iconengines": ("qsvgicon",),
}


class CheckFailedError(Exception):
    """One check of the build failed; the message says which and how."""


LARGE_IMPORT = 2500  # over services/import_workers.PROCESS_THRESHOLD


def ok(message: str) -> None:
    print(f"  ok  {message}", flush=True)


class Runner:
    """Runs the same command line through the build and through the source tree."""

    def __init__(self, exe: Path, work: Path) -> None:
        self.exe = exe
        self.env = {k: v for k, v in os.environ.items() if k not in ("CIVITAI_API_KEY", "LORA_MANAGER_DB")}
        self.env["QT_QPA_PLATFORM"] = "offscreen"
        for var in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
            self.env[var] = str(work / "home" / var.lower())  # logs, settings, caches: never the user's

    def run(self, which: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        command = [str(self.exe)] if which == "build" else [sys.executable, "-m", "lora_manager_gui"]
        try:
            result = subprocess.run([*command, *args], capture_output=True, text=True, cwd=ROOT,
                                    env={**self.env, **(env or {})}, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise CheckFailedError(f"{which}: `{' '.join(args)}` did not finish in {TIMEOUT_S} s") from exc
        if result.returncode != 0:
            raise CheckFailedError(f"{which}: `{' '.join(args)}` exited {result.returncode}:\n{result.stderr[-3000:]}")
        return result

    def both_json(self, name: str, args_for: dict[str, list[str]], env: dict[str, str] | None = None) -> Any:
        outputs = {}
        for which in ("source", "build"):
            out = self.run(which, *args_for[which], env=env).stdout
            try:
                outputs[which] = json.loads(out)
            except json.JSONDecodeError as exc:
                raise CheckFailedError(f"{which}: `{name}` did not print JSON ({exc}):\n{out[:2000]}") from exc
        source, build = (strip_volatile(outputs[k]) for k in ("source", "build"))
        diffs = differences(source, build)
        if diffs:
            raise CheckFailedError(f"`{name}` differs between the source tree and the build:\n  "
                                   + "\n  ".join(diffs[:20]))
        return outputs["build"]


def strip_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_volatile(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [strip_volatile(v) for v in value]
    return value


def differences(source: Any, build: Any, where: str = "$") -> list[str]:
    """Where two JSON values differ, as `path: source value != build value` lines."""
    if isinstance(source, dict) and isinstance(build, dict):
        out = []
        for key in sorted(source.keys() | build.keys()):
            if key not in build or key not in source:
                out.append(f"{where}.{key}: only in {'source' if key in source else 'build'}")
            else:
                out += differences(source[key], build[key], f"{where}.{key}")
        return out
    if isinstance(source, list) and isinstance(build, list) and len(source) == len(build):
        return [d for i, (a, b) in enumerate(zip(source, build)) for d in differences(a, b, f"{where}[{i}]")]
    if source != build:
        return [f"{where}: {json.dumps(source)[:300]} != {json.dumps(build)[:300]}"]
    return []


def pyproject_version() -> str:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def check_contents(internal: Path) -> None:
    resources = internal / "lora_manager_gui" / "resources"
    for relative in ("icons/lora-manager.png", "demo/library", "demo/stacks/watercolor_noir_prompt.json"):
        if not (resources / relative).exists():
            raise CheckFailedError(f"the build lacks the resource {relative} (looked in {resources})")
    metadata = list(internal.glob("lora_manager_gui*-info"))
    if not metadata:
        raise CheckFailedError(f"the build lacks the package metadata (lora_manager_gui*.dist-info) in {internal}")
    plugins = internal / "PySide6" / "Qt" / "plugins"
    for kind, names in QT_PLUGINS_REQUIRED.items():
        for name in names:
            if not any(p.name.split(".")[0].removeprefix("lib") == name for p in (plugins / kind).glob("*")):
                raise CheckFailedError(f"the build lacks the Qt plugin {kind}/{name} (looked in {plugins / kind})")
    ok(f"resources, metadata ({metadata[0].name}) and Qt plugins ({', '.join(QT_PLUGINS_REQUIRED)}) are bundled")


def unresolved(library: Path, env: dict[str, str]) -> set[str]:
    out = subprocess.run(["ldd", str(library)], capture_output=True, text=True, env=env).stdout
    return set(re.findall(r"^\s*(\S+) => not found", out, re.M))


def check_plugin_libraries(internal: Path) -> None:
    """Every bundled plugin must resolve the libraries it links to, except those the host itself
    lacks (e.g. xcb-util on a headless machine): those are the user's system libraries, as for Qt."""
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        print("  --  plugin library check skipped (Linux with ldd only)")
        return
    import PySide6

    source_plugins = Path(PySide6.__file__).parent / "Qt" / "plugins"
    env = {**os.environ, "LD_LIBRARY_PATH": f"{internal}:{internal / 'PySide6' / 'Qt' / 'lib'}"}
    plugins = sorted((internal / "PySide6" / "Qt" / "plugins").rglob("*.so"))
    for plugin in plugins:
        relative = plugin.relative_to(internal / "PySide6" / "Qt" / "plugins")
        missing = unresolved(plugin, env) - unresolved(source_plugins / relative, dict(os.environ))
        if missing:
            raise CheckFailedError(f"the bundled plugin {relative} cannot find {sorted(missing)}: "
                                   "build.spec dropped a library it needs")
    ok(f"all {len(plugins)} bundled Qt plugins resolve their libraries")


def check_screenshot(runner: Runner, internal: Path, work: Path) -> None:
    from PIL import Image

    demo = internal / "lora_manager_gui" / "resources" / "demo" / "library"
    db = work / "demo.sqlite3"
    report = json.loads(runner.run("build", "--db", str(db), "import", str(demo), "--json").stdout)
    if not report["imported"]:
        raise CheckFailedError(f"the build imported nothing from its own demo library {demo}: {report}")
    out = work / "screenshot.png"
    runner.run("build", "--db", str(db), "--screenshot", str(out))
    if not out.is_file():
        raise CheckFailedError(f"--screenshot exited 0 but wrote no file at {out}")
    with Image.open(out) as image:
        size, colours = image.size, image.convert("RGB").getcolors(maxcolors=1 << 20)
    if size != SCREENSHOT_SIZE:
        raise CheckFailedError(f"the screenshot is {size[0]}x{size[1]}, not the window's {SCREENSHOT_SIZE}")
    if colours is None or len(colours) < 64:
        raise CheckFailedError(f"the screenshot {out} is nearly blank ({len(colours or [])} colours)")
    ok(f"--screenshot over the bundled demo library ({report['imported']} adapters): "
       f"{size[0]}x{size[1]} PNG, {len(colours):,} colours")


def make_library(root: Path) -> dict[str, Path]:
    """A small real tree: a LoRA with a CivitAI model JSON, two orphans, one broken sidecar."""
    files = {
        "pixel": root / "sdxl" / "styles" / "pixel-art-xl-v1.1.safetensors",
        "detail": root / "sdxl" / "detail" / "add-detail-xl.safetensors",
        "unknown": root / "misc" / "unknown.safetensors",
        "broken": root / "misc" / "broken.safetensors",
    }
    for i, (key, path) in enumerate(files.items()):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_safetensors(path, {"lora_up.weight": bytes([i]) * 64}, {"ss_output_name": key})
    shutil.copy(FORMATS / "civitai_model_api.json", files["pixel"].with_suffix(".json"))
    files["broken"].with_suffix(".json").write_text('{"modelVersions": [', encoding="utf-8")
    return files


def make_large_library(root: Path, count: int) -> None:
    """`count` LoRAs with CivitAI model JSON sidecars: enough for the import to parse in worker processes."""
    template = json.loads((FORMATS / "civitai_model_api.json").read_text("utf-8"))
    for i in range(count):
        folder = root / f"set{i % 16:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        data = dict(template, id=500_000 + i, name=f"Bulk LoRA {i:05d}")
        version = dict(template["modelVersions"][0], id=5_000_000 + i, name="v1")
        version["files"] = [dict(version["files"][0], name=f"bulk_{i:05d}.safetensors")]
        data["modelVersions"] = [version]
        (folder / f"bulk_{i:05d}.json").write_text(json.dumps(data), "utf-8")
        write_safetensors(folder / f"bulk_{i:05d}.safetensors", {"w": bytes([i % 256]) * 16})


def check_large_import(runner: Runner, work: Path) -> None:
    """A frozen app must start the import's worker processes (forkserver or spawn, freeze_support) and import the same."""
    library = work / "large"
    make_large_library(library, LARGE_IMPORT)
    dbs = {which: work / f"large-{which}.sqlite3" for which in ("source", "build")}
    report = runner.both_json("import --json (large)", {k: ["--db", str(db), "import", str(library), "--json"]
                                                        for k, db in dbs.items()})
    if report["imported"] != LARGE_IMPORT or report["failed"]:
        raise CheckFailedError(f"the large import gave {report['imported']} imported, {report['failed']} failed")
    if (os.cpu_count() or 1) >= 2:
        db = work / "large-build-verbose.sqlite3"
        log = runner.run("build", "--db", str(db), "-v", "import", str(library), "--json").stderr
        if "worker processes" not in log or "parsing in threads" in log or "stopped" in log:
            raise CheckFailedError(f"the build did not parse the large import in worker processes:\n{log[-2000:]}")
    ok(f"import --json of {LARGE_IMPORT:,} sidecars is the same, parsed in worker processes by the build")


def main(exe_arg: str) -> int:
    exe = Path(exe_arg).resolve()
    if not exe.is_file() or not os.access(exe, os.X_OK):
        raise CheckFailedError(f"no executable at {exe}: build it first (pyinstaller --noconfirm build.spec)")
    internal = exe.parent / "_internal"
    work = Path(tempfile.mkdtemp(prefix="lm-build-check-"))
    try:
        runner = Runner(exe, work)
        expected = f"lora-manager {pyproject_version()}"
        for which in ("source", "build"):
            got = runner.run(which, "--version").stdout.strip()
            if got != expected:
                raise CheckFailedError(f"{which}: --version printed {got!r}, pyproject says {expected!r}")
        ok(f"--version prints {expected!r} from the build and the source tree")

        check_contents(internal)
        check_plugin_libraries(internal)
        check_screenshot(runner, internal, work)

        library = work / "library"
        files = make_library(library)
        dbs = {which: work / f"{which}.sqlite3" for which in ("source", "build")}
        report = runner.both_json("import --json", {k: ["--db", str(db), "import", str(library), "--json"]
                                                    for k, db in dbs.items()})
        ok(f"import --json is the same: {report['imported']} imported, {len(report['orphans'])} orphans, "
           f"failed by class {report['failed_by_class']}")

        document = runner.both_json("inspect --json", {k: ["--db", str(db), "inspect", str(STACK), "--json"]
                                                       for k, db in dbs.items()})
        found = sum(1 for lora in document["loras"] if lora["file"]["exists"])
        ok(f"inspect --json is the same: {len(document['loras'])} LoRAs, {found} resolved in the library")

        with FakeCivitai() as server:
            sha = hashlib.sha256(files["detail"].read_bytes()).hexdigest().upper()
            server.catalogue.add_synthetic(sha, version_id=9001, model_id=901, name="Add Detail XL")
            identify = runner.both_json("identify --json", {k: ["--db", str(db), "identify", "--json"]
                                                            for k, db in dbs.items()},
                                        env={"CIVITAI_BASE_URL": server.base_url})
        ok(f"identify --json is the same: looked up {identify['looked_up']}, found {identify['found']}, "
           f"not found {identify['not_found']}, failed {identify['failed']}, {identify['requests']} requests")

        check_large_import(runner, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        sys.exit(main(sys.argv[1]))
    except CheckFailedError as exc:
        print(f"build check FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
