#!/usr/bin/env bash
# Durable ingest throughput against its reference, on this machine, in one run:
#   1. publish N synthetic events (valdrix generate) into a fresh JetStream stream,
#   2. start valdrix-ingest and time until all N are committed to cost_records (and the rollup),
#   3. load the same rows with `psql \copy` into a fresh table with the same schema, partitions
#      and indexes, and time that.
# Last line: ingest events=N events_per_s=X copy_rows_per_s=Y ratio=Z (target ratio >= 0.5).
# Usage: bench/ingest.sh [N]   (default 1000000). Starts the stack if none runs, stops what it
# started. Durability is measured as configured: the stack it starts keeps fsync on.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
N=${1:-1000000}
PER_DAY=${BENCH_EVENTS_PER_DAY:-2000}
DAYS=$(( (N + PER_DAY - 1) / PER_DAY ))
N=$(( DAYS * PER_DAY ))
BIN=${VX_BIN_DIR:-$ROOT/build/bin}

log() { echo "bench: $*" >&2; }

[ -x "$BIN/valdrix-ingest" ] || make -s build >&2

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_stack_up

tag="b$$"
export VX_INGEST_STREAM="BENCH_EV_$tag" VX_DLQ_STREAM="BENCH_DLQ_$tag"
export VX_INGEST_SUBJECT="$tag.events" VX_DLQ_SUBJECT="$tag.deadletter" VX_CHANGED_SUBJECT="$tag.changed"
OPS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TENANT=$("$BIN/valdrix" tenant create --name "bench-$tag" --plan enterprise)
WORK=$(mktemp -d)
chmod 755 "$WORK"
ingest_pid=""

cleanup() {
    [ -n "$ingest_pid" ] && kill -TERM "$ingest_pid" 2>/dev/null && wait "$ingest_pid" 2>/dev/null || true
    psql "$VX_PG_ADMIN_DSN" -Xq >/dev/null 2>&1 <<SQL || true
DROP TABLE IF EXISTS bench_copy_$tag;
DELETE FROM cost_daily WHERE tenant_id = '$TENANT';
DELETE FROM cost_records WHERE tenant_id = '$TENANT';
DELETE FROM tenant_data_versions WHERE tenant_id = '$TENANT';
DELETE FROM tenants WHERE id = '$TENANT';
SQL
    [ -n "${BENCH_KEEP_LOG:-}" ] && cp "$WORK/ingest.log" "$BENCH_KEEP_LOG"
    rm -rf "$WORK"
    "$BIN/valdrix" stream delete "$VX_INGEST_STREAM" >/dev/null 2>&1 || true
    "$BIN/valdrix" stream delete "$VX_DLQ_STREAM" >/dev/null 2>&1 || true
    [ $started_stack = 1 ] && bash scripts/stack.sh down >&2
    return 0
}
trap cleanup EXIT

start_ingest() {
    VX_OPS_PORT=$OPS_PORT VX_LOG_LEVEL=${BENCH_LOG_LEVEL:-warn} scripts/as-service.sh ingest "$BIN/valdrix-ingest" </dev/null >>"$WORK/ingest.log" 2>&1 &
    ingest_pid=$!
    for _ in $(seq 1 200); do
        curl -fsS "http://127.0.0.1:$OPS_PORT/readyz" >/dev/null 2>&1 && break
        sleep 0.05
    done
}
# The streams are ingest's to make (publishers may not): one start makes them, then the backlog
# is published with ingest stopped, and the timed start drains it.
start_ingest
kill -TERM "$ingest_pid" && wait "$ingest_pid" || true
ingest_pid=""

fsync=$(psql "$VX_PG_ADMIN_DSN" -XAtqc "SHOW fsync")
log "publishing $N events ($DAYS days x $PER_DAY) to $VX_INGEST_STREAM; postgres fsync=$fsync"
t0=$(date +%s.%N)
"$BIN/valdrix" generate --tenant "$TENANT" --days "$DAYS" --events-per-day "$PER_DAY" --seed 11 \
    --end 2026-01-01 --batch 500 >&2
t1=$(date +%s.%N)
log "published in $(echo "$t1 - $t0" | bc -l | cut -c1-6) s"

start_ingest
t2=$(date +%s.%N)
written=0
while [ "$written" -lt "$N" ]; do
    sleep 0.2
    written=$(curl -fsS "http://127.0.0.1:$OPS_PORT/metrics" | awk '$1=="valdrix_ingest_events_written_total"{print $2}')
    written=${written:-0}
    kill -0 "$ingest_pid" 2>/dev/null || { log "ingest died: $(tail -5 "$WORK/ingest.log")"; exit 1; }
done
t3=$(date +%s.%N)
rows=$(psql "$VX_PG_ADMIN_DSN" -XAtqc "SELECT count(*) FROM cost_records WHERE tenant_id = '$TENANT'")
[ "$rows" -eq "$N" ] || { log "expected $N rows, found $rows"; exit 1; }
ingest_s=$(echo "$t3 - $t2" | bc -l)
eps=$(echo "$N / $ingest_s" | bc -l)
log "ingested $N events in $(echo "$ingest_s" | cut -c1-6) s"
kill -TERM "$ingest_pid"; wait "$ingest_pid" || true; ingest_pid=""

# Reference: the same rows, the same table shape (partitions by month, primary key), psql \copy.
cols="tenant_id, recorded_at, event_id, revision, charge_period_end, provider, sub_account_id, service_name, service_category, region_id, resource_id, charge_category, billed_cost, effective_cost, list_cost, billing_currency, usage_quantity, usage_unit, tags"
psql "$VX_PG_ADMIN_DSN" -Xq -c "\\copy (SELECT $cols FROM cost_records WHERE tenant_id = '$TENANT') TO '$WORK/rows.tsv'"
months=$(psql "$VX_PG_ADMIN_DSN" -XAtqc "SELECT DISTINCT to_char(date_trunc('month', recorded_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') FROM cost_records WHERE tenant_id = '$TENANT'")
{
    echo "CREATE TABLE bench_copy_$tag (LIKE cost_records INCLUDING DEFAULTS INCLUDING CONSTRAINTS, PRIMARY KEY (tenant_id, recorded_at, event_id)) PARTITION BY RANGE (recorded_at);"
    for m in $months; do
        next=$(date -u -d "$m +1 month" +%F)
        echo "CREATE TABLE bench_copy_${tag}_${m//-/_} PARTITION OF bench_copy_$tag FOR VALUES FROM ('$m 00:00+00') TO ('$next 00:00+00');"
    done
} | psql "$VX_PG_ADMIN_DSN" -Xq
t4=$(date +%s.%N)
psql "$VX_PG_ADMIN_DSN" -Xq -c "\\copy bench_copy_$tag ($cols) FROM '$WORK/rows.tsv'"
t5=$(date +%s.%N)
copy_s=$(echo "$t5 - $t4" | bc -l)
cps=$(echo "$N / $copy_s" | bc -l)
ratio=$(echo "$eps / $cps" | bc -l)
log "psql \\copy of the same rows: $(echo "$copy_s" | cut -c1-6) s"
result=$(printf 'ingest events=%d events_per_s=%.0f copy_rows_per_s=%.0f ratio=%.2f fsync=%s' \
    "$N" "$eps" "$cps" "$ratio" "$fsync")
trap - EXIT
cleanup
echo "$result"
