#!/usr/bin/env bash
# The API edge against its reference, on this machine, in one run:
#   1. a fresh tenant with a year of cost history (valdrix generate into a stream of its own,
#      committed by a valdrix-ingest of its own), its api limit raised so nothing is throttled,
#   2. valdrix-api on a free port; wrk (2 threads, 64 connections, 10 s, --latency) against the
#      authenticated, rate-limited GET /v1/costs/summary?group_by=service over that year,
#   3. nginx on a free loopback port serving the same bytes (fetched once with curl) as a static
#      file under the same path; the same wrk against it.
# Last line: api rps=X p99_ms=Y nginx_rps=Z ratio=R  (target: ratio >= 0.5, p99 < 10 ms)
# Usage: bench/api.sh. Starts the stack if none runs and stops what it started; removes its
# tenant, rows, rate-limit keys and streams. Needs root for nginx (it drops its workers).
# Knobs (environment):
#   BENCH_DAYS (365) BENCH_EVENTS_PER_DAY (300)   history of the tenant
#   BENCH_API_LOOPS (1)      VX_API_LOOPS of the API under test
#   BENCH_NGINX_WORKERS (auto)  worker_processes of the reference
#   BENCH_DURATION (10s) BENCH_THREADS (2) BENCH_CONNECTIONS (64) BENCH_WARMUP (2s)
#   BENCH_EXCLUDE_LIBS ("")  library folders to leave out of the build (VX_EXCLUDE_LIBS)
#   VX_BIN_DIR               use these binaries instead of building build-bench/
#   BENCH_KEEP_DIR           copy logs, wrk outputs and the answer there before cleanup
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DAYS=${BENCH_DAYS:-365}
PER_DAY=${BENCH_EVENTS_PER_DAY:-300}
N=$((DAYS * PER_DAY))
END=${BENCH_END:-2026-01-01}
FROM=$(date -u -d "$END -$DAYS days" +%F)
LOOPS=${BENCH_API_LOOPS:-1}
NGINX_WORKERS=${BENCH_NGINX_WORKERS:-auto}
DURATION=${BENCH_DURATION:-10s}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-64}
WARMUP=${BENCH_WARMUP:-2s}

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

for tool in wrk nginx curl psql python3 redis-cli; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done

# An optimized build of just what the bench runs.
if [ -n "${VX_BIN_DIR:-}" ]; then
    BIN=$VX_BIN_DIR
else
    BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build-bench}
    log "building valdrix-api, valdrix, valdrix-ingest in $BUILD_DIR (RelWithDebInfo)"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        "-DVX_EXCLUDE_LIBS=${BENCH_EXCLUDE_LIBS:-}" >/dev/null
    cmake --build "$BUILD_DIR" -j "$(nproc)" --target valdrix-api valdrix valdrix-ingest >/dev/null
    BIN=$BUILD_DIR/bin
fi
export VX_BIN_DIR=$BIN

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_stack_up

tag="a$$"
export VX_INGEST_STREAM="BENCH_API_EV_$tag" VX_DLQ_STREAM="BENCH_API_DLQ_$tag"
export VX_INGEST_SUBJECT="$tag.events" VX_DLQ_SUBJECT="$tag.deadletter" VX_CHANGED_SUBJECT="$tag.changed"
WORK=$(mktemp -d)
chmod 755 "$WORK"
TENANT=""
ingest_pid="" api_pid="" nginx_pid=""

