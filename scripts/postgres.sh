#!/usr/bin/env bash
# Ensures Debian's PostgreSQL server binaries (initdb, pg_ctl, postgres,
# createdb) are installed: internal/testutil/pgtest starts a private server
# from them on a free loopback port with a temporary data folder for the
# tests of the PostgreSQL index (index/postgres). Nothing is started here,
# and the package's own cluster is left alone.
set -euo pipefail
if [ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
echo "installing Debian's postgresql (about a minute)..." >&2
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq postgresql >&2
