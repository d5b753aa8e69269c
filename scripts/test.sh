#!/usr/bin/env bash
# Runs every test against the real servers: brings the local stack up if it is not running,
# runs ctest (unit and integration), and stops the stack again if this script started it.
# The exit status is ctest's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
cd "$ROOT"

status=$(bash scripts/stack.sh status)
started=1
if grep -q "nats: running" <<<"$status" && grep -q "postgres: running" <<<"$status" &&
    grep -q "redis: running" <<<"$status"; then
    started=0
fi
cleanup() {
    local rc=$?
    [ $started = 1 ] && bash "$ROOT/scripts/stack.sh" down
    exit $rc
}
trap cleanup EXIT
# Test clusters trade crash safety for speed; benchmarks of durability do not (bench/).
VX_PG_FSYNC=${VX_PG_FSYNC:-off} bash scripts/stack.sh up

set -a
# shellcheck disable=SC1091
. "${VX_RUN_DIR:-$ROOT/.run}/env"
set +a
export VX_TEST_REQUIRE_SERVERS=1
cd "$BUILD"
ctest --output-on-failure -L 'unit|integration' -j "$(nproc)" "$@"
