#!/usr/bin/env bash
# Runs a command as one service on NATS: scripts/as-service.sh ingest valdrix-ingest ...
# takes the service's own credential from the settings scripts/stack.sh wrote (.run/env, sourced
# by the caller: VX_NATS_SERVICE_URL and VX_NATS_PASSWORD_<SERVICE>; for a service that uses
# Redis, VX_REDIS_SERVICE_URL and VX_REDIS_PASSWORD_<SERVICE>) and replaces itself with the
# command (same pid), so `$!` of a background call is the service's.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 ingest|forecast|llm|api COMMAND [ARG...]" >&2; exit 2; }
user=$1
shift
var="VX_NATS_PASSWORD_${user^^}"
[ -n "${!var:-}" ] || { echo "as-service: $var is not set (source .run/env first)" >&2; exit 78; }
export VX_NATS_URL=${VX_NATS_SERVICE_URL:-$VX_NATS_URL} VX_NATS_USER=$user VX_NATS_PASSWORD=${!var}
rvar="VX_REDIS_PASSWORD_${user^^}"
if [ -n "${!rvar:-}" ]; then
    export VX_REDIS_URL=${VX_REDIS_SERVICE_URL:-$VX_REDIS_URL} VX_REDIS_USER=$user VX_REDIS_PASSWORD=${!rvar}
fi
exec "$@"
