# Sourced by the bench scripts (from the repository root, with BIN set): what they share.

# Starts the local stack if none runs, with any stream and subject names allowed (each bench
# isolates itself by name), and loads its settings (.run/env). started_stack=1 when this call
# started it, so the bench's cleanup stops only what it started.
bench_stack_up() {
    started_stack=0
    if ! bash scripts/stack.sh status | grep -q "postgres: running"; then
        started_stack=1
    fi
    VX_NATS_ANY_NAMES=1 VX_BIN_DIR=$BIN bash scripts/stack.sh up >&2
    set -a
    # shellcheck disable=SC1091
    . "${VX_RUN_DIR:-$ROOT/.run}/env"
    set +a
}
