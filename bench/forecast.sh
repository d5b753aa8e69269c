#!/usr/bin/env bash
# Forecast speed, on this machine, in one run:
#   1. fit: the median time of vx_forecast_run (backtests, choice, final fit, intervals) on 3
#      years of daily data over 101 fits (bench/forecast_fit.c, -O2),
#   2. end to end: a fresh tenant with 10 000 000 cost records behind its daily rollup over 3
#      years (cost_daily rows written directly as the owner: 30 services x 10 accounts x 4
#      regions x 1095 days = 1 314 000 rows whose record_count sums to exactly 10 000 000),
#      valdrix-forecast on subjects of its own, and bench/forecast_e2e.c asking for the whole
#      3 years over NATS: the median of BENCH_RUNS requests that miss the cache (each another
#      horizon: data version, rollup query, fits, cache write), and the median of as many
#      repeats that hit it.
# Last line: forecast fit_ms=X e2e_ms=Y records=N cached_ms=Z cold_ms=W services=S runs=R
# (targets: fit < 10 ms, e2e < 1 s).
# Usage: bench/forecast.sh. Starts the stack if none runs and stops what it started; removes its
# tenant, rows and cache keys.
# Knobs (environment):
#   BENCH_RUNS (7)             requests per median
#   BENCH_FIT_THREADS (CPUs)   VX_FORECAST_FIT_THREADS of the service
#   BENCH_EXCLUDE_LIBS ("")    library folders to leave out of the build (VX_EXCLUDE_LIBS)
#   BENCH_BUILD_DIR (build-bench)  where the optimized build goes
#   BENCH_KEEP_DIR             copy the service log there before cleanup
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUNS=${BENCH_RUNS:-7}
DAYS=1095
END=$(date -u +%F)
FROM=$(date -u -d "$END -$DAYS days" +%F)

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

for tool in psql python3 redis-cli curl cc pkg-config; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done

BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build-bench}
log "building valdrix-forecast, valdrix and the NATS client libraries in $BUILD_DIR (Release)"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
    "-DVX_EXCLUDE_LIBS=${BENCH_EXCLUDE_LIBS:-}" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)" --target valdrix-forecast valdrix vx_bus vx_proto \
    vx_core >/dev/null
BIN=$BUILD_DIR/bin
WORK=$(mktemp -d)
chmod 755 "$WORK"
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Ilibs/core/include -Ilibs/forecast/include \
    -Ilibs/forecast/src libs/forecast/src/*.c libs/core/src/alloc.c libs/core/src/clock.c \
    libs/core/src/status.c bench/forecast_fit.c -lm -o "$WORK/forecast_fit"
# shellcheck disable=SC2046
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Ilibs/core/include -Ilibs/bus/include \
    -I"$BUILD_DIR/proto/gen" bench/forecast_e2e.c "$BUILD_DIR/libs/bus/libvx_bus.a" \
    "$BUILD_DIR/proto/libvx_proto.a" "$BUILD_DIR/libs/core/libvx_core.a" \
    $(pkg-config --libs libnats libprotobuf-c) -lpthread -o "$WORK/forecast_e2e"

log "fit: 3 years of daily data, 101 fits"
fit_line=$("$WORK/forecast_fit")
fit_ms=$(echo "$fit_line" | sed -n 's/^forecast fit_ms=\([0-9.]*\).*/\1/p')
log "$fit_line"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_stack_up

