#!/usr/bin/env bash
# Insight requests over NATS against valdrix-llm, on this machine, in one run:
#   1. a fresh tenant with two years of daily spend (20 services, written straight into the
#      rollup) and a budget far above what the run spends,
#   2. fake-llm (an OpenAI-compatible provider on loopback) answering after a fixed 50 ms,
#      and valdrix-llm configured to it (openai, then local),
#   3. llm-load (bench/llm_load.c) with BENCH_CONCURRENCY requests in flight: first every
#      request a different question (window and focus vary, so none comes from the cache),
#      then one question over and over (all from the cache).
# Last line: llm rps=X p99_ms=Y cached_rps=Z overhead_ms=W
#   rps, p99_ms: uncached requests (each one a provider call, budget reserve/settle and ledger
#   row); cached_rps: cache hits; overhead_ms: p50 of uncached minus the provider's 50 ms.
# Usage: bench/llm.sh. Starts the stack if none runs and stops what it started; removes its
# tenant, its rows, its Redis keys.
# Knobs (environment):
#   BENCH_CONCURRENCY (16)   requests in flight (VX_LLM_WORKERS is twice that)
#   BENCH_REQUESTS (2000)    uncached requests; BENCH_CACHED_REQUESTS (20000) cached ones
#   BENCH_LATENCY_MS (50)    the fake provider's latency
#   BENCH_LOG_LEVEL (warn)   VX_LOG_LEVEL of the service (info logs a line per request)
#   BENCH_EXCLUDE_LIBS ("")  library folders to leave out of the build (VX_EXCLUDE_LIBS)
#   VX_BIN_DIR               use these binaries instead of building build-bench/
#   BENCH_KEEP_DIR           copy the logs there before cleanup
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CONC=${BENCH_CONCURRENCY:-16}
REQUESTS=${BENCH_REQUESTS:-2000}
CACHED=${BENCH_CACHED_REQUESTS:-20000}
LATENCY=${BENCH_LATENCY_MS:-50}

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
for tool in curl psql python3 redis-cli; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done

# An optimized build of just what the bench runs.
if [ -n "${VX_BIN_DIR:-}" ]; then
    BIN=$VX_BIN_DIR
else
    BUILD_DIR=${BENCH_BUILD_DIR:-$ROOT/build-bench}
    log "building valdrix-llm, fake-llm, llm-load, valdrix in $BUILD_DIR (RelWithDebInfo)"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        "-DVX_EXCLUDE_LIBS=${BENCH_EXCLUDE_LIBS:-}" >/dev/null
    cmake --build "$BUILD_DIR" -j "$(nproc)" --target valdrix-llm fake-llm llm-load valdrix >/dev/null
    BIN=$BUILD_DIR/bin
fi
export VX_BIN_DIR=$BIN
for p in valdrix-llm fake-llm llm-load valdrix; do
    [ -x "$BIN/$p" ] || die "$BIN/$p is missing"
done

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_stack_up

tag="l$$"
WORK=$(mktemp -d)
TENANT=""
fake_pid="" llm_pid=""

