#!/usr/bin/env bash
# `make run`: the whole system in the foreground. Starts the local stack, the services, a demo
# tenant with an API key and months of cost history published through NATS, prints what to
# try, then follows the services' logs until Ctrl-C, which stops everything it started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${VX_BIN_DIR:-$ROOT/build/bin}
RUN=${VX_RUN_DIR:-$ROOT/.run}
DEMO_DAYS=${VX_DEMO_DAYS:-180}
DEMO_EVENTS_PER_DAY=${VX_DEMO_EVENTS_PER_DAY:-2000}
INGEST_OPS_PORT=${VX_INGEST_OPS_PORT:-9101}
FORECAST_OPS_PORT=${VX_FORECAST_OPS_PORT:-9102}
LLM_OPS_PORT=${VX_LLM_OPS_PORT:-9103}
API_PORT=${VX_API_PORT:-8080}
cd "$ROOT"

say() { echo "valdrix: $*" >&2; }

bash scripts/stack.sh up
set -a
# shellcheck disable=SC1091
. "$RUN/env"
set +a
mkdir -p "$RUN/logs"

pids=()
stopping=0
stop_all() {
    [ $stopping = 1 ] && return
    stopping=1
    trap - INT TERM HUP
    say "stopping"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    bash scripts/stack.sh down
    exit 0
}
trap stop_all INT TERM HUP

wait_ready() { # port name
    for _ in $(seq 1 200); do
        if curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    say "$2 did not become ready; see $RUN/logs/$2.log"
    stop_all
}

VX_OPS_PORT=$INGEST_OPS_PORT scripts/as-service.sh ingest "$BIN/valdrix-ingest" </dev/null >>"$RUN/logs/ingest.log" 2>&1 &
pids+=($!)
wait_ready "$INGEST_OPS_PORT" ingest
say "ingest ready (metrics on http://127.0.0.1:$INGEST_OPS_PORT/metrics)"

VX_FORECAST_OPS_PORT=$FORECAST_OPS_PORT scripts/as-service.sh forecast "$BIN/valdrix-forecast" </dev/null >>"$RUN/logs/forecast.log" 2>&1 &
pids+=($!)
wait_ready "$FORECAST_OPS_PORT" forecast
say "forecast ready (metrics on http://127.0.0.1:$FORECAST_OPS_PORT/metrics)"

# With no provider key in the environment the llm service writes insights from the numbers alone
# (the `local` provider); set e.g. VX_LLM_PROVIDERS=groq:llama-3.3-70b-versatile,local and
# GROQ_API_KEY before `make run` to have a real model write them.
VX_LLM_OPS_PORT=$LLM_OPS_PORT scripts/as-service.sh llm "$BIN/valdrix-llm" </dev/null >>"$RUN/logs/llm.log" 2>&1 &
pids+=($!)
wait_ready "$LLM_OPS_PORT" llm
say "llm ready (providers: ${VX_LLM_PROVIDERS:-local}; metrics on http://127.0.0.1:$LLM_OPS_PORT/metrics)"

VX_API_PORT=$API_PORT scripts/as-service.sh api "$BIN/valdrix-api" </dev/null >>"$RUN/logs/api.log" 2>&1 &
pids+=($!)
wait_ready "$API_PORT" api
say "api ready on http://127.0.0.1:$API_PORT"

# The demo tenant is made once and kept with the stack's data.
if [ -f "$RUN/demo.env" ]; then
    # shellcheck disable=SC1091
    . "$RUN/demo.env"
    say "demo tenant $DEMO_TENANT (kept from an earlier run)"
else
    # A tenant left by an interrupted seeding is reused (its id is in demo.partial).
    if [ -f "$RUN/demo.partial" ]; then
        # shellcheck disable=SC1091
        . "$RUN/demo.partial"
    else
        DEMO_TENANT=$("$BIN/valdrix" tenant create --name "demo-$(date +%s)" --plan growth)
        DEMO_KEY=$("$BIN/valdrix" key create --tenant "$DEMO_TENANT")
        (umask 077; printf 'DEMO_TENANT=%s\nDEMO_KEY=%s\n' "$DEMO_TENANT" "$DEMO_KEY" >"$RUN/demo.partial")
    fi
    say "seeding $DEMO_DAYS days x $DEMO_EVENTS_PER_DAY events through NATS"
    # the same seed publishes the same events, so a re-run after an interruption adds nothing twice
    "$BIN/valdrix" generate --tenant "$DEMO_TENANT" --days "$DEMO_DAYS" \
        --events-per-day "$DEMO_EVENTS_PER_DAY" --seed 1
    mv "$RUN/demo.partial" "$RUN/demo.env"
