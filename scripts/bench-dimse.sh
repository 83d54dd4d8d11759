#!/usr/bin/env bash
# The gateway's DICOM port beside Orthanc's (BENCHMARKS.md, "DICOM
# C-STORE", "C-FIND", "memory"). Not part of the tests: run it by hand on
# a quiet machine.
#
#   scripts/bench-dimse.sh
#
# env: STUDIES (200) BIG (6) REPS (2 paired runs) ASSOCS (4)
#      CORPUS (a gencorpus folder to reuse; default: generated here)
#      OUT (results folder, kept; default a new /tmp/gw-dimse-bench.XXXXXX)
#      SKIP_ORTHANC=1 (the gateway alone) SHARED (the harness, default ../shared/bench)
#      BASE_BIN (another gateway binary, e.g. built from main, run
#      between the two: A/B of a change)
#      FIND_N (400 C-FIND queries per run and concurrency; 0 skips)
#      BIG_BYTES (1000000000: one study of this size over ONE association,
#      server RSS sampled every 0.5 s; 0 skips)
#
# Per run, on a fresh server each: the corpus split in ASSOCS file lists,
# one storescu per list at once (TCP_NODELAY=1 for storescu and Orthanc:
# DCMTK stalls 40 ms per message on loopback without it), wall time from
# the first start to the last exit; every storescu must exit 0 and report
# no failed store. The server's CPU (user and system, /proc/PID/stat) over
# the run, per instance; for the gateway, the group commit's syncs. Then,
# on the server holding the corpus, `gwbench cfind`: study-level C-FIND
# (Study Root) by patient ID and by study date, FIND_N queries at c=1 and
# at c=4 over associations held open, every answer checked to hold the
# study the query was drawn from. Last, per server, a fresh one receives
# a BIG_BYTES study (`gwbench bigstudy`: copies of the 7.5 MB CR with
# fresh UIDs) from one storescu while its VmRSS is read every 0.5 s. The
# load average is recorded before each run.
# Everything listens on 127.0.0.1; processes started here are stopped by
# PID; temporary folders are deleted; results stay in $OUT.
set -euo pipefail

ROOT=$(git rev-parse --show-toplevel)
SHARED=${SHARED:-$ROOT/../shared/bench}
STUDIES=${STUDIES:-200} BIG=${BIG:-6} REPS=${REPS:-2} ASSOCS=${ASSOCS:-4}
FIND_N=${FIND_N:-400} BIG_BYTES=${BIG_BYTES:-1000000000}
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

# cpu PID: user and system CPU seconds of a process so far.
cpu() { awk '{print $14 / 100, $15 / 100}' "/proc/$1/stat"; }

# storescu_all HOST PORT CALLED LABEL SERVER_PID: one storescu per list at
# once; prints the rate and the server's CPU per instance.
storescu_all() {
	local host=$1 port=$2 called=$3 label=$4 server=$5 start end pids=() ok=1 u0 s0 u1 s1
	read -r u0 s0 < <(cpu "$server")
	start=$(date +%s.%N)
	for i in $(seq 0 $((ASSOCS - 1))); do
		# shellcheck disable=SC2046
		TCP_NODELAY=1 storescu -v -aet BENCH -aec "$called" "$host" "$port" $(cat "$WORK/list-$i") > "$OUT/$label-$i.log" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || ok=0; done
	end=$(date +%s.%N)
	read -r u1 s1 < <(cpu "$server")
	local stored; stored=$(cat "$OUT/$label"-*.log | grep -c 'Received Store Response (Success)' || true)
	[ "$ok" = 1 ] && [ "$stored" = "$N" ] || { echo "$label: $stored of $N stored (logs in $OUT)" >&2; return 1; }
	awk -v s="$start" -v e="$end" -v n="$N" -v l="$label" -v u="$(echo "$u1 - $u0" | bc)" -v y="$(echo "$s1 - $s0" | bc)" \
		'BEGIN { printf "%s: %d instances in %.2f s = %.0f inst/s; server CPU %.2f s user + %.2f s system = %.2f ms per instance\n", l, n, e - s, n / (e - s), u, y, (u + y) * 1000 / n }'
}

