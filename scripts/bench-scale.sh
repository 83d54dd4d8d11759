#!/usr/bin/env bash
# The index-at-scale protocol of issue 18's "Done when": the shared harness
# (../shared/bench: gencorpus + dwbench, copied and built here) on 200 and
# on 20,000 single-instance studies, auth and audit on, same build, same
# client. Per size, on a fresh gateway (folder store, Badger):
#   STOW c=4 of the corpus; then, on the same process, the QIDO mix c=4
#   with no limit (the issue's table) and with -qido-limit 100 (what OHIF
#   asks); RSS after each; a restart and RSS 2 s after it is ready.
# Not in CI (minutes, machine-sized). Prints one summary table.
#
# env: SIZES ("200 20000") OUT (results folder, kept) GATEWAY_FLAGS (extra
#      serve flags, e.g. "--memory-limit 200MiB") CORPORA (a folder where the
#      generated corpora are kept between runs; default: made and deleted here)
set -euo pipefail

ROOT=$(git rev-parse --show-toplevel)
SHARED=$ROOT/../shared/bench
SIZES=${SIZES:-200 20000}
[ -d "$SHARED" ] || { echo "bench-scale.sh: shared harness not found at $SHARED" >&2; exit 1; }
WORK=$(mktemp -d -t gw-scale.XXXXXX)
OUT=${OUT:-$(mktemp -d -t gw-scale-results.XXXXXX)}
mkdir -p "$OUT"
BIN=$WORK/bin
mkdir -p "$BIN"
GW_PID=""
cleanup() {
	set +e
	[ -n "$GW_PID" ] && kill -TERM "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "== $(date +%H:%M:%S) $*" >&2; }

log "build gateway, gwbench and the shared harness"
(cd "$ROOT" && go build -o "$BIN/gateway" ./cmd/gateway && go build -o "$BIN/gwbench" ./cmd/gwbench)
cp -r "$SHARED" "$WORK/bench" && chmod -R u+w "$WORK/bench"
(cd "$WORK/bench/gencorpus" && go build -o "$BIN/gencorpus" .)
(cd "$WORK/bench/dwbench" && go build -o "$BIN/dwbench" .)

# A token the operator chose (GATEWAY_ADMIN_TOKEN), so the harness can send
# it; it lives only in this run's environment and data folder.
TOKEN="gw_bench_$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
AUTH="Authorization: Bearer $TOKEN"
# shellcheck disable=SC2086
start() { # DATA
	local port; port=$("$BIN/gwbench" freeport)
	GATEWAY_ADMIN_TOKEN=$TOKEN setsid "$BIN/gateway" serve --listen "127.0.0.1:$port" --data "$1" \
		--rate-limit 0 --fail-rate-limit 0 ${GATEWAY_FLAGS:-} >> "$1.log" 2>&1 < /dev/null &
	GW_PID=$!
	BASE=http://127.0.0.1:$port/dicomweb
	"$BIN/gwbench" wait -url "http://127.0.0.1:$port/readyz" -timeout 120s
}
stop() { kill -TERM "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; GW_PID=""; }
rss() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

{ date -u; echo "commit: $(git -C "$ROOT" rev-parse --short HEAD)"; echo "load before: $(cat /proc/loadavg)"; } > "$OUT/machine.txt"
for n in $SIZES; do
	C=${CORPORA:-$WORK}/corpus-$n D=$WORK/data-$n
	if [ ! -f "$C/corpus.json" ]; then
		log "$n studies: gencorpus (single-instance studies)"
		rm -rf "$C"
		"$BIN/gencorpus" -out "$C" -studies "$n" -series 1 -instances 1 -big 0 -seed 1 -today 20261125 > "$OUT/gencorpus-$n.out"
	fi
	mkdir -p "$D"
	start "$D"
	log "$n: STOW c=4 (load $(cut -d' ' -f1 /proc/loadavg))"
	"$BIN/dwbench" -base "$BASE" -corpus "$C" -header "$AUTH" -server-pid "$GW_PID" -c 4 -phases stow \
		-json "$OUT/stow-$n.json" > "$OUT/stow-$n.out" 2>&1 || log "$n: STOW had errors (see stow-$n.out)"
	echo "$(rss "$GW_PID")" > "$OUT/rss-stow-$n.txt"
	# The issue's table: the queries follow the STOW on the same process.
	for lim in 0 100; do
		log "$n: QIDO mix c=4, limit $lim (load $(cut -d' ' -f1 /proc/loadavg))"
		"$BIN/dwbench" -base "$BASE" -corpus "$C" -header "$AUTH" -server-pid "$GW_PID" -qc 4 -phases qido \
			-qido-limit "$lim" -json "$OUT/qido-$n-$lim.json" > "$OUT/qido-$n-$lim.out" 2>&1 ||
			log "$n: QIDO limit $lim had errors or mismatches (expected without limit once answers are paged; see qido-$n-$lim.out)"
		echo "$(rss "$GW_PID")" > "$OUT/rss-qido-$n-$lim.txt"
		cut -d' ' -f1 /proc/loadavg > "$OUT/load-qido-$n-$lim.txt"
	done
	stop; start "$D"; sleep 2
	echo "$(rss "$GW_PID")" > "$OUT/rss-restart-$n.txt"
	stop
	du -sm "$D/index" 2>/dev/null | cut -f1 > "$OUT/index-mb-$n.txt" || true
	rm -rf "$D"
	[ -n "${CORPORA:-}" ] || rm -rf "$C"
done

python3 - "$OUT" $SIZES <<'EOF'
import json, sys, os
out, sizes = sys.argv[1], sys.argv[2:]
def rd(name):
    p = os.path.join(out, name)
    return open(p).read().strip() if os.path.exists(p) else "-"
def op(js, name):
    for r in js["results"]:
        if r["name"] == name:
            return r
    return None
print("| figure | " + " | ".join(f"{n} studies" for n in sizes) + " |")
print("|---|" + "---|" * len(sizes))
stow = [json.load(open(os.path.join(out, f"stow-{n}.json"))) for n in sizes]
rows = [("STOW c=4, inst/s", [f'{max((r.get("items_per_s",0) for r in s["results"] if r["group"]=="stow"), default=0):.0f}' for s in stow])]
for lim in ("0", "100"):
    q = [json.load(open(os.path.join(out, f"qido-{n}-{lim}.json"))) for n in sizes]
    tag = "no limit" if lim == "0" else "limit 100"
    mix = [op(j, "qido/all (mix)") for j in q]
    rows.append((f"QIDO mix ({tag}), req/s", [f'{m["req_per_s"]:.0f}' if m else "-" for m in mix]))
    rows.append((f"- mix p50 / p99 ms", [f'{m["latency_ms"]["p50"]:.1f} / {m["latency_ms"]["p99"]:.1f}' if m else "-" for m in mix]))
    for kind in ("qido/patient-id", "qido/study-date-range", "qido/modality", "qido/name-pinyin-wildcard", "qido/name-han-wildcard"):
        ks = [op(j, kind) for j in q]
        if any(ks):
            rows.append((f"- {kind[5:]} p50 / p99 ms", [f'{k["latency_ms"]["p50"]:.1f} / {k["latency_ms"]["p99"]:.1f}' if k else "-" for k in ks]))
    rows.append((f"- errors / mismatches", [f'{j["total_errors"]} / {j["total_mismatches"]}' for j in q]))
    rows.append((f"- server CPU ms per request", [f'{1000*sum(v for v in (j.get("server_cpu_s") or {}).values() if isinstance(v,(int,float)))/max(1,(op(j, "qido/all (mix)") or {}).get("requests",1)):.2f}' for j in q]))
    rows.append((f"- load (1 min) after", [rd(f"load-qido-{n}-{lim}.txt") for n in sizes]))
    rows.append((f"RSS after the queries ({tag}), MB", [rd(f"rss-qido-{n}-{lim}.txt") for n in sizes]))
rows.append(("RSS after STOW, MB", [rd(f"rss-stow-{n}.txt") for n in sizes]))
rows.append(("RSS 2 s after restart, MB", [rd(f"rss-restart-{n}.txt") for n in sizes]))
rows.append(("index on disk, MB", [rd(f"index-mb-{n}.txt") for n in sizes]))
for name, vals in rows:
    print(f"| {name} | " + " | ".join(vals) + " |")
EOF
log "results in $OUT"
