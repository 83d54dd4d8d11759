#!/usr/bin/env bash
# The index on Badger vs on PostgreSQL, and 1, 2 or 3 gateway replicas on
# one PostgreSQL behind HAProxy (deploy/haproxy.cfg, addresses replaced),
# with the shared DICOMweb harness (../shared/bench: gencorpus + dwbench).
# Not run by CI; figures in BENCHMARKS.md (issue 21).
#
#   scripts/bench-replicas.sh          OUT=dir keeps the results (default a new /tmp folder)
#
# env: SHARED (the harness, default ../shared/bench) STUDIES (200: x 2 series x 5 instances = 2,000 instances) QIDO_N (3000)
#      RUNS ("badger postgres lb1 lb2 lb3"; also badger100k postgres100k:
#      98,000 background instances from "gwbench index gen" first)
#
# Each run starts from empty: a fresh data folder and a fresh database
# (name a run once in RUNS).
# "badger"/"postgres": one gateway, dwbench STOW (c=4), QIDO mix (qc=4,
# limit 100), WADO (series metadata, frames), -server-pid, a phase at a
# time with PostgreSQL's CPU over each (0 for badger). "lbN": N
# replicas on one database and one folder store behind HAProxy; dwbench
# STOW then QIDO through the balancer, and the CPU seconds of every
# replica, of PostgreSQL (postmaster, backends, and exited backends) and
# of HAProxy over each phase, from /proc. PostgreSQL is Debian's, started
# here on a free loopback port with a temporary data folder (trust
# authentication on loopback: a throwaway benchmark server); everything
# started here is stopped by PID on exit.
set -euo pipefail