# cfind_all PORT CALLED LABEL: study-level C-FIND at c=1 and c=4.
cfind_all() {
	[ "$FIND_N" -gt 0 ] || return 0
	for c in 1 4; do
		echo "$3 C-FIND c=$c: load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/summary.txt" >&2
		"$BIN/gwbench" cfind -addr "127.0.0.1:$1" -aec "$2" -corpus "$CORPUS/corpus.json" -n "$FIND_N" -c "$c" \
			-json "$OUT/$3-cfind-c$c.json" | tee -a "$OUT/summary.txt" >&2
	done
}

# bigstore PORT CALLED LABEL PID: the big study over one association,
# the server's VmRSS sampled every 0.5 s (min, max, final).
bigstore() {
	local port=$1 called=$2 label=$3 pid=$4 start end sampler u0 s0 u1 s1
	read -r u0 s0 < <(cpu "$pid")
	(while kill -0 "$pid" 2>/dev/null; do awk '/^VmRSS/ {r = $2} /^RssAnon/ {a = $2} END {print r, a}' "/proc/$pid/status"; sleep 0.5; done) > "$OUT/$label-rss.txt" 2>/dev/null &
	sampler=$!
	echo "$label: load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/summary.txt" >&2
	start=$(date +%s.%N)
	TCP_NODELAY=1 storescu -v -aet BENCH -aec "$called" +sd +r +sp '*.dcm' 127.0.0.1 "$port" "$WORK/bigstudy" > "$OUT/$label.log" 2>&1 || { echo "$label: storescu failed (log in $OUT)" >&2; kill "$sampler"; return 1; }
	end=$(date +%s.%N)
	read -r u1 s1 < <(cpu "$pid")
	sleep 1
	kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
	local stored; stored=$(grep -c 'Received Store Response (Success)' "$OUT/$label.log" || true)
	awk -v s="$start" -v e="$end" -v n="$stored" -v all="$BIG_N" -v mbs="$BIG_MB" -v l="$label" -v cpu="$(echo "$u1 - $u0 + $s1 - $s0" | bc)" '
		NR == 1 { min = $1; max = $1; amin = $2; amax = $2 }
		{ if ($1 < min) min = $1; if ($1 > max) max = $1; if ($2 < amin) amin = $2; if ($2 > amax) amax = $2; last = $1; alast = $2; k++ }
		END { printf "%s: %d of %d instances (%.0f MB) over one association in %.1f s = %.0f MB/s; VmRSS every 0.5 s (%d samples): min %.0f MB, max %.0f MB, final %.0f MB; of it RssAnon (heap, stacks) min %.0f, max %.0f, final %.0f MB; server CPU %.2f s (%.1f ms per MB)\n", l, n, all, mbs, e - s, mbs / (e - s), k, min / 1024, max / 1024, last / 1024, amin / 1024, amax / 1024, alast / 1024, cpu, cpu * 1000 / mbs }' "$OUT/$label-rss.txt"
	[ "$stored" = "$BIG_N" ]
}

# start_gateway DATA [BINARY]: a fresh gateway with the DICOM port; sets
# GW_PID, DICOM_PORT, GW_HTTP.
start_gateway() {
	local data=$1 bin=${2:-$BIN/gateway} port
	mkdir -p "$data"
	echo "- {aet: BENCH, host: 127.0.0.1, institution: bench, allow: [store, query]}" > "$data.aes"
	port=$("$BIN/gwbench" freeport)
	DICOM_PORT=$("$BIN/gwbench" freeport)
	GW_HTTP=$port
	setsid "$bin" serve --listen "127.0.0.1:$port" --data "$data" --no-auth --rate-limit 0 \
		--dicom-listen "127.0.0.1:$DICOM_PORT" --dicom-aes "$data.aes" > "$data.log" 2>&1 < /dev/null &
	GW_PID=$!
	PIDS+=("$GW_PID")
	"$BIN/gwbench" wait -url "http://127.0.0.1:$port/dicomweb/studies?limit=1" -timeout 60s || { tail -n 20 "$data.log" >&2; return 1; }
}

