"""core/, db/ and services/ must never import Qt (DESIGN.md: dependencies point down only)."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def test_core_db_services_do_not_import_qt() -> None:
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import lora_manager_gui
        for pkg_name in ("core", "db", "services"):
            pkg = importlib.import_module(f"lora_manager_gui.{pkg_name}")
            for info in pkgutil.walk_packages(pkg.__path__, prefix=f"lora_manager_gui.{pkg_name}."):
                importlib.import_module(info.name)
        bad = sorted(m for m in sys.modules if m.startswith(("PySide6", "shiboken6", "qasync")))
        print("QT:" + ",".join(bad))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "QT:\n" in out.stdout + "\n" and out.stdout.strip() == "QT:", out.stdout + out.stderr


def test_core_does_not_import_peewee_or_httpx() -> None:
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import lora_manager_gui.core as pkg
        for info in pkgutil.walk_packages(pkg.__path__, prefix="lora_manager_gui.core."):
            importlib.import_module(info.name)
        print(sorted(m for m in sys.modules if m.split(".")[0] in {"peewee", "httpx", "PySide6"}))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
