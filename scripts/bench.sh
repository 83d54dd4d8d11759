#!/usr/bin/env bash
# End-to-end benchmark of the gateway with the shared DICOMweb harness
# (../shared/bench: gencorpus + dwbench, copied and built at run time, never
# vendored) plus cmd/gwbench for what dwbench does not cover. See
# BENCHMARKS.md for the figures and how to read them.
#
#   scripts/bench.sh                      gateway (file store), REPS fresh runs
#   BENCH_MINIO=1 scripts/bench.sh        + gateway over MinIO: STOW + WADO, reindex
#   BENCH_ORTHANC=1 scripts/bench.sh      + Orthanc side by side (same corpus, flags)
#
# env: STUDIES (200) BIG (6) REPS (2: fresh servers per target) OUT (results
#      folder, kept; default a new /tmp/gw-bench-results.XXXXXX)
#      BIG_BYTES (1000000000: size of the one-request STOW) SKIP_BIG=1
#      BENCH_ORTHANC_BIG=1 (also the 1 GB single STOW against Orthanc)
#      MINIO_BIN (default: scripts/minio.sh's cache path)
#
# Per run on each server: dwbench, all phases (STOW c=4 on an empty server,
# QIDO, WADO; -server-pid for CPU/RSS); gwbench series (500-instance series,
# /metadata c=1 and c=4); gwbench frame (/frames/2 and /frames/1 of the
# 2-frame CT); gateway only: reindex --fresh of what was stored; then, on a
# fresh gateway, gwbench bigstow (BIG_BYTES of 7.5 MB CR instances in ONE
# request, streamed, server RSS sampled every 100 ms).
# Everything listens on 127.0.0.1; every process started here is stopped by
# PID on exit; temporary data folders are deleted; results stay in $OUT.
set -euo pipefail

ROOT=$(git rev-parse --show-toplevel)
SHARED=$ROOT/../shared/bench
STUDIES=${STUDIES:-200} SERIES=2 INSTANCES=5 BIG=${BIG:-6} SEED=1 TODAY=20261125
REPS=${REPS:-2}
BIG_BYTES=${BIG_BYTES:-1000000000}
BENCH_MINIO=${BENCH_MINIO:-0} BENCH_ORTHANC=${BENCH_ORTHANC:-0}
[ -d "$SHARED" ] || { echo "bench.sh: shared harness not found at $SHARED" >&2; exit 1; }

WORK=$(mktemp -d -t gw-bench.XXXXXX)
OUT=${OUT:-$(mktemp -d -t gw-bench-results.XXXXXX)}
mkdir -p "$OUT"
BIN=$WORK/bin
mkdir -p "$BIN"

PIDS=()         # gateway / MinIO PIDs started here
ORTHANC_PID=""
cleanup() {
	set +e
	for p in "${PIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p" 2>/dev/null
			for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
			kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
		fi
	done
	if [ -n "$ORTHANC_PID" ]; then "$WORK/bench/orthanc-down.sh" "$ORTHANC_PID" --purge >/dev/null 2>&1; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "== $(date +%H:%M:%S) $*" >&2; }

stop_pid() { # stop one PID we started, wait for it
	local p=$1
	kill -TERM "$p" 2>/dev/null || return 0
	for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.2; done
	kill -KILL "$p" 2>/dev/null || true
}

log "build gateway and gwbench"
(cd "$ROOT" && go build -o "$BIN/gateway" ./cmd/gateway && go build -o "$BIN/gwbench" ./cmd/gwbench)

log "copy and build the shared harness ($SHARED)"
cp -r "$SHARED" "$WORK/bench"
chmod -R u+w "$WORK/bench"
(cd "$WORK/bench/gencorpus" && go build -o "$BIN/gencorpus" .)
(cd "$WORK/bench/dwbench" && go build -o "$BIN/dwbench" .)

CORPUS=$WORK/corpus
log "generate corpus: $STUDIES studies x $SERIES series x $INSTANCES instances, big $BIG, seed $SEED, today $TODAY"
"$BIN/gencorpus" -out "$CORPUS" -studies "$STUDIES" -series "$SERIES" -instances "$INSTANCES" \
	-big "$BIG" -seed "$SEED" -today "$TODAY" > "$OUT/gencorpus.out"
tail -n 3 "$OUT/gencorpus.out" >&2

{ date -u; echo "cores: $(nproc)"; uname -r; grep -m1 'model name' /proc/cpuinfo; free -m | sed -n 2p;
  echo "go: $(go version)"; echo "commit: $(git -C "$ROOT" rev-parse --short HEAD) (dirty files: $(git -C "$ROOT" status --porcelain | wc -l))";
  echo "load before: $(cat /proc/loadavg)"; } > "$OUT/machine.txt"