fi

total=$((DEMO_DAYS * DEMO_EVENTS_PER_DAY))
for _ in $(seq 1 600); do
    n=$(psql "$VX_PG_ADMIN_DSN" -XAtqc "SELECT count(*) FROM cost_records WHERE tenant_id = '$DEMO_TENANT'")
    [ "$n" -ge "$total" ] && break
    sleep 0.5
done
say "$n cost records stored for the demo tenant"

psql "$VX_PG_ADMIN_DSN" -Xq -c "\\copy (SELECT day AS date, sum(billed_cost) AS value FROM cost_daily WHERE tenant_id = '$DEMO_TENANT' GROUP BY 1 ORDER BY 1) TO '$RUN/demo-daily.csv' CSV HEADER"
FROM=$(date -u -d "-30 days" +%F)
TO=$(date -u -d "+1 day" +%F)
cat <<EOT

  Valdrix is running. Settings: $RUN/env (source it with: set -a; . $RUN/env; set +a)

  Demo tenant  $DEMO_TENANT
  API key      $DEMO_KEY

  Try (the key goes in a variable first):
    K=$DEMO_KEY
    curl -s -H "Authorization: Bearer \$K" "http://127.0.0.1:$API_PORT/v1/costs/summary?from=$FROM&to=$TO&group_by=service"
    curl -s -H "Authorization: Bearer \$K" "http://127.0.0.1:$API_PORT/v1/costs/summary?from=$FROM&to=$TO&group_by=day,provider"
    curl -s -H "Authorization: Bearer \$K" "http://127.0.0.1:$API_PORT/v1/costs?from=$FROM&to=$TO&limit=2&service=Amazon%20Elastic%20Compute%20Cloud"
    curl -s -H "Authorization: Bearer \$K" "http://127.0.0.1:$API_PORT/v1/usage"
    curl -s -H "Authorization: Bearer \$K" -X POST "http://127.0.0.1:$API_PORT/v1/cost-events" -H "Idempotency-Key: try-1" \\
      --data-binary '[{"EventId":"6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b","ChargePeriodStart":"$FROM","ChargePeriodEnd":"$TO","BilledCost":"12.34","BillingCurrency":"USD","ProviderName":"AWS","SubAccountId":"123456789012","ServiceName":"AmazonEC2","ChargeCategory":"Usage"}]'
    # forecasts per service and in total, anomalies, and an insight (written locally unless a provider key is set)
    curl -s -H "Authorization: Bearer \$K" -X POST "http://127.0.0.1:$API_PORT/v1/forecasts" -d '{"horizon_days":14,"top_services":3}'
    curl -s -H "Authorization: Bearer \$K" "http://127.0.0.1:$API_PORT/v1/costs/anomalies?min_rel=0.2"
    curl -s -H "Authorization: Bearer \$K" -X POST "http://127.0.0.1:$API_PORT/v1/insights" -d '{"kind":"summary"}'
    curl -s "http://127.0.0.1:$API_PORT/readyz"; curl -s "http://127.0.0.1:$API_PORT/metrics" | grep valdrix_api_requests
    # offline forecast of the demo's daily spend (written from the rollup), and more history
    $BIN/valdrix forecast --csv $RUN/demo-daily.csv --horizon 14
    $BIN/valdrix generate --tenant $DEMO_TENANT --days 30 --events-per-day 500 --seed 2

  Ctrl-C stops everything. Service logs follow.

EOT
tail -n 0 -F "$RUN/logs/ingest.log" "$RUN/logs/forecast.log" "$RUN/logs/llm.log" "$RUN/logs/api.log" &
pids+=($!)
# Returns when any of them exits (or a signal arrives, which stop_all handles).
wait -n "${pids[@]}" || true
say "a process exited; see $RUN/logs"
stop_all
