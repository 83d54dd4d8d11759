#!/usr/bin/env bash
# Ensures the third-party DICOMweb clients the tests run against the
# gateway (OHIF Viewer v3 and v2, dicomweb-client, dcmjs; pinned in
# internal/testutil/npmtest/package-lock.json) are installed, and prints
# their node_modules folder on stdout.
#
#   scripts/npm-clients.sh
#   IMGCLOUD_NPM_CLIENTS=/x/node_modules scripts/npm-clients.sh
#
# They are installed with "npm ci" from the lock file (nothing else is
# downloaded, and no install script runs) into
# ${XDG_CACHE_HOME:-$HOME/.cache}/imgcloud/npm-clients/<hash of the lock>/,
# which is where npmtest looks; a second run finds them there at once.
set -euo pipefail
cd "$(dirname "$0")/.."
src=internal/testutil/npmtest

if [[ -n "${IMGCLOUD_NPM_CLIENTS:-}" ]]; then
	echo "$IMGCLOUD_NPM_CLIENTS"
	exit 0
fi
hash="$(cat "$src/package.json" "$src/package-lock.json" "$src/.npmrc" "$src/stub/package.json" | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}"
dir="$cache/imgcloud/npm-clients/$hash"

if [[ ! -f "$dir/installed" ]]; then
	command -v npm >/dev/null || { echo "npm-clients.sh: npm not found (install Node.js 20 or later)" >&2; exit 1; }
	echo "npm-clients.sh: npm ci into $dir (about 50 MB, once)..." >&2
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$src/package.json" "$src/package-lock.json" "$src/.npmrc" "$dir/"
	cp -r "$src/stub" "$dir/"
	(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
	touch "$dir/installed"
	# Installs of older lock files are not used again.
	find "$(dirname "$dir")" -mindepth 1 -maxdepth 1 ! -name "$hash" -exec rm -rf {} +
fi
echo "$dir/node_modules"
