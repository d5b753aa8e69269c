#!/usr/bin/env bash
# Ingest throughput with many tenants against its one-tenant reference, on this machine, in one
# run: the same N synthetic events as messages of 50 events (bench/ingest_tenants_pub.c: a
# message is one day of one tenant's costs), once all for one tenant (the reference) and once
# for T tenants (message i for tenant i % T, so with the defaults each of the 8 000 tenants gets
# exactly one message), each into a fresh stream consumed by a fresh valdrix-ingest (its tenant
# cache cold), timed from its start until all N are committed. The two alternate for R rounds
# (the tables vacuumed before each), and the medians are compared, so that load from others on
# a shared machine falls on both alike.
# Last line: ingest_tenants events=N tenants=T message_events=50 rounds=R
#            one_tenant_events_per_s=X many_tenants_events_per_s=Y ratio=Y/X round_ratios=...
#            fsync=...   (X and Y medians; round_ratios each round's own; target ratio >= 0.8).
# Usage: bench/ingest_tenants.sh [N] [T] [R]   (defaults 400000, 8000 and 3). Starts the stack if
# none runs (ports and folder from VX_*_PORT and VX_RUN_DIR, as scripts/stack.sh), stops what it
# started, and removes its tenants and rows.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N=${1:-400000}
T=${2:-8000}
R=${3:-3}
PER_MSG=50
BIN=${VX_BIN_DIR:-$ROOT/build/bin}

log() { echo "bench: $*" >&2; }

[ -x "$BIN/valdrix-ingest" ] && [ -x "$BIN/ingest-tenants-pub" ] || make -s build >&2

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_stack_up

tag="bt$$"
WORK=$(mktemp -d)
chmod 755 "$WORK"
ingest_pid=""
streams=()

cleanup() {
    [ -n "$ingest_pid" ] && kill -TERM "$ingest_pid" 2>/dev/null && wait "$ingest_pid" 2>/dev/null || true
    psql "$VX_PG_ADMIN_DSN" -Xq >/dev/null 2>&1 <<SQL || true
CREATE TEMP TABLE bench_t AS SELECT id FROM tenants WHERE name LIKE 'bench-$tag-%';
DELETE FROM cost_daily WHERE tenant_id IN (SELECT id FROM bench_t);
DELETE FROM cost_records WHERE tenant_id IN (SELECT id FROM bench_t);
DELETE FROM tenant_data_versions WHERE tenant_id IN (SELECT id FROM bench_t);
DELETE FROM tenants WHERE id IN (SELECT id FROM bench_t);
SQL
    [ -n "${BENCH_KEEP_LOG:-}" ] && cat "$WORK"/ingest-*.log >"$BENCH_KEEP_LOG" 2>/dev/null
    rm -rf "$WORK"
    for s in "${streams[@]}"; do
        "$BIN/valdrix" stream delete "$s" >/dev/null 2>&1 || true
    done
    [ $started_stack = 1 ] && bash scripts/stack.sh down >&2
    return 0
}
trap cleanup EXIT

# Tenants in one statement: the reference tenant, then the T others.
psql "$VX_PG_ADMIN_DSN" -XAtq -c "INSERT INTO tenants (id, name, plan) SELECT gen_random_uuid(), 'bench-$tag-one', 'enterprise' RETURNING id" >"$WORK/one.txt"
psql "$VX_PG_ADMIN_DSN" -XAtq -c "INSERT INTO tenants (id, name, plan) SELECT gen_random_uuid(), 'bench-$tag-' || g, 'enterprise' FROM generate_series(1, $T) g RETURNING id" >"$WORK/many.txt"
sed -i '/^INSERT/d;/^$/d' "$WORK/one.txt" "$WORK/many.txt"
[ "$(wc -l <"$WORK/many.txt")" -eq "$T" ] || { log "could not create $T tenants"; exit 1; }
fsync=$(psql "$VX_PG_ADMIN_DSN" -XAtqc "SHOW fsync")

