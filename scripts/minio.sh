#!/usr/bin/env bash
# Ensures the MinIO server binary used by the S3 tests (internal/testutil/miniotest)
# is cached, building it if missing, and prints its path on stdout.
#
#   scripts/minio.sh            # build if needed, print the path
#   IMGCLOUD_MINIO_BIN=/x/minio scripts/minio.sh
#
# The binary goes to $IMGCLOUD_MINIO_BIN, or by default to
# ${XDG_CACHE_HOME:-$HOME/.cache}/imgcloud/minio-bin/minio, which is where
# miniotest looks (os.UserCacheDir on Linux).
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

cache="${XDG_CACHE_HOME:-$HOME/.cache}"
bin="${IMGCLOUD_MINIO_BIN:-$cache/imgcloud/minio-bin/minio}"

if [[ ! -x "$bin" ]]; then
	dir="$(dirname "$bin")"
	mkdir -p "$dir"
	echo "minio.sh: building MinIO $MINIO_VERSION into $dir (takes about 3 minutes)..." >&2
	# Build in a scratch GOBIN so that a half-written binary never sits at
	# $bin, then move it into place.
	tmp="$(mktemp -d "$dir/.build.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	GOBIN="$tmp" go install "github.com/minio/minio@$MINIO_VERSION" >&2
	mv -f "$tmp/minio" "$bin"
	echo "minio.sh: built $bin" >&2
fi

echo "$bin"
