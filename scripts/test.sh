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
# Services may use any stream and subject names (each test isolates itself by name).
VX_NATS_ANY_NAMES=1 VX_PG_FSYNC=${VX_PG_FSYNC:-off} bash scripts/stack.sh up

set -a
# shellcheck disable=SC1091
. "${VX_RUN_DIR:-$ROOT/.run}/env"
set +a
export VX_TEST_REQUIRE_SERVERS=1
# JetStream reserves each stream's size bound from its store (8 GiB here), and tests make many
# stream pairs at once: services started by tests bound theirs small unless a test says otherwise.
export VX_INGEST_STREAM_MAX_MB=${VX_INGEST_STREAM_MAX_MB:-256} VX_DLQ_MAX_MB=${VX_DLQ_MAX_MB:-32}

# A ThreadSanitizer build (make test-tsan): races inside the libraries we use are suppressed
# (tests/tsan.supp, each entry says why); every other report, from a test or from a service a
# test started, goes to $BUILD/tsan/ and fails the run even if the test itself passed.
tsan_dir=
if grep -q '^VX_SANITIZE:STRING=thread$' "$BUILD/CMakeCache.txt" 2>/dev/null; then
    tsan_dir=$(cd "$BUILD" && pwd)/tsan
    rm -rf "$tsan_dir"
    mkdir -p "$tsan_dir"
    export TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp log_path=$tsan_dir/report \
second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
fi

cd "$BUILD"
rc=0
ctest --output-on-failure -L 'unit|integration' -j "$(nproc)" "$@" || rc=$?
if [ -n "$tsan_dir" ] && compgen -G "$tsan_dir/report.*" >/dev/null; then
    for f in "$tsan_dir"/report.*; do
        echo "==== $f" >&2
        cat "$f" >&2
    done
    echo "test.sh: ThreadSanitizer reported the problems above (reports in $tsan_dir)" >&2
    rc=1
fi
exit $rc
