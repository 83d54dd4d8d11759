#!/usr/bin/env bash
# Runs every test of the project, installing what the tests need first:
# a MinIO server binary (built from its Go module once, then cached),
# Chromium, DCMTK, the codec libraries, PostgreSQL, Orthanc and the npm
# clients (real DICOMweb clients). Tests run with the cgo codecs (-tags
# cgocodecs, as the Dockerfile builds); the default pure-Go build is
# vetted and built too.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== MinIO binary"
IMGCLOUD_MINIO_BIN="$(scripts/minio.sh)"
export IMGCLOUD_MINIO_BIN
echo "using $IMGCLOUD_MINIO_BIN"

echo "== Chromium (viewer tests)"
scripts/chromium.sh

echo "== DCMTK (reference reader and test-file writer)"
scripts/dcmtk.sh

echo "== codec libraries (libopenjp2, libcharls for -tags cgocodecs; OpenJPEG and OpenJPH tools)"
scripts/codecs.sh

echo "== PostgreSQL (the index backend for several replicas; tests start a private server)"
scripts/postgres.sh

echo "== HAProxy (the balancer of deploy/compose-replicas.yml: config check, replicas behind it)"
scripts/haproxy.sh

echo "== Orthanc (a hospital PACS speaking DICOMweb to the gateway)"
scripts/orthanc.sh

echo "== npm clients (OHIF v3 and v2, dicomweb-client, dcmjs; npm ci from the lock, cached)"
IMGCLOUD_NPM_CLIENTS="$(scripts/npm-clients.sh)"
export IMGCLOUD_NPM_CLIENTS
echo "using $IMGCLOUD_NPM_CLIENTS"

echo "== go vet (default build and -tags cgocodecs)"
go vet ./...
go vet -tags cgocodecs ./...

echo "== default build (pure Go, no cgo): builds, and says what it cannot decode"
CGO_ENABLED=0 go build -o /dev/null ./cmd/gateway
go test -count=1 -run 'TestNew|TestCodecsAtStart' ./codec/codecs ./cmd/gateway

echo "== go test (-tags cgocodecs)"
go test -tags cgocodecs -count=1 -timeout 25m ./...

echo "== fuzz (brief; see docs/testing.md for long runs)"
# A count, not a duration: a fuzz run whose time ends while the fuzzer is
# minimising a new input fails with "context deadline exceeded".
FUZZTIME="${FUZZTIME:-20000x}"
for target in "FuzzReadHeader ./dcm" "FuzzValidUID ./dcm" "FuzzParseQuery ./dicomweb" "FuzzAccept ./dicomweb" \
              "FuzzSTOW ./dicomweb" "FuzzReader ./internal/mpart" "FuzzVerify ./auth" "FuzzTokenDecode ./share" "FuzzPeerRequest ./federation" "FuzzDataSet ./dcm" "FuzzPDU ./dimse" "FuzzStoreStream ./dimse" \
              "FuzzDecode ./codec/jpeg" "FuzzDecode ./codec/openjpeg" "FuzzDecode ./codec/charls" "FuzzDecode ./codec/rle" \
              "FuzzRewriteHead ./dcm"; do
  set -- $target
  go test -tags cgocodecs -run '^$' -fuzz "^$1\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 1s "$2"
done
