#!/usr/bin/env bash
# C-STORE throughput of the gateway's DICOM port beside Orthanc's, with
# DCMTK's storescu over 4 parallel associations (BENCHMARKS.md, "DICOM
# C-STORE"). Not part of the tests: run it by hand on a quiet machine.
#
#   scripts/bench-dimse.sh
#
# env: STUDIES (200) BIG (6) REPS (2 paired runs) ASSOCS (4)
#      CORPUS (a gencorpus folder to reuse; default: generated here)
#      OUT (results folder, kept; default a new /tmp/gw-dimse-bench.XXXXXX)
#      SKIP_ORTHANC=1 (the gateway alone) SHARED (the harness, default ../shared/bench)
#
# Per run, on a fresh server each: the corpus split in ASSOCS file lists,
# one storescu per list at once (TCP_NODELAY=1 for storescu and Orthanc:
# DCMTK stalls 40 ms per message on loopback without it), wall time from
# the first start to the last exit; every storescu must exit 0 and report
# no failed store. The load average is recorded before each run.
# Everything listens on 127.0.0.1; processes started here are stopped by
# PID; temporary folders are deleted; results stay in $OUT.
set -euo pipefail

ROOT=$(git rev-parse --show-toplevel)
SHARED=${SHARED:-$ROOT/../shared/bench}
STUDIES=${STUDIES:-200} BIG=${BIG:-6} REPS=${REPS:-2} ASSOCS=${ASSOCS:-4}
[ -d "$SHARED" ] || { echo "bench-dimse.sh: shared harness not found at $SHARED" >&2; exit 1; }
command -v storescu > /dev/null || "$ROOT/scripts/dcmtk.sh"

WORK=$(mktemp -d -t gw-dimse.XXXXXX)
OUT=${OUT:-$(mktemp -d -t gw-dimse-bench.XXXXXX)}
mkdir -p "$OUT" "$WORK/bin"
BIN=$WORK/bin
PIDS=()
ORTHANC_PID=""
cleanup() {
	set +e
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$p" 2>/dev/null
	done
	if [ -n "$ORTHANC_PID" ]; then "$WORK/bench/orthanc-down.sh" "$ORTHANC_PID" --purge > /dev/null 2>&1; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "== $(date +%H:%M:%S) $*" >&2; }

log "build gateway and gwbench"
(cd "$ROOT" && go build -o "$BIN/gateway" ./cmd/gateway && go build -o "$BIN/gwbench" ./cmd/gwbench)
cp -r "$SHARED" "$WORK/bench"
chmod -R u+w "$WORK/bench"
if [ -z "${CORPUS:-}" ]; then
	(cd "$WORK/bench/gencorpus" && go build -o "$BIN/gencorpus" .)
	CORPUS=$WORK/corpus
	log "generate corpus: $STUDIES studies x 2 series x 5 instances, big $BIG"
	"$BIN/gencorpus" -out "$CORPUS" -studies "$STUDIES" -series 2 -instances 5 -big "$BIG" -seed 1 -today 20261125 > "$OUT/gencorpus.out"
fi
mapfile -t FILES < <(find "$CORPUS" -name '*.dcm' | sort)
N=${#FILES[@]}
for i in $(seq 0 $((ASSOCS - 1))); do : > "$WORK/list-$i"; done
for i in "${!FILES[@]}"; do echo "${FILES[$i]}" >> "$WORK/list-$((i % ASSOCS))"; done
log "$N instances ($(du -sh "$CORPUS" | cut -f1)) in $ASSOCS lists"

# storescu_all HOST PORT CALLED LABEL: one storescu per list at once.
storescu_all() {
	local host=$1 port=$2 called=$3 label=$4 start end pids=() ok=1
	start=$(date +%s.%N)
	for i in $(seq 0 $((ASSOCS - 1))); do
		# shellcheck disable=SC2046
		TCP_NODELAY=1 storescu -v -aet BENCH -aec "$called" "$host" "$port" $(cat "$WORK/list-$i") > "$OUT/$label-$i.log" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || ok=0; done
	end=$(date +%s.%N)
	local stored; stored=$(cat "$OUT/$label"-*.log | grep -c 'Received Store Response (Success)' || true)
	[ "$ok" = 1 ] && [ "$stored" = "$N" ] || { echo "$label: $stored of $N stored (logs in $OUT)" >&2; return 1; }
	awk -v s="$start" -v e="$end" -v n="$N" -v l="$label" 'BEGIN { printf "%s: %d instances in %.2f s = %.0f inst/s\n", l, n, e - s, n / (e - s) }'
}

# start_gateway DATA: a fresh gateway with the DICOM port; sets GW_PID, DICOM_PORT.
start_gateway() {
	local data=$1 port
	mkdir -p "$data"
	echo "- {aet: BENCH, host: 127.0.0.1, institution: bench, allow: [store]}" > "$data.aes"
	port=$("$BIN/gwbench" freeport)
	DICOM_PORT=$("$BIN/gwbench" freeport)
	setsid "$BIN/gateway" serve --listen "127.0.0.1:$port" --data "$data" --no-auth --rate-limit 0 \
		--dicom-listen "127.0.0.1:$DICOM_PORT" --dicom-aes "$data.aes" > "$data.log" 2>&1 < /dev/null &
	GW_PID=$!
	PIDS+=("$GW_PID")
	"$BIN/gwbench" wait -url "http://127.0.0.1:$port/dicomweb/studies?limit=1" -timeout 60s || { tail -n 20 "$data.log" >&2; return 1; }
}

{ date -u; echo "cores: $(nproc)"; echo "commit: $(git -C "$ROOT" rev-parse --short HEAD)"; } > "$OUT/machine.txt"
for rep in $(seq 1 "$REPS"); do
	D=$WORK/gw-$rep
	start_gateway "$D"
	echo "gw run $rep: load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/summary.txt" >&2
	storescu_all 127.0.0.1 "$DICOM_PORT" IMGCLOUD "gw-$rep" | tee -a "$OUT/summary.txt" >&2
	echo "gw run $rep: server CPU $(awk '{print ($14+$15)/100 " s"}' /proc/"$GW_PID"/stat)" | tee -a "$OUT/summary.txt" >&2
	kill -TERM "$GW_PID"; wait "$GW_PID" 2>/dev/null || true
	rm -rf "$D" "$D.log" "$D.aes"
	if [ "${SKIP_ORTHANC:-0}" != 1 ]; then
		HTTP=$("$BIN/gwbench" freeport) DPORT=$("$BIN/gwbench" freeport)
		UP=$(TCP_NODELAY=1 "$WORK/bench/orthanc-up.sh" "$HTTP" "$DPORT")
		ORTHANC_PID=$(echo "$UP" | tail -n 1)
		echo "orthanc run $rep: load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/summary.txt" >&2
		storescu_all 127.0.0.1 "$DPORT" ORTHANC "orthanc-$rep" | tee -a "$OUT/summary.txt" >&2
		"$WORK/bench/orthanc-down.sh" "$ORTHANC_PID" --purge > /dev/null 2>&1 || true
		ORTHANC_PID=""
	fi
done
log "results in $OUT"
cat "$OUT/summary.txt"
