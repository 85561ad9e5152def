"""The wheel: built from a copy of the source tree, it holds the top-level resources/ as
lora_manager_gui/resources, and core/resources.py finds them from an installed copy.
(Not the slow `build` marker: a wheel and a venv take a few seconds.)"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lora_manager_gui"


def _can_build_wheels() -> str | None:
    import setuptools

    major, minor = (int(p) for p in setuptools.__version__.split(".")[:2])
    if importlib.util.find_spec("wheel") is None and (major, minor) < (70, 1):
        return f"setuptools {setuptools.__version__} needs the `wheel` package to build a wheel (pip install -e '.[test]')"
    return None


def test_pyproject_lists_every_package() -> None:
    """The packages are listed (so resources/ can be one of them): a new one must be added there."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        config = tomllib.load(fh)["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")}
    assert found - listed == set(), "packages missing from pyproject.toml [tool.setuptools] packages"
    assert listed - found == {"lora_manager_gui.resources"}
    assert config["package-dir"] == {"lora_manager_gui.resources": "resources"}


def _copy_tree(src: Path) -> Path:
    """A copy of what the wheel is built from: building writes build/ and *.egg-info into it."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PACKAGE, src / "lora_manager_gui", ignore=ignore)
    shutil.copytree(ROOT / "resources", src / "resources", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    return src


def _venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(where)],
                   check=True, timeout=120)
    return where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the tests' tree must not answer
PROBE = ("import lora_manager_gui, pathlib; from lora_manager_gui.core.resources import resources_dir, resource_path;"
         "print(pathlib.Path(lora_manager_gui.__file__).parent); print(resources_dir());"
         "print(resource_path('demo/library')); print(resource_path('icons/lora-manager.ico'))")


def _install_and_probe(python: Path, *target: str, cwd: Path) -> list[Path]:
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                              "--no-index", "--no-build-isolation", "--ignore-installed", *target],
                             capture_output=True, text=True, env=ENV, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    done = subprocess.run([str(python), "-c", PROBE], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=120)
    assert done.returncode == 0, done.stderr
    return [Path(line) for line in done.stdout.split()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    reason = _can_build_wheels()
    if reason:
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("wheel")
    src = _copy_tree(work / "src")
    dist = work / "dist"
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(dist), str(src)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = dist.glob("lora_manager_gui-*.whl")
    return built


def test_wheel_holds_every_resource(wheel: Path) -> None:
    shipped = {p.relative_to(ROOT / "resources").as_posix() for p in (ROOT / "resources").rglob("*") if p.is_file()}
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    inside = {n.removeprefix("lora_manager_gui/resources/") for n in names if n.startswith("lora_manager_gui/resources/")}
    assert "icons/lora-manager.png" in shipped and "icons/lora-manager.ico" in shipped
    assert inside == shipped
    assert not any(n.startswith("resources/") for n in names)  # nothing at the top of site-packages


def test_installed_wheel_finds_its_resources(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    package, found, demo, icon = _install_and_probe(_venv(venv), str(wheel), cwd=tmp_path)
    assert package.is_relative_to(venv)  # the installed copy, not the source tree
    assert found == package / "resources"
    assert demo.is_dir() and icon.is_file()


def test_editable_install_finds_the_top_level_resources(tmp_path: Path) -> None:
    reason = _can_build_wheels()
    if reason:
        pytest.skip(reason)
    src = _copy_tree(tmp_path / "src")
    package, found, demo, icon = _install_and_probe(_venv(tmp_path / "venv"), "-e", str(src), cwd=tmp_path)
    assert package == src / "lora_manager_gui"
    assert found == src / "resources"
    assert demo.is_dir() and icon.is_file()
