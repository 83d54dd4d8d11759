#!/usr/bin/env bash
# Ensures Debian's haproxy is installed: cmd/gateway checks
# deploy/haproxy.cfg with "haproxy -c" and runs a copy of it in front of
# three gateway processes (TestReplicasBehindHAProxy). Nothing is started
# here; the package's own service is left alone.
set -euo pipefail
if command -v haproxy >/dev/null 2>&1; then
  exit 0
fi
echo "installing Debian's haproxy..." >&2
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq haproxy >&2
