#!/usr/bin/env bash
# Runs every test against the real servers: brings the local stack up if it is not running,
# runs ctest (unit, then integration), and stops the stack again if this script started it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
cd "$ROOT"

started=0
if ! bash scripts/stack.sh status | grep -q "nats: running" ||
   ! bash scripts/stack.sh status | grep -q "postgres: running" ||
   ! bash scripts/stack.sh status | grep -q "redis: running"; then
    started=1
fi
cleanup() { [ $started = 1 ] && bash scripts/stack.sh down; }
trap cleanup EXIT
# Test clusters trade crash safety for speed; benchmarks of durability do not (bench/).
VX_PG_FSYNC=${VX_PG_FSYNC:-off} bash scripts/stack.sh up

set -a
# shellcheck disable=SC1091
. .run/env
set +a
export VX_TEST_REQUIRE_SERVERS=1
cd "$BUILD"
ctest --output-on-failure -L 'unit|integration' -j "$(nproc)" "$@"