ROOT=$(git rev-parse --show-toplevel)
SHARED=${SHARED:-$ROOT/../shared/bench}
STUDIES=${STUDIES:-200} QIDO_N=${QIDO_N:-3000}
RUNS=${RUNS:-"badger postgres lb1 lb2 lb3"}
[ -d "$SHARED" ] || { echo "bench-replicas.sh: shared harness not found at $SHARED" >&2; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PGBIN/initdb" ] || { echo "bench-replicas.sh: run scripts/postgres.sh first" >&2; exit 1; }
command -v haproxy >/dev/null || { echo "bench-replicas.sh: run scripts/haproxy.sh first" >&2; exit 1; }

WORK=$(mktemp -d -t gw-bench-rep.XXXXXX)
chmod 755 "$WORK"
OUT=${OUT:-$(mktemp -d -t gw-bench-rep-results.XXXXXX)}
mkdir -p "$OUT"
BIN=$WORK/bin
mkdir -p "$BIN"
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
stop_pid() {
	kill -TERM "$1" 2>/dev/null || return 0
	for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.2; done
	kill -KILL "$1" 2>/dev/null || true
}

log "build gateway, gwbench and the shared harness"
(cd "$ROOT" && go build -o "$BIN/gateway" ./cmd/gateway && go build -o "$BIN/gwbench" ./cmd/gwbench)
cp -r "$SHARED" "$WORK/bench" && chmod -R u+w "$WORK/bench"
(cd "$WORK/bench/gencorpus" && go build -o "$BIN/gencorpus" .)
(cd "$WORK/bench/dwbench" && go build -o "$BIN/dwbench" .)
CORPUS=$WORK/corpus
"$BIN/gencorpus" -out "$CORPUS" -studies "$STUDIES" -series 2 -instances 5 -big 0 -seed 1 -today 20261125 > "$OUT/gencorpus.out"

{ date -u; echo "cores: $(nproc)"; grep -m1 'model name' /proc/cpuinfo; echo "postgres: $("$PGBIN/postgres" --version)";
  echo "haproxy: $(haproxy -v | head -n 1)"; echo "commit: $(git -C "$ROOT" rev-parse --short HEAD)"; } > "$OUT/machine.txt"

# ---- PostgreSQL, one server for every run (a database per run)
PGROOT=$WORK/pg
mkdir -p "$PGROOT" && chown postgres "$PGROOT"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGROOT/data" -U bench --auth=trust -E UTF8 --locale=C.UTF-8 > "$PGROOT/initdb.log"
PGPORT=$("$BIN/gwbench" freeport)
runuser -u postgres -- "$PGBIN/postgres" -D "$PGROOT/data" -p "$PGPORT" -k "$PGROOT" -c listen_addresses=127.0.0.1 \
	-c max_connections=100 -c shared_buffers=256MB > "$PGROOT/log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break; sleep 0.2; done
PG_PID=$(head -n 1 "$PGROOT/data/postmaster.pid") # the postmaster (runuser is its parent)
log "PostgreSQL pid $PG_PID on 127.0.0.1:$PGPORT"
newdb() { runuser -u postgres -- "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U bench "bench_$1" >&2 || return 1; echo "postgres://bench@127.0.0.1:$PGPORT/bench_$1"; }

# cpu PID...: CPU seconds (user+system) of the PIDs, with their waited-for
# children (PostgreSQL's exited backends), plus their live children.
cpu() {
	local t=0 p c
	for p in "$@"; do
		t=$((t + $(awk '{print $14+$15+$16+$17}' "/proc/$p/stat")))
		for c in $(pgrep -P "$p" || true); do t=$((t + $(awk '{print $14+$15}' "/proc/$c/stat" 2>/dev/null || echo 0))); done
	done
	echo "scale=2; $t / $(getconf CLK_TCK)" | bc
}

# start_gateway DATA [flags]: sets GW_PID and GW_ADDR.
start_gateway() {
	local data=$1; shift
	local port; port=$("$BIN/gwbench" freeport)
	mkdir -p "$data"
	setsid "$BIN/gateway" serve --listen "127.0.0.1:$port" --data "$data" --no-auth --rate-limit 0 --fail-rate-limit 0 "$@" \
		> "$data-$port.log" 2>&1 < /dev/null &
	GW_PID=$!
	PIDS+=("$GW_PID")
	GW_ADDR=127.0.0.1:$port
	"$BIN/gwbench" wait -url "http://$GW_ADDR/dicomweb/studies?limit=1" -timeout 60s || { tail -n 20 "$data-$port.log" >&2; return 1; }
}

DW=(-corpus "$CORPUS" -c 4 -qc 4 -qido-limit 100 -qido-n "$QIDO_N" -wado-studies 100 -wado-frames 500 -wado-frames-big 0)
for run in $RUNS; do
	echo "load before $run: $(cat /proc/loadavg)" >> "$OUT/load.txt"
	case $run in
	badger | postgres | badger100k | postgres100k)
		D=$WORK/$run
		IX=()
		if [[ $run == postgres* ]]; then IX=(--index "$(newdb "$run")"); fi
		if [[ $run == *100k ]]; then
			# 98,000 background instances (9,800 studies) written through
			# the index alone, as the issue 18 benchmark does.
			if [ ${#IX[@]} = 2 ]; then GEN=(-index "${IX[1]}" -c 4); else GEN=(-dir "$D/index"); fi
			log "$run: gwbench index gen, 98,000 instances"
			"$BIN/gwbench" index gen "${GEN[@]}" -studies 9800 -series 2 -instances 5 | tail -n 1 | tee "$OUT/$run-gen.out" >&2
		fi
		start_gateway "$D" "${IX[@]}"
		# A phase at a time, with the CPU of PostgreSQL over each too.
		for phase in stow qido wado; do
			p0=$(cpu "$PG_PID")
			log "$run: dwbench $phase (gateway pid $GW_PID)"
			"$BIN/dwbench" -base "http://$GW_ADDR/dicomweb" "${DW[@]}" -phases "$phase" -server-pid "$GW_PID" -label "$run" \
				-json "$OUT/$run-$phase.json" > "$OUT/$run-$phase.out" 2>&1 || true
			p1=$(cpu "$PG_PID")
			echo "$run $phase: postgres $(echo "$p1 - $p0" | bc) s; load $(cat /proc/loadavg)" | tee -a "$OUT/cpu.txt" >&2
			grep -E '^(stow|qido|wado|  |Server CPU)' "$OUT/$run-$phase.out" | grep -v '^  phase' >&2 || true
		done
		stop_pid "$GW_PID"
		;;
	lb*)
		n=${run#lb}
		url=$(newdb "$run")
		D=$WORK/$run
		reps=()
		cfg=$(cat "$ROOT/deploy/haproxy.cfg")
		for i in $(seq 1 "$n"); do
			start_gateway "$D" --index "$url"
			reps+=("$GW_PID")
			cfg=${cfg//gateway-$i:8080/$GW_ADDR}
		done
		LBPORT=$("$BIN/gwbench" freeport)
		cfg=${cfg//bind :8080/bind 127.0.0.1:$LBPORT}
		# Without the DICOM frontend and backend (not measured here) and
		# the servers of replicas not started.
		printf '%s\n' "$cfg" | awk '/^frontend dicom$|^backend dicom-gateways$/{skip=1;next} /^(frontend|backend|defaults|global|resolvers)( |$)/{skip=0} !skip' \
			| { if [ "$n" -lt 3 ]; then grep -vE "server gateway-[$((n + 1))-3] "; else cat; fi; } > "$WORK/haproxy-$run.cfg"
		haproxy -c -f "$WORK/haproxy-$run.cfg" > /dev/null
		haproxy -f "$WORK/haproxy-$run.cfg" -db > "$OUT/haproxy-$run.log" 2>&1 &
		LB_PID=$!
		PIDS+=("$LB_PID")
		"$BIN/gwbench" wait -url "http://127.0.0.1:$LBPORT/dicomweb/studies?limit=1" -timeout 30s
		for phase in stow qido; do
			c0=$(cpu "${reps[@]}"); p0=$(cpu "$PG_PID"); h0=$(cpu "$LB_PID")
			log "$run: dwbench $phase through HAProxy ($n replicas: ${reps[*]})"
			"$BIN/dwbench" -base "http://127.0.0.1:$LBPORT/dicomweb" "${DW[@]}" -phases "$phase" -label "$run" \
				-json "$OUT/$run-$phase.json" > "$OUT/$run-$phase.out" 2>&1 || true
			c1=$(cpu "${reps[@]}"); p1=$(cpu "$PG_PID"); h1=$(cpu "$LB_PID")
			echo "$run $phase: replicas $(echo "$c1 - $c0" | bc) s, postgres $(echo "$p1 - $p0" | bc) s, haproxy $(echo "$h1 - $h0" | bc) s; load $(cat /proc/loadavg)" | tee -a "$OUT/cpu.txt" >&2
			grep -E '^(stow|qido|  )' "$OUT/$run-$phase.out" | grep -v '^  phase' >&2 || true
		done
		stop_pid "$LB_PID"
		for p in "${reps[@]}"; do stop_pid "$p"; done
		;;
	esac
	echo "load after $run: $(cat /proc/loadavg)" >> "$OUT/load.txt"
done
log "results in $OUT"
