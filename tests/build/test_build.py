"""The desktop build: `scripts/check_build.sh` builds build.spec and checks the executable against the
source tree. Minutes of work, so it runs only when asked: LORA_MANAGER_BUILD_TESTS=1 (as .ci/run does)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 40 * 60

pytestmark = [
    pytest.mark.build,
    pytest.mark.skipif(os.environ.get("LORA_MANAGER_BUILD_TESTS") != "1",
                       reason="set LORA_MANAGER_BUILD_TESTS=1 to build and check the desktop build"),
]


def test_desktop_build_behaves_as_the_source_tree() -> None:
    result = subprocess.run(["bash", str(ROOT / "scripts" / "check_build.sh")], cwd=ROOT, capture_output=True,
                            text=True, timeout=BUILD_TIMEOUT_S)
    print(result.stdout)
    assert result.returncode == 0, f"scripts/check_build.sh failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert "check_build: OK" in result.stdout
