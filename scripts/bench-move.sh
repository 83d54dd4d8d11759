#!/usr/bin/env bash
# C-MOVE benchmark (not in CI): a 500-instance series moved to DCMTK's
# storescp, from the gateway and from Orthanc side by side. See
# BENCHMARKS.md for the figures.
#
#   scripts/bench-move.sh
#
# env: SHARED (the shared harness, default ../shared/bench), N (500 instances), REPS (3 runs per server, alternating), OUT
#      (results folder, kept; default a new /tmp/gw-move-results.XXXXXX)
#
# The series: ../shared/bench gencorpus (copied and built at run time),
# one study, one series of N copies of the 64 KB MR (Explicit VR Little
# Endian). It is stored into each server with storescu, then per run a
# fresh storescp receives it and movescu asks for it at SERIES level; the
# time is movescu's wall time (association to final response: the last
# sub-operation plus one response). Every DCMTK process and Orthanc run
# with TCP_NODELAY=1 (../shared/NOTES.md). Everything listens on
# 127.0.0.1; every process started here is stopped by PID on exit.
set -euo pipefail

ROOT=$(git rev-parse --show-toplevel)
SHARED=${SHARED:-$ROOT/../shared/bench}
N=${N:-500} REPS=${REPS:-3}
[ -d "$SHARED" ] || { echo "bench-move.sh: shared harness not found at $SHARED" >&2; exit 1; }
"$ROOT/scripts/dcmtk.sh"
"$ROOT/scripts/orthanc.sh"

WORK=$(mktemp -d -t gw-move.XXXXXX)
OUT=${OUT:-$(mktemp -d -t gw-move-results.XXXXXX)}
mkdir -p "$OUT"
PIDS=()
cleanup() {
	set +e
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "== $(date +%H:%M:%S) $*" >&2; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
export TCP_NODELAY=1

log "build gateway and gencorpus"
(cd "$ROOT" && go build -o "$WORK/gateway" ./cmd/gateway)
cp -r "$SHARED/gencorpus" "$WORK/gencorpus-src" && chmod -R u+w "$WORK/gencorpus-src"
(cd "$WORK/gencorpus-src" && go build -o "$WORK/gencorpus" .)
"$WORK/gencorpus" -out "$WORK/series" -studies 1 -series 1 -instances "$N" -big 0 -seed 1 -deflated skip -today 20261125 | tail -n 2 >&2
STUDY=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["study_list"][0]; print(s["study_instance_uid"], s["series"][0]["series_instance_uid"])' "$WORK/series/corpus.json")
read -r STUDY SERIES <<<"$STUDY"

SCP_PORT=$(freeport) GW_HTTP=$(freeport) GW_DICOM=$(freeport) OR_HTTP=$(freeport) OR_DICOM=$(freeport)

log "gateway"
cat >"$WORK/aes.yaml" <<EOF
- {aet: BENCHSCU, host: 127.0.0.1, port: $SCP_PORT, institution: bench, allow: [store, query, retrieve]}
EOF
"$WORK/gateway" serve --no-auth --rate-limit 0 --data "$WORK/gw" --listen "127.0.0.1:$GW_HTTP" \
	--dicom-listen "127.0.0.1:$GW_DICOM" --dicom-aes "$WORK/aes.yaml" >"$OUT/gateway.log" 2>&1 &
PIDS+=($!)

log "Orthanc"
mkdir -p "$WORK/orthanc"
cat >"$WORK/orthanc/orthanc.json" <<EOF
{ "Name": "bench-move", "StorageDirectory": "$WORK/orthanc/storage", "IndexDirectory": "$WORK/orthanc/index",
  "StorageCompression": false, "HttpPort": $OR_HTTP, "RemoteAccessAllowed": false, "AuthenticationEnabled": false,
  "DicomServerEnabled": true, "DicomAet": "ORTHANC", "DicomPort": $OR_DICOM, "Plugins": [],
  "DicomModalities": { "bench": [ "BENCHSCU", "127.0.0.1", $SCP_PORT ] }, "SaveJobs": false }
EOF
ORTHANC=$(command -v Orthanc || echo /usr/sbin/Orthanc)
"$ORTHANC" "$WORK/orthanc/orthanc.json" >"$OUT/orthanc.log" 2>&1 &
PIDS+=($!)

for _ in $(seq 1 300); do
	if echoscu -aet BENCHSCU -aec IMGCLOUD 127.0.0.1 "$GW_DICOM" 2>/dev/null && echoscu -aet BENCHSCU -aec ORTHANC 127.0.0.1 "$OR_DICOM" 2>/dev/null; then
		break
	fi
	sleep 0.2
done

log "store the series ($N instances) into both"
storescu -aet BENCHSCU -aec IMGCLOUD +sd +r +sp "*.dcm" 127.0.0.1 "$GW_DICOM" "$WORK/series" >"$OUT/storescu-gateway.out" 2>&1
storescu -aet BENCHSCU -aec ORTHANC +sd +r +sp "*.dcm" 127.0.0.1 "$OR_DICOM" "$WORK/series" >"$OUT/storescu-orthanc.out" 2>&1

# move NAME PORT CALLED [STORESCP OPTIONS]: one run; prints seconds and
# files received.
move() {
	local name=$1 port=$2 called=$3 dir=$WORK/recv-$1
	shift 3
	rm -rf "$dir" && mkdir -p "$dir"
	storescp "$@" -od "$dir" "$SCP_PORT" >/dev/null 2>&1 &
	local scp=$!
	for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$SCP_PORT") 2>/dev/null && break; sleep 0.05; done
	local t0 t1
	t0=$(date +%s.%N)
	movescu -S -aet BENCHSCU -aec "$called" -aem BENCHSCU -k QueryRetrieveLevel=SERIES \
		-k "StudyInstanceUID=$STUDY" -k "SeriesInstanceUID=$SERIES" 127.0.0.1 "$port" >>"$OUT/movescu-$name.out" 2>&1
	t1=$(date +%s.%N)
	kill "$scp" 2>/dev/null; wait "$scp" 2>/dev/null || true
	echo "$(echo "$t1 - $t0" | bc) $(find "$dir" -type f | wc -l)"
}

# The third column: storescp accepting Implicit VR only (+xi), so the
# gateway re-encodes every data set (dcm.Reencode) on the way.
echo "| run | load | gateway | Orthanc | ratio | gateway, re-encoded to implicit VR |" | tee "$OUT/summary.md"
echo "|---|---|---|---|---|---|" | tee -a "$OUT/summary.md"
rate() { printf '%.2f s, %.0f inst/s (%d received)' "$1" "$(echo "$2 / $1" | bc -l)" "$2"; }
for r in $(seq 1 "$REPS"); do
	read -r gs gn <<<"$(move gateway "$GW_DICOM" IMGCLOUD)"
	read -r os on <<<"$(move orthanc "$OR_DICOM" ORTHANC)"
	read -r is in <<<"$(move implicit "$GW_DICOM" IMGCLOUD +xi)"
	load=$(cut -d' ' -f1 /proc/loadavg)
	printf '| %d | %s | %s | %s | %.1fx | %s |\n' "$r" "$load" "$(rate "$gs" "$gn")" "$(rate "$os" "$on")" \
		"$(echo "$os / $gs" | bc -l)" "$(rate "$is" "$in")" | tee -a "$OUT/summary.md"
done
log "results in $OUT"