# start_orthanc: a fresh Orthanc that knows BENCH (C-FIND is refused to
# unknown AEs); sets ORTHANC_PID, DPORT.
start_orthanc() {
	local http up
	http=$("$BIN/gwbench" freeport) DPORT=$("$BIN/gwbench" freeport)
	up=$(TCP_NODELAY=1 "$WORK/bench/orthanc-up.sh" "$http" "$DPORT")
	ORTHANC_PID=$(echo "$up" | tail -n 1)
	curl -fsS -X PUT "http://127.0.0.1:$http/modalities/bench" -d '{"AET": "BENCH", "Host": "127.0.0.1", "Port": 104}' > /dev/null
}

stop_orthanc() {
	"$WORK/bench/orthanc-down.sh" "$ORTHANC_PID" --purge > /dev/null 2>&1 || true
	ORTHANC_PID=""
}

# gw_run LABEL [BINARY]: store the corpus into a fresh gateway, then query it.
gw_run() {
	local D=$WORK/$1
	start_gateway "$D" "${2:-}"
	echo "$1 C-STORE: load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/summary.txt" >&2
	storescu_all 127.0.0.1 "$DICOM_PORT" IMGCLOUD "$1" "$GW_PID" | tee -a "$OUT/summary.txt" >&2
	echo "$1: group commit $(curl -fsS "http://127.0.0.1:$GW_HTTP/metrics" | awk '/^gateway_dimse_commit_syncs_total/ {print $2 " syncs for '"$N"' instances"}')" | tee -a "$OUT/summary.txt" >&2
	cfind_all "$DICOM_PORT" IMGCLOUD "$1"
	kill -TERM "$GW_PID"; wait "$GW_PID" 2>/dev/null || true
	rm -rf "$D" "$D.log" "$D.aes"
}

{ date -u; echo "cores: $(nproc)"; echo "commit: $(git -C "$ROOT" rev-parse --short HEAD)"; } > "$OUT/machine.txt"
for rep in $(seq 1 "$REPS"); do
	gw_run "gw-$rep"
	if [ "${SKIP_ORTHANC:-0}" != 1 ]; then
		start_orthanc
		echo "orthanc-$rep C-STORE: load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/summary.txt" >&2
		storescu_all 127.0.0.1 "$DPORT" ORTHANC "orthanc-$rep" "$ORTHANC_PID" | tee -a "$OUT/summary.txt" >&2
		cfind_all "$DPORT" ORTHANC "orthanc-$rep"
		stop_orthanc
	fi
	if [ -n "${BASE_BIN:-}" ]; then gw_run "base-$rep" "$BASE_BIN"; fi
done

if [ "$BIG_BYTES" != 0 ]; then
	"$BIN/gwbench" bigstudy -out "$WORK/bigstudy" -bytes "$BIG_BYTES" | tee -a "$OUT/summary.txt" >&2
	BIG_N=$(find "$WORK/bigstudy" -name '*.dcm' | wc -l)
	BIG_MB=$(du -sm "$WORK/bigstudy" | cut -f1)
	start_gateway "$WORK/gw-big"
	bigstore "$DICOM_PORT" IMGCLOUD gw-big "$GW_PID" | tee -a "$OUT/summary.txt" >&2
	kill -TERM "$GW_PID"; wait "$GW_PID" 2>/dev/null || true
	rm -rf "$WORK/gw-big"
	if [ -n "${BASE_BIN:-}" ]; then
		start_gateway "$WORK/base-big" "$BASE_BIN"
		bigstore "$DICOM_PORT" IMGCLOUD base-big "$GW_PID" | tee -a "$OUT/summary.txt" >&2
		kill -TERM "$GW_PID"; wait "$GW_PID" 2>/dev/null || true
		rm -rf "$WORK/base-big"
	fi
	if [ "${SKIP_ORTHANC:-0}" != 1 ]; then
		start_orthanc
		bigstore "$DPORT" ORTHANC orthanc-big "$ORTHANC_PID" | tee -a "$OUT/summary.txt" >&2
		stop_orthanc
	fi
	rm -rf "$WORK/bigstudy"
fi
log "results in $OUT"
cat "$OUT/summary.txt"