# dwbench sends no credentials: serve without authentication (loopback
# only, synthetic data) when this gateway has access control. The audit
# trail stays on; no rate limit applies to the anonymous admin.
NOAUTH=()
if "$BIN/gateway" serve -h 2>&1 | grep -q -- '-no-auth'; then NOAUTH=(--no-auth); fi

# start_gateway DATA_DIR [extra serve flags...]: sets GW_PID and GW_BASE.
start_gateway() {
	local data=$1; shift
	local port; port=$("$BIN/gwbench" freeport)
	mkdir -p "$data"
	setsid "$BIN/gateway" serve --listen "127.0.0.1:$port" --data "$data" "${NOAUTH[@]}" "$@" > "$data.log" 2>&1 < /dev/null &
	GW_PID=$!
	PIDS+=("$GW_PID")
	GW_BASE=http://127.0.0.1:$port/dicomweb
	if ! "$BIN/gwbench" wait -url "$GW_BASE/studies?limit=1" -timeout 60s; then
		tail -n 20 "$data.log" >&2; return 1
	fi
}

rc=0
# measure PREFIX REP BASE PID: dwbench (all phases) + series + frame.
measure() {
	local prefix=$1 rep=$2 base=$3 pid=$4
	log "$prefix run $rep: dwbench all phases ($base, server pid $pid)"
	"$BIN/dwbench" -base "$base" -corpus "$CORPUS" -server-pid "$pid" -label "$prefix" -c 4 \
		-json "$OUT/$prefix-full-$rep.json" > "$OUT/$prefix-full-$rep.out" 2>&1 || rc=1
	grep -E '^(stow|qido|wado|  )' "$OUT/$prefix-full-$rep.out" | grep -v '^  phase' >&2 || true
	grep -m1 'RUN HAD' "$OUT/$prefix-full-$rep.out" >&2 || true
	log "$prefix run $rep: 500-instance series metadata"
	"$BIN/gwbench" series -base "$base" -n 500 -reps 100 -c 1 -json "$OUT/$prefix-series-$rep.json" | tee "$OUT/$prefix-series-$rep.out" >&2 || rc=1
	"$BIN/gwbench" series -base "$base" -n 500 -reps 100 -c 4 -json "$OUT/$prefix-series-c4-$rep.json" > "$OUT/$prefix-series-c4-$rep.out" 2>&1 || rc=1
	tail -n 1 "$OUT/$prefix-series-c4-$rep.out" >&2
	# dwbench decodes every metadata answer in full, which costs more CPU than
	# the gateway spends answering; this client only scans the bytes.
	log "$prefix run $rep: 5-instance series metadata, light client"
	"$BIN/gwbench" series -base "$base" -n 5 -reps 4000 -c 4 -verify scan -json "$OUT/$prefix-series-n5-$rep.json" | tee "$OUT/$prefix-series-n5-$rep.out" >&2 || rc=1
	log "$prefix run $rep: frames of the 2-frame CT"
	"$BIN/gwbench" frame -base "$base" -reps 300 -c 1 -json "$OUT/$prefix-frame-$rep.json" | tee "$OUT/$prefix-frame-$rep.out" >&2 || rc=1
}

# ---- gateway, file store
for rep in $(seq 1 "$REPS"); do
	D=$WORK/gw-data-$rep
	start_gateway "$D"
	measure gw "$rep" "$GW_BASE" "$GW_PID"
	stop_pid "$GW_PID"
	log "gw run $rep: reindex --fresh (file store)"
	"$BIN/gateway" reindex --data "$D" --fresh 2>/dev/null | tee "$OUT/gw-reindex-$rep.txt" >&2 || rc=1
	rm -rf "$D" "$D.log"
done

if [ "${SKIP_BIG:-0}" != 1 ]; then
	for rep in $(seq 1 "$REPS"); do
		D=$WORK/gw-big-$rep
		start_gateway "$D"
		log "gw big STOW $rep: $BIG_BYTES bytes in one request (fresh gateway pid $GW_PID)"
		"$BIN/gwbench" bigstow -base "$GW_BASE" -pid "$GW_PID" -bytes "$BIG_BYTES" \
			-json "$OUT/gw-bigstow-$rep.json" | tee "$OUT/gw-bigstow-$rep.out" >&2 || rc=1
		stop_pid "$GW_PID"
		rm -rf "$D" "$D.log"
	done
fi