stop_pid() { # pid: TERM, then wait for it
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

cleanup() {
    stop_pid "$nginx_pid"
    stop_pid "$api_pid"
    stop_pid "$ingest_pid"
    nginx_pid="" api_pid="" ingest_pid=""
    if [ -n "$TENANT" ]; then
        psql "$VX_PG_ADMIN_DSN" -Xq >/dev/null 2>&1 <<SQL || true
DELETE FROM cost_daily WHERE tenant_id = '$TENANT';
DELETE FROM cost_records WHERE tenant_id = '$TENANT';
DELETE FROM tenant_data_versions WHERE tenant_id = '$TENANT';
DELETE FROM api_keys WHERE tenant_id = '$TENANT';
DELETE FROM tenants WHERE id = '$TENANT';
SQL
        redis-cli -u "$VX_REDIS_URL" --scan --pattern "vx:rl:*:$TENANT" 2>/dev/null |
            while read -r k; do redis-cli -u "$VX_REDIS_URL" DEL "$k" >/dev/null 2>&1 || true; done
    fi
    if [ -n "${BENCH_KEEP_DIR:-}" ]; then
        { mkdir -p "$BENCH_KEEP_DIR" && cp -r "$WORK"/. "$BENCH_KEEP_DIR"/; } 2>/dev/null || true
    fi
    rm -rf "$WORK"
    "$BIN/valdrix" stream delete "$VX_INGEST_STREAM" >/dev/null 2>&1 || true
    "$BIN/valdrix" stream delete "$VX_DLQ_STREAM" >/dev/null 2>&1 || true
    if [ $started_stack = 1 ]; then bash scripts/stack.sh down >&2 || true; fi
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. a tenant with a year of history ----
TENANT=$("$BIN/valdrix" tenant create --name "bench-api-$tag" --plan enterprise --api-per-min 100000000)
KEY=$("$BIN/valdrix" key create --tenant "$TENANT")
# ingest first: the streams are its to make (a publisher may not)
INGEST_OPS=$(free_port)
VX_OPS_PORT=$INGEST_OPS VX_LOG_LEVEL=warn scripts/as-service.sh ingest "$BIN/valdrix-ingest" </dev/null >"$WORK/ingest.log" 2>&1 &
ingest_pid=$!
for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$INGEST_OPS/readyz" >/dev/null 2>&1 && break
    sleep 0.05
done
log "tenant $TENANT: publishing $N events ($DAYS days x $PER_DAY, $FROM..$END) to $VX_INGEST_STREAM"
"$BIN/valdrix" generate --tenant "$TENANT" --days "$DAYS" --events-per-day "$PER_DAY" --seed 7 \
    --end "$END" --batch 500 >&2
written=0
deadline=$((SECONDS + ${BENCH_INGEST_TIMEOUT:-600}))
while [ "$written" -lt "$N" ]; do
    sleep 0.2
    kill -0 "$ingest_pid" 2>/dev/null || die "ingest died: $(tail -5 "$WORK/ingest.log")"
    [ $SECONDS -lt $deadline ] || die "ingest committed $written of $N events in time"
    written=$(curl -fsS "http://127.0.0.1:$INGEST_OPS/metrics" 2>/dev/null |
        awk '$1=="valdrix_ingest_events_written_total"{print $2}' || true)
    written=${written%.*}
    written=${written:-0}
done
stop_pid "$ingest_pid"
ingest_pid=""
rolled=$(psql "$VX_PG_ADMIN_DSN" -XAtqc "SELECT coalesce(sum(record_count), 0) FROM cost_daily WHERE tenant_id = '$TENANT'")
[ "$rolled" -eq "$N" ] || die "the rollup holds $rolled events, expected $N"
log "ingest committed $N events (rollup: $(psql "$VX_PG_ADMIN_DSN" -XAtqc "SELECT count(*) FROM cost_daily WHERE tenant_id = '$TENANT'") rows)"

# ---- 2. the API ----
API_PORT=$(free_port)
VX_API_PORT=$API_PORT VX_API_LOOPS=$LOOPS VX_LOG_LEVEL=warn \
    scripts/as-service.sh api "$BIN/valdrix-api" </dev/null >"$WORK/api.log" 2>&1 &
api_pid=$!
for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "$api_pid" 2>/dev/null || die "valdrix-api died: $(tail -5 "$WORK/api.log")"
    sleep 0.05
done
PATH_Q="/v1/costs/summary?group_by=service&from=$FROM&to=$END"
AUTH="Authorization: Bearer $KEY"
code=$(curl -sS -o "$WORK/summary.json" -D "$WORK/summary.headers" -w '%{http_code}' \
    -H "$AUTH" "http://127.0.0.1:$API_PORT$PATH_Q")
[ "$code" = 200 ] || die "GET $PATH_Q answered $code: $(cat "$WORK/summary.json")"
BYTES=$(stat -c %s "$WORK/summary.json")
log "the answer: $BYTES bytes, $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["data"]))' "$WORK/summary.json") groups"

# wrk_run NAME URL [headers...]: warm up, measure; leaves $WORK/NAME.wrk
wrk_run() {
    local name=$1 url=$2
    shift 2
    wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$@" "$url" >/dev/null
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$@" "$url" >"$WORK/$name.wrk"
    sed 's/^/bench: wrk '"$name"': /' "$WORK/$name.wrk" >&2
    if grep -q "Socket errors" "$WORK/$name.wrk"; then
        log "warning: $name: $(grep "Socket errors" "$WORK/$name.wrk" | sed 's/^ *//'); wrk leaves" \
            "timed-out requests (over 2 s) out of its latency figures, so p99 is understated"
    fi
    if grep -q "Non-2xx or 3xx responses" "$WORK/$name.wrk"; then
        die "$name: some answers were not 2xx (throttled or failing?)"
    fi
}
rps_of() { awk '/^Requests\/sec:/{print $2}' "$1"; }
p99_ms_of() {
    awk '$1=="99%"{v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
         f = u=="us" ? 0.001 : u=="ms" ? 1 : u=="s" ? 1000 : u=="m" ? 60000 : -1;
         if (f < 0) exit 1; printf "%.3f", v * f}' "$1"
}

log "wrk -t$THREADS -c$CONNS -d$DURATION against valdrix-api (loops=$LOOPS) GET $PATH_Q"
wrk_run api "http://127.0.0.1:$API_PORT$PATH_Q" -H "$AUTH"
stop_pid "$api_pid"
api_pid=""

# ---- 3. nginx, the same bytes from a static file at the same path ----
mkdir -p "$WORK/www/v1/costs" "$WORK/nginx/logs"
cp "$WORK/summary.json" "$WORK/www/v1/costs/summary"
chmod -R a+rX "$WORK/www"
NGINX_PORT=$(free_port)
cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes $NGINX_WORKERS;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path $WORK/nginx/body;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/www;
        location = /v1/costs/summary { default_type application/json; }
    }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" </dev/null >"$WORK/nginx/logs/stdout.log" 2>&1 &
