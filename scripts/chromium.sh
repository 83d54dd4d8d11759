#!/usr/bin/env bash
# Ensures Debian's Chromium is installed for the viewer's browser tests.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/lib/chromium/chromium ]; then
  exit 0
fi
echo "installing Debian's chromium (about 20 s)..." >&2
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq chromium fonts-noto-cjk >&2