# run NAME TENANTS_FILE: publishes N events for the tenants, ingests them; sets rate (events/s).
run() {
    local name=$1 file=$2
    psql "$VX_PG_ADMIN_DSN" -Xq -c "VACUUM (ANALYZE) cost_records, cost_daily, cost_daily_service, tenant_data_versions" >/dev/null 2>&1 || true
    export VX_INGEST_STREAM="BENCH_EV_${tag}_$name" VX_DLQ_STREAM="BENCH_DLQ_${tag}_$name"
    export VX_INGEST_SUBJECT="$tag$name.events" VX_DLQ_SUBJECT="$tag$name.deadletter"
    export VX_CHANGED_SUBJECT="$tag$name.changed"
    # each run's streams go when it ends; bounds small enough that the runs fit JetStream's store
    export VX_INGEST_STREAM_MAX_MB=${VX_INGEST_STREAM_MAX_MB:-512} VX_DLQ_MAX_MB=${VX_DLQ_MAX_MB:-16}
    streams+=("$VX_INGEST_STREAM" "$VX_DLQ_STREAM")
    local ops_port
    ops_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    # the stream must exist before publishing: ingest creates it, then is stopped again
    VX_OPS_PORT=$ops_port VX_LOG_LEVEL=warn scripts/as-service.sh ingest "$BIN/valdrix-ingest" </dev/null >"$WORK/ingest-$name-setup.log" 2>&1 &
    ingest_pid=$!
    for _ in $(seq 1 200); do
        curl -fsS "http://127.0.0.1:$ops_port/readyz" >/dev/null 2>&1 && break
        sleep 0.05
    done
    kill -TERM "$ingest_pid"; wait "$ingest_pid" || true; ingest_pid=""
    log "$name: publishing $N events as $PER_MSG-event messages for $(wc -l <"$file") tenant(s)"
    "$BIN/ingest-tenants-pub" --tenants "$file" --events "$N" --batch "$PER_MSG" >&2 || exit 1
    VX_OPS_PORT=$ops_port VX_LOG_LEVEL=${BENCH_LOG_LEVEL:-warn} scripts/as-service.sh ingest "$BIN/valdrix-ingest" </dev/null >"$WORK/ingest-$name.log" 2>&1 &
    ingest_pid=$!
    local t0 t1 written=0
    t0=$(date +%s.%N)
    while [ "$written" -lt "$N" ]; do
        sleep 0.2
        written=$(curl -fsS "http://127.0.0.1:$ops_port/metrics" 2>/dev/null | awk '$1=="valdrix_ingest_events_written_total"{print $2}')
        written=${written:-0}
        kill -0 "$ingest_pid" 2>/dev/null || { log "ingest died: $(tail -5 "$WORK/ingest-$name.log")"; exit 1; }
    done
    t1=$(date +%s.%N)
    kill -TERM "$ingest_pid"; wait "$ingest_pid" || true; ingest_pid=""
    "$BIN/valdrix" stream delete "$VX_INGEST_STREAM" >/dev/null 2>&1 || true
    "$BIN/valdrix" stream delete "$VX_DLQ_STREAM" >/dev/null 2>&1 || true
    local rows
    rows=$(psql "$VX_PG_ADMIN_DSN" -XAtqc "SELECT count(*) FROM cost_records WHERE tenant_id IN (SELECT id FROM tenants WHERE name LIKE 'bench-$tag-%')")
    [ "$rows" -eq "$N" ] || { log "$name: expected $N rows, found $rows"; exit 1; }
    psql "$VX_PG_ADMIN_DSN" -Xq -c "DELETE FROM cost_daily WHERE tenant_id IN (SELECT id FROM tenants WHERE name LIKE 'bench-$tag-%'); DELETE FROM cost_records WHERE tenant_id IN (SELECT id FROM tenants WHERE name LIKE 'bench-$tag-%')" >/dev/null
    local secs
    secs=$(echo "$t1 - $t0" | bc -l)
    log "$name: ingested $N events in $(echo "$secs" | cut -c1-6) s"
    rate=$(echo "$N / $secs" | bc -l)
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2}'; }

rate=0
ones=() manys=()
for r in $(seq 1 "$R"); do
    run "one$r" "$WORK/one.txt"
    ones+=("$rate")
    run "many$r" "$WORK/many.txt"
    manys+=("$rate")
    log "round $r: one tenant $(printf %.0f "${ones[-1]}") events/s, $T tenants $(printf %.0f "${manys[-1]}") events/s"
done
one=$(printf '%s\n' "${ones[@]}" | median)
many=$(printf '%s\n' "${manys[@]}" | median)
ratio=$(echo "$many / $one" | bc -l)
rounds=""
for r in $(seq 0 $((R - 1))); do
    rounds+=$(printf '%s%.2f' "${rounds:+,}" "$(echo "${manys[$r]} / ${ones[$r]}" | bc -l)")
done
result=$(printf 'ingest_tenants events=%d tenants=%d message_events=%d rounds=%d one_tenant_events_per_s=%.0f many_tenants_events_per_s=%.0f ratio=%.2f round_ratios=%s fsync=%s' \
    "$N" "$T" "$PER_MSG" "$R" "$one" "$many" "$ratio" "$rounds" "$fsync")
trap - EXIT
cleanup
echo "$result"