nginx_pid=$!
for _ in $(seq 1 200); do
    curl -fsS -o "$WORK/nginx.json" "http://127.0.0.1:$NGINX_PORT$PATH_Q" 2>/dev/null && break
    kill -0 "$nginx_pid" 2>/dev/null || die "nginx died: $(cat "$WORK/nginx/logs/"*.log | tail -5)"
    sleep 0.05
done
cmp -s "$WORK/nginx.json" "$WORK/summary.json" || die "nginx does not serve the API's bytes"

log "wrk -t$THREADS -c$CONNS -d$DURATION against nginx (workers=$NGINX_WORKERS), $BYTES-byte static file"
wrk_run nginx "http://127.0.0.1:$NGINX_PORT$PATH_Q"
stop_pid "$nginx_pid"
nginx_pid=""

api_rps=$(rps_of "$WORK/api.wrk")
api_p99=$(p99_ms_of "$WORK/api.wrk")
nginx_rps=$(rps_of "$WORK/nginx.wrk")
ratio=$(echo "$api_rps / $nginx_rps" | bc -l)
result=$(printf 'api rps=%.0f p99_ms=%.2f nginx_rps=%.0f ratio=%.2f' \
    "$api_rps" "$api_p99" "$nginx_rps" "$ratio")
log "bytes=$BYTES api_loops=$LOOPS nginx_workers=$NGINX_WORKERS nginx_p99_ms=$(p99_ms_of "$WORK/nginx.wrk")"
trap - EXIT
cleanup
echo "$result"
