#!/bin/sh
# The system libraries Qt (PySide6) needs on Linux, installed where they are missing.
#
#   sh scripts/install-system-libs.sh          the libraries the window and the offscreen tests load
#   sh scripts/install-system-libs.sh --gui    also Xvfb and a small window manager (openbox), for
#                                              the tests marked `gui` that run the app on a real X server
#
# On Debian and Ubuntu it installs the missing packages with apt-get (through sudo when not root);
# elsewhere, and off Linux, it installs nothing and says what to look for. It changes nothing when
# everything is there, so it is safe to run before every install.
set -eu

[ "$(uname -s)" = Linux ] || exit 0

# What libqxcb.so, libQt6Gui and libQt6DBus of PySide6's wheels link to, by Debian package name.
pkgs="libgl1 libegl1 libfontconfig1 libfreetype6 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0
libx11-6 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
libxcb-randr0 libxcb-render0 libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1
libxcb-util1 libxcb-xfixes0 libxcb-xkb1"
glib=libglib2.0-0
if [ "${1:-}" = "--gui" ]; then
  pkgs="$pkgs xvfb openbox x11-utils xauth"
fi

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-system-libs: not a Debian/Ubuntu system; make sure your distribution's packages for" >&2
  echo "  OpenGL/EGL, fontconfig, xkbcommon(-x11), and xcb (cursor, icccm, image, keysyms, randr, render-util, shape, xkb) are installed" >&2
  exit 0
fi

# Ubuntu 24.04 renamed some libraries with a t64 suffix; take the name the archive knows.
if ! dpkg-query -W -f='${Status}' "$glib" 2>/dev/null | grep -q "ok installed"; then
  if dpkg-query -W -f='${Status}' "${glib}t64" 2>/dev/null | grep -q "ok installed"; then
    glib="${glib}t64"
  fi
fi
pkgs="$pkgs $glib"

missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $p"
  fi
done
[ -n "$missing" ] || exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-system-libs: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
if ! $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
  # An older or newer archive may name the glib package the other way round.
  alt=$(echo "$missing" | sed "s/libglib2.0-0t64/libglib2.0-0/; t; s/libglib2.0-0\b/libglib2.0-0t64/")
  $sudo apt-get install -y -qq --no-install-recommends $alt >/dev/null
fi