tag="f$$"
TENANT=""
svc_pid=""
cleanup() {
    if [ -n "$svc_pid" ]; then
        kill -TERM "$svc_pid" 2>/dev/null || true
        wait "$svc_pid" 2>/dev/null || true
    fi
    [ -n "${BENCH_KEEP_DIR:-}" ] && cp "$WORK"/*.log "$BENCH_KEEP_DIR"/ 2>/dev/null
    if [ -n "$TENANT" ]; then
        psql "$VX_PG_ADMIN_DSN" -Xq >/dev/null 2>&1 <<SQL || true
DELETE FROM cost_daily WHERE tenant_id = '$TENANT';
DELETE FROM tenant_data_versions WHERE tenant_id = '$TENANT';
DELETE FROM tenants WHERE id = '$TENANT';
SQL
        # leave no dead rows behind for the next run's scans
        psql "$VX_PG_ADMIN_DSN" -Xq -c "VACUUM cost_daily" >/dev/null 2>&1 || true
        redis-cli -u "$VX_REDIS_URL" --scan --pattern "vx:fc:v1:$TENANT:*" 2>/dev/null |
            xargs -r redis-cli -u "$VX_REDIS_URL" DEL >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    if [ $started_stack = 1 ]; then bash scripts/stack.sh down >&2; fi
    return 0
}
trap cleanup EXIT

TENANT=$("$BIN/valdrix" tenant create --name "bench-forecast-$tag" --plan enterprise)
log "tenant $TENANT: writing 1 314 000 rollup rows for $FROM .. $END (10 000 000 records)"
# Services spend on a long-tailed scale (the biggest ~30x the 30th), accounts and regions split
# them unevenly; weekends are cheaper, spend grows about 22 % a year with a yearly swing, two
# services step up in the last year, and every row carries its own deterministic noise.
# record_count is 7 or 8: 7919 is prime to 1 314 000, so exactly 802 000 rows get 8, spread
# over the whole range, and the counts sum to 1 314 000 x 7 + 802 000 = 10 000 000.
t0=$(date +%s.%N)
psql "$VX_PG_ADMIN_DSN" -Xq -v ON_ERROR_STOP=1 <<SQL
INSERT INTO cost_daily (tenant_id, day, service_name, sub_account_id, region_id, provider,
                        billing_currency, billed_cost, effective_cost, list_cost, record_count)
SELECT '$TENANT'::uuid, date '$FROM' + d, 'service-' || lpad(s::text, 2, '0'),
       'account-' || lpad(a::text, 2, '0'), (ARRAY['us-east-1', 'us-west-2', 'eu-west-1', 'ap-southeast-1'])[r],
       'AWS', 'USD', round(c * 1.05, 9), round(c, 9), round(c * 1.2, 9),
       7 + ((((((d * 30 + s - 1) * 10 + a - 1) * 4 + r - 1)::bigint * 7919) % 1314000) < 802000)::int
FROM generate_series(0, $DAYS - 1) d, generate_series(1, 30) s, generate_series(1, 10) a,
     generate_series(1, 4) r,
LATERAL (SELECT ((400.0 / s / (0.5 * a + 1) / r)
    * (1 + 0.0006 * d)
    * (CASE WHEN extract(isodow FROM date '$FROM' + d) >= 6 THEN 0.7 ELSE 1.0 END)
    * (1 + 0.08 * sin(2 * pi() * d / 365.25 + s))
    * (CASE WHEN s IN (3, 7) AND d > 800 THEN 1.4 ELSE 1.0 END)
    * (0.85 + 0.3 * (((d::bigint * 2654435761 + s * 40503 + a * 9973 + r * 131) % 10007) / 10007.0)))::numeric
    AS c) x;
INSERT INTO tenant_data_versions (tenant_id, version) VALUES ('$TENANT', 1);
SQL
# What autovacuum would soon do: statistics for the planner, and no dead rows left by earlier
# runs' clean-ups in the way of the scan.
psql "$VX_PG_ADMIN_DSN" -Xq -v ON_ERROR_STOP=1 -c "VACUUM (ANALYZE) cost_daily"
t1=$(date +%s.%N)
records=$(psql "$VX_PG_ADMIN_DSN" -XAtqc "SELECT sum(record_count) FROM cost_daily WHERE tenant_id = '$TENANT'")
[ "$records" = 10000000 ] || die "seeded $records records, not 10000000"
log "seeded in $(echo "$t1 - $t0" | bc -l | cut -c1-5) s"

port=$(free_port)
VX_FORECAST_SUBJECT="bench$tag.forecast" VX_FORECAST_QUEUE="bench$tag" VX_FORECAST_OPS_PORT=$port \
    VX_LOG_LEVEL=${BENCH_LOG_LEVEL:-info} \
    ${BENCH_FIT_THREADS:+VX_FORECAST_FIT_THREADS=$BENCH_FIT_THREADS} \
    scripts/as-service.sh forecast "$BIN/valdrix-forecast" </dev/null >"$WORK/forecast.log" 2>&1 &
svc_pid=$!
for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.05
done
curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null || die "valdrix-forecast not ready: $(tail -3 "$WORK/forecast.log")"

log "end to end: $RUNS uncached and $RUNS cached requests for $FROM .. $END"
e2e_line=$("$WORK/forecast_e2e" "bench$tag.forecast" "$TENANT" "$FROM" "$END" "$RUNS")
log "$e2e_line"
# where the uncached requests spent their time, from the service's log lines
python3 - "$WORK/forecast.log" >&2 <<'PY' || true
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"msg":"request"' in l]
miss = [r for r in rows if r.get("cache") == "miss"]
if miss:
    med = lambda k: statistics.median(r[k] for r in miss)
    print("bench: uncached, median: db_ms=%.1f model_ms=%.1f service_ms=%.1f" % (med("db_ms"), med("model_ms"), med("ms")))
PY
kv() { echo "$e2e_line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
result=$(printf 'forecast fit_ms=%s e2e_ms=%s records=%s cached_ms=%s cold_ms=%s services=%s runs=%s' \
    "$fit_ms" "$(kv e2e_ms)" "$(kv records)" "$(kv cached_ms)" "$(kv cold_ms)" "$(kv services)" \
    "$RUNS")
trap - EXIT
cleanup
echo "$result"
