#!/usr/bin/env bash
# Ensures what the cgo codecs (go build -tags cgocodecs) and their tests
# need: Debian's libopenjp2 (JPEG 2000, HTJ2K) and libcharls (JPEG-LS)
# headers, pkg-config and a C compiler to build the bindings, and the
# third-party tools the tests use: opj_compress/opj_decompress (OpenJPEG)
# and OpenJPH's ojph_compress/ojph_expand (HTJ2K codestreams and their
# reference decode).
set -euo pipefail
if pkg-config --exists libopenjp2 charls 2>/dev/null && command -v gcc >/dev/null 2>&1 &&
  command -v opj_compress >/dev/null 2>&1 && command -v ojph_compress >/dev/null 2>&1; then
  exit 0
fi
echo "installing Debian's libopenjp2-7-dev, libcharls-dev, libopenjp2-tools and openjph-tools..." >&2
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq gcc pkg-config libopenjp2-7-dev libcharls-dev libopenjp2-tools openjph-tools >&2
