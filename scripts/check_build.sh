#!/usr/bin/env bash
# Build the desktop build (build.spec) and check it behaves as the source tree does.
#
#   bash scripts/check_build.sh            # install the build extra, build, check
#   SKIP_INSTALL=1 bash scripts/check_build.sh   # the build extra is already installed
#
# Exits non-zero with a message saying which step failed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
DIST="dist/lora-manager"
EXE="$DIST/lora-manager"
export QT_QPA_PLATFORM=offscreen

fail() { echo "check_build: FAILED: $*" >&2; exit 1; }

if [ "${SKIP_INSTALL:-0}" != "1" ]; then
  echo "== installing the build extra"
  "$PYTHON" -m pip install -q -e '.[build]' || fail "pip install -e '.[build]' failed"
fi

echo "== building $DIST with PyInstaller $("$PYTHON" -m PyInstaller --version)"
start=$(date +%s)
log="$(mktemp -t lm-pyinstaller.XXXXXX.log)"
if ! "$PYTHON" -m PyInstaller --noconfirm --clean build.spec >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  fail "pyinstaller build.spec failed (full log: $log)"
fi
seconds=$(( $(date +%s) - start ))
[ -x "$EXE" ] || fail "the build finished but $EXE is not there"
grep '^build.spec:' "$log" || true
rm -f "$log"
size=$(du -sh "$DIST" | cut -f1)
files=$(find "$DIST" -type f | wc -l)
echo "built $DIST in ${seconds} s: ${size} on disk, ${files} files"

echo "== checking the build against the source tree"
"$PYTHON" scripts/build_check.py "$EXE" || fail "the build does not behave as the source tree (see above)"
echo "check_build: OK ($DIST, ${size}, built in ${seconds} s)"
