#!/usr/bin/env bash
# Ensures Debian's Orthanc and its DICOMweb plugin are installed for the
# test that runs Orthanc as a hospital PACS (cmd/gateway TestOrthancAsPACS).
# The test starts a private Orthanc per run on free loopback ports with its
# own storage folder; the system service is never wanted, so it is kept from
# starting during the install and stopped and disabled if it runs.
set -euo pipefail
have() {
  { command -v Orthanc >/dev/null 2>&1 || [ -x /usr/sbin/Orthanc ]; } &&
    [ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ]
}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
if ! have; then
  echo "installing Debian's orthanc and orthanc-dicomweb (about 30 s)..." >&2
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d answering 101 keeps invoke-rc.d from starting the service.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq --no-install-recommends orthanc orthanc-dicomweb >&2
  [ "$made_policy" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
fi
# Stop and disable the system service wherever an init system runs one.
if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
  $SUDO systemctl disable --now orthanc >/dev/null 2>&1 || true
elif [ -x /etc/init.d/orthanc ]; then
  $SUDO /etc/init.d/orthanc stop >/dev/null 2>&1 || true
  command -v update-rc.d >/dev/null 2>&1 && { $SUDO update-rc.d orthanc disable >/dev/null 2>&1 || true; }
fi
exit 0