stop_pid() { # pid: TERM, then wait for it
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

cleanup() {
    stop_pid "$llm_pid"
    stop_pid "$fake_pid"
    llm_pid="" fake_pid=""
    if [ -n "$TENANT" ]; then
        psql "$VX_PG_ADMIN_DSN" -Xq >/dev/null 2>&1 <<SQL || true
DELETE FROM cost_daily WHERE tenant_id = '$TENANT';
DELETE FROM tenant_data_versions WHERE tenant_id = '$TENANT';
DELETE FROM tenants WHERE id = '$TENANT';
SQL
        for pattern in "vx:llm:v1:$TENANT:*" "vx:llm:budget:$TENANT:*"; do
            redis-cli -u "$VX_REDIS_URL" --scan --pattern "$pattern" 2>/dev/null |
                while read -r k; do redis-cli -u "$VX_REDIS_URL" DEL "$k" >/dev/null 2>&1 || true; done
        done
    fi
    if [ -n "${BENCH_KEEP_DIR:-}" ]; then
        { mkdir -p "$BENCH_KEEP_DIR" && cp -r "$WORK"/. "$BENCH_KEEP_DIR"/; } 2>/dev/null || true
    fi
    rm -rf "$WORK"
    if [ $started_stack = 1 ]; then bash scripts/stack.sh down >&2 || true; fi
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. the tenant ----
TENANT=$("$BIN/valdrix" tenant create --name "bench-llm-$tag" --plan enterprise)
psql "$VX_PG_ADMIN_DSN" -Xq -v ON_ERROR_STOP=1 <<SQL
UPDATE tenants SET llm_budget_usd = 1000000 WHERE id = '$TENANT';
INSERT INTO cost_daily (tenant_id, day, service_name, sub_account_id, region_id, provider,
                        billing_currency, billed_cost, effective_cost, list_cost, record_count)
SELECT '$TENANT', d::date, 'svc-' || s, '1000000000' || (s % 3), 'us-east-1', 'aws', 'USD',
       c, c, c * 1.1, 10
FROM generate_series(date '2023-11-01', date '2026-01-31', interval '1 day') d,
     generate_series(1, 20) s,
     LATERAL (SELECT round((10 * s + 5 * sin(extract(doy FROM d) / 7.0 + s)
                           + extract(epoch FROM d - date '2023-11-01') / 86400 / 50)::numeric, 4)
              AS c) v;
INSERT INTO tenant_data_versions (tenant_id, version) VALUES ('$TENANT', 1);
SQL
log "tenant $TENANT: $(psql "$VX_PG_ADMIN_DSN" -XAtqc "SELECT count(*) FROM cost_daily WHERE tenant_id = '$TENANT'") rollup rows"

# ---- 2. the fake provider and the service ----
"$BIN/fake-llm" --port 0 --latency-ms "$LATENCY" >"$WORK/fake.out" 2>"$WORK/fake.log" &
fake_pid=$!
FAKE_PORT=""
for _ in $(seq 1 100); do
    FAKE_PORT=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' "$WORK/fake.out" | head -1)
    [ -n "$FAKE_PORT" ] && break
    sleep 0.05
done
[ -n "$FAKE_PORT" ] || die "fake-llm did not start: $(cat "$WORK/fake.log")"

OPS_PORT=$(free_port)
SUBJECT="bench$tag.llm.insight"
VX_LLM_SUBJECT=$SUBJECT VX_LLM_QUEUE="bench-$tag" VX_LLM_OPS_PORT=$OPS_PORT \
    VX_LLM_WORKERS=$((CONC * 2)) VX_LLM_FORECAST_SUBJECT="bench$tag.forecast" \
    VX_LLM_PROVIDERS=openai:gpt-4o-mini,local VX_LLM_OPENAI_URL="http://127.0.0.1:$FAKE_PORT/v1" \
    VX_LLM_OPENAI_KEY="sk-bench-not-a-real-key" VX_REDIS_POOL_SIZE=$((CONC * 2 + 1)) \
    VX_PG_POOL_SIZE=$((CONC < 40 ? CONC : 40)) VX_LOG_LEVEL=${BENCH_LOG_LEVEL:-warn} \
    scripts/as-service.sh llm "$BIN/valdrix-llm" </dev/null >"$WORK/llm.log" 2>&1 &
llm_pid=$!
ready=0
for _ in $(seq 1 200); do
    if curl -fsS "http://127.0.0.1:$OPS_PORT/readyz" >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$llm_pid" 2>/dev/null || die "valdrix-llm died: $(tail -5 "$WORK/llm.log")"
    sleep 0.05
done
[ $ready = 1 ] || die "valdrix-llm did not become ready: $(tail -5 "$WORK/llm.log")"

# ---- 3. the load ----
metric() { curl -fsS "http://127.0.0.1:$OPS_PORT/metrics" | awk -v k="$1" '$1==k{print $2}'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }

log "warm-up: $CONC uncached requests"
"$BIN/llm-load" --subject "$SUBJECT" --tenant "$TENANT" --concurrency "$CONC" \
    --requests "$CONC" --mode uncached --offset 100000 >/dev/null

log "uncached: $REQUESTS requests, $CONC in flight, provider latency ${LATENCY} ms"
calls0=$(metric 'valdrix_llm_provider_calls_total{provider="openai",outcome="ok"}')
uncached=$("$BIN/llm-load" --subject "$SUBJECT" --tenant "$TENANT" --concurrency "$CONC" \
    --requests "$REQUESTS" --mode uncached)
log "uncached: $uncached"
calls1=$(metric 'valdrix_llm_provider_calls_total{provider="openai",outcome="ok"}')
paid=$(printf '%.0f' "$(echo "${calls1:-0} - ${calls0:-0}" | bc -l)")
[ "$paid" -eq "$REQUESTS" ] || die "expected $REQUESTS provider calls, the service made $paid"
ledger=$(psql "$VX_PG_ADMIN_DSN" -XAtqc "SELECT count(*) FROM llm_usage WHERE tenant_id = '$TENANT' AND outcome = 'ok'")
log "ledger rows: $ledger"

log "cached: $CACHED requests of one question, $CONC in flight"
hits0=$(metric valdrix_llm_cache_hits_total)
cached=$("$BIN/llm-load" --subject "$SUBJECT" --tenant "$TENANT" --concurrency "$CONC" \
    --requests "$CACHED" --mode cached)
log "cached: $cached"
hits1=$(metric valdrix_llm_cache_hits_total)
hits=$(printf '%.0f' "$(echo "${hits1:-0} - ${hits0:-0}" | bc -l)")
[ "$hits" -ge "$CACHED" ] || die "expected $CACHED cache hits, the service counted $hits"

rps=$(field rps "$uncached")
p50=$(field p50_ms "$uncached")
p99=$(field p99_ms "$uncached")
cached_rps=$(field rps "$cached")
overhead=$(echo "$p50 - $LATENCY" | bc -l)
result=$(printf 'llm rps=%.1f p99_ms=%.1f cached_rps=%.1f overhead_ms=%.1f' \
    "$rps" "$p99" "$cached_rps" "$overhead")
trap - EXIT
cleanup
echo "$result"