# ---- gateway, MinIO store
if [ "$BENCH_MINIO" = 1 ]; then
	MINIO_BIN=${MINIO_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/imgcloud/minio-bin/minio}
	[ -x "$MINIO_BIN" ] || MINIO_BIN=$("$ROOT/scripts/minio.sh")
	MP=$("$BIN/gwbench" freeport); MC=$("$BIN/gwbench" freeport)
	MKEY=bench$RANDOM$RANDOM MSECRET=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
	mkdir -p "$WORK/minio"
	MINIO_ROOT_USER=$MKEY MINIO_ROOT_PASSWORD=$MSECRET MINIO_BROWSER=off \
		setsid "$MINIO_BIN" server --address "127.0.0.1:$MP" --console-address "127.0.0.1:$MC" "$WORK/minio" \
		> "$WORK/minio.log" 2>&1 < /dev/null &
	MINIO_PID=$!
	PIDS+=("$MINIO_PID")
	"$BIN/gwbench" wait -url "http://127.0.0.1:$MP/minio/health/live" -timeout 60s
	log "MinIO pid $MINIO_PID on 127.0.0.1:$MP"
	for rep in $(seq 1 "$REPS"); do
		D=$WORK/minio-gw-$rep
		S3=(--store s3 --s3-endpoint "127.0.0.1:$MP" --s3-bucket "bench$rep" --s3-access-key "$MKEY" --s3-secret-key "$MSECRET" --s3-path-style)
		start_gateway "$D" "${S3[@]}"
		log "minio run $rep: dwbench stow,wado"
		"$BIN/dwbench" -base "$GW_BASE" -corpus "$CORPUS" -server-pid "$GW_PID" -label "gateway+minio" -c 4 -phases stow,wado \
			-json "$OUT/minio-full-$rep.json" > "$OUT/minio-full-$rep.out" 2>&1 || rc=1
		grep -E '^(stow|wado)' "$OUT/minio-full-$rep.out" >&2 || true
		grep -m1 'RUN HAD' "$OUT/minio-full-$rep.out" >&2 || true
		stop_pid "$GW_PID"
		log "minio run $rep: reindex --fresh from the bucket"
		"$BIN/gateway" reindex --data "$D" --fresh "${S3[@]}" 2>/dev/null | tee "$OUT/minio-reindex-$rep.txt" >&2 || rc=1
		rm -rf "$D" "$D.log"
	done
	stop_pid "$MINIO_PID"
fi

# ---- Orthanc, through the shared scripts
if [ "$BENCH_ORTHANC" = 1 ]; then
	for rep in $(seq 1 "$REPS"); do
		HP=$("$BIN/gwbench" freeport); DP=$("$BIN/gwbench" freeport)
		(cd "$WORK/bench" && ./orthanc-up.sh "$HP" "$DP") > "$OUT/orthanc-up-$rep.out"
		ORTHANC_PID=$(tail -n 1 "$OUT/orthanc-up-$rep.out")
		measure orthanc "$rep" "http://127.0.0.1:$HP/dicom-web" "$ORTHANC_PID"
		(cd "$WORK/bench" && ./orthanc-down.sh "$ORTHANC_PID" --purge) >&2
		ORTHANC_PID=""
	done
	if [ "${BENCH_ORTHANC_BIG:-0}" = 1 ] && [ "${SKIP_BIG:-0}" != 1 ]; then
		HP=$("$BIN/gwbench" freeport); DP=$("$BIN/gwbench" freeport)
		(cd "$WORK/bench" && ./orthanc-up.sh "$HP" "$DP") > "$OUT/orthanc-up-big.out"
		ORTHANC_PID=$(tail -n 1 "$OUT/orthanc-up-big.out")
		log "orthanc big STOW: $BIG_BYTES bytes in one request (pid $ORTHANC_PID)"
		"$BIN/gwbench" bigstow -base "http://127.0.0.1:$HP/dicom-web" -pid "$ORTHANC_PID" -bytes "$BIG_BYTES" \
			-json "$OUT/orthanc-bigstow-1.json" | tee "$OUT/orthanc-bigstow-1.out" >&2 || rc=1
		(cd "$WORK/bench" && ./orthanc-down.sh "$ORTHANC_PID" --purge) >&2
		ORTHANC_PID=""
	fi
fi

echo "load after: $(cat /proc/loadavg)" >> "$OUT/machine.txt"
"$BIN/gwbench" summary -dir "$OUT" | tee "$OUT/summary.md"
echo
echo "results in $OUT (exit status $rc: 1 = some run reported errors or mismatches; see *.out)"
exit "$rc"
