#!/usr/bin/env bash
# Ensures Debian's DCMTK and GDCM tools are installed: dump2dcm builds test
# files whose bytes are really what a modality writes, dcm2json is the
# reference reading that the parser's tests compare with, and dcmcjpeg,
# dcmcjpls, dcmcrle and gdcmconv (JPEG 2000) compress test images as
# third-party encoders; FFmpeg's ffprobe decodes the video streams the
# gateway serves (dicomweb TestVideo); libjpeg-turbo's cjpeg writes the
# 4:2:0, restart-interval, multi-scan and progressive JPEG that dcmcjpeg
# does not (codec/jpeg tests).
set -euo pipefail
if command -v dump2dcm >/dev/null 2>&1 && command -v dcm2json >/dev/null 2>&1 && command -v gdcmconv >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 && command -v cjpeg >/dev/null 2>&1; then
  exit 0
fi
echo "installing Debian's dcmtk, libgdcm-tools, ffmpeg and libjpeg-turbo-progs (about a minute)..." >&2
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq dcmtk libgdcm-tools ffmpeg libjpeg-turbo-progs >&2
