#!/usr/bin/env bash
# Starts and stops the local NATS (JetStream), PostgreSQL 15 and Redis 7 that Valdrix runs and
# tests against, all under one folder (default .run/) on ports of their own.
#   scripts/stack.sh up      start what is not running, migrate, write .run/env
#   scripts/stack.sh down    stop exactly what `up` started
#   scripts/stack.sh status  say what runs
# Ports: VX_NATS_PORT (14222), VX_PG_PORT (15432), VX_REDIS_PORT (16379); folder: VX_RUN_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${VX_RUN_DIR:-$ROOT/.run}
NATS_PORT=${VX_NATS_PORT:-14222}
NATS_MON_PORT=${VX_NATS_MON_PORT:-18222}
PG_PORT=${VX_PG_PORT:-15432}
REDIS_PORT=${VX_REDIS_PORT:-16379}
PG_BIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
VALDRIX=${VX_BIN_DIR:-$ROOT/build/bin}/valdrix

log() { echo "stack: $*" >&2; }
die() { echo "stack: error: $*" >&2; exit 1; }

# A pidfile counts only if its process still runs and is the server it names (after a reboot
# the pid may belong to anything else, which must never be signalled).
alive() { # pidfile program
    [ -f "$1" ] || return 1
    local pid
    pid=$(cat "$1")
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

wait_port() { # host port seconds what
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.1
    done
    die "$4 did not listen on $1:$2 within $3 s (see $RUN/*.log)"
}

# Postgres refuses to run as root: as root it runs as the postgres user, on a data folder that
# user owns. If that user cannot reach $RUN (a checkout under /root), the data lives in /tmp and
# $RUN/pgdata points there.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_datadir() {
    if [ -L "$RUN/pgdata" ] || [ -d "$RUN/pgdata" ]; then readlink -f "$RUN/pgdata"; return; fi
    local dir="$RUN/pgdata"
    if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$RUN"; then
        local tmp
        tmp=$(mktemp -d /tmp/valdrix-pg.XXXXXX)
        chmod 755 "$tmp"
        ln -s "$tmp" "$RUN/pgdata"
        dir=$tmp
    else
        mkdir -p "$dir"
    fi
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
    chmod 700 "$dir"
    echo "$dir"
}

secret() { head -c 18 /dev/urandom | base64 | tr -d '/+=' ; }

up_nats() {
    if alive "$RUN/nats.pid" nats-server; then return; fi
    mkdir -p "$RUN/nats"
    cat >"$RUN/nats.conf" <<CONF
listen: 127.0.0.1:$NATS_PORT
http: 127.0.0.1:$NATS_MON_PORT
max_payload: 8MB
jetstream {
    store_dir: "$RUN/nats"
    max_mem: 256M
    max_file: 8G
}
CONF
    nats-server -c "$RUN/nats.conf" </dev/null >"$RUN/nats.log" 2>&1 &
    echo $! >"$RUN/nats.pid"
    wait_port 127.0.0.1 "$NATS_PORT" 20 "nats-server"
    log "nats up on $NATS_PORT (monitoring $NATS_MON_PORT)"
}

up_redis() {
    if alive "$RUN/redis.pid" redis-server; then return; fi
    mkdir -p "$RUN/redis"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$RUN/redis" --save '' \
        --appendonly no --daemonize no </dev/null >"$RUN/redis.log" 2>&1 &
    echo $! >"$RUN/redis.pid"
    wait_port 127.0.0.1 "$REDIS_PORT" 20 "redis-server"
    log "redis up on $REDIS_PORT"
}

psql_super() {
    as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PG_PORT" -U postgres "$@"
}

up_pg() {
    local data
    data=$(pg_datadir)
    SOCKDIR=$data
    if [ -f "$data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        return
    fi
    local fresh=0
    if [ ! -f "$data/PG_VERSION" ]; then
        fresh=1
        as_pg "$PG_BIN/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
            -E UTF8 --locale=C.UTF-8 >"$RUN/initdb.log" 2>&1 || die "initdb failed (see $RUN/initdb.log)"
    fi
    # Tests may set VX_PG_FSYNC=off for speed; durability benchmarks keep the default (on).
    as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 30 \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $data -c fsync=${VX_PG_FSYNC:-on} -c max_connections=200 -c shared_buffers=256MB -c max_wal_size=2GB" \
        start >/dev/null || die "postgres did not start (see $data/server.log)"
    ln -sf "$data/server.log" "$RUN/postgres.log"
    log "postgres up on $PG_PORT ($data)"
    if [ $fresh = 1 ]; then
        local owner_pw app_pw
        owner_pw=$(secret)
        app_pw=$(secret)
        psql_super -d postgres <<SQL
CREATE ROLE valdrix_owner LOGIN NOSUPERUSER BYPASSRLS PASSWORD '$owner_pw';
CREATE ROLE valdrix_app LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '$app_pw';
CREATE DATABASE valdrix OWNER valdrix_owner;
SQL
        psql_super -d valdrix -c "REVOKE ALL ON SCHEMA public FROM PUBLIC; ALTER SCHEMA public OWNER TO valdrix_owner;"
        umask 077
        cat >"$RUN/pg.secrets" <<S
OWNER_PW=$owner_pw
APP_PW=$app_pw
CURSOR_SECRET=$(secret)$(secret)
S
    fi
}

write_env() {
    # shellcheck disable=SC1091
    . "$RUN/pg.secrets"
    if [ -z "${CURSOR_SECRET:-}" ]; then # a stack made before cursors existed
        CURSOR_SECRET=$(secret)$(secret)
        echo "CURSOR_SECRET=$CURSOR_SECRET" >>"$RUN/pg.secrets"
    fi
    umask 077
    cat >"$RUN/env" <<ENV
VX_NATS_URL=nats://127.0.0.1:$NATS_PORT
VX_PG_DSN=postgresql://valdrix_app:$APP_PW@127.0.0.1:$PG_PORT/valdrix
VX_PG_ADMIN_DSN=postgresql://valdrix_owner:$OWNER_PW@127.0.0.1:$PG_PORT/valdrix
VX_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
VX_CURSOR_SECRET=${CURSOR_SECRET:-$(secret)$(secret)}
ENV
}

migrate() {
    if [ "${VX_SKIP_MIGRATE:-0}" = 1 ]; then log "VX_SKIP_MIGRATE=1: not migrating"; return; fi
    [ -x "$VALDRIX" ] || die "$VALDRIX is not built: run 'make build' first"
    set -a
    # shellcheck disable=SC1091
    . "$RUN/env"
    set +a
    "$VALDRIX" migrate --dir "$ROOT/db/migrations"
}

cmd_up() {
    mkdir -p "$RUN"
    up_nats
    up_redis
    up_pg
    write_env
    migrate
    log "ready: settings in $RUN/env"
}

stop_pid() { # name pidfile program
    if alive "$2" "$3"; then
        local pid i
        pid=$(cat "$2")
        kill "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        log "$1 stopped"
    fi
    rm -f "$2"
}

cmd_down() {
    [ -d "$RUN" ] || return 0
    stop_pid nats "$RUN/nats.pid" nats-server
    stop_pid redis "$RUN/redis.pid" redis-server
    if [ -e "$RUN/pgdata" ]; then
        local data
        data=$(readlink -f "$RUN/pgdata")
        if [ -f "$data/postmaster.pid" ]; then
            as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
            log "postgres stopped"
        fi
    fi
}

cmd_status() {
    alive "$RUN/nats.pid" nats-server && echo "nats: running (pid $(cat "$RUN/nats.pid"))" || echo "nats: stopped"
    alive "$RUN/redis.pid" redis-server && echo "redis: running (pid $(cat "$RUN/redis.pid"))" || echo "redis: stopped"
    if [ -e "$RUN/pgdata" ] && as_pg "$PG_BIN/pg_ctl" -D "$(readlink -f "$RUN/pgdata")" status >/dev/null 2>&1; then
        echo "postgres: running"
    else
        echo "postgres: stopped"
    fi
}

# Removes the data too (a fresh stack on the next `up`).
cmd_clean() {
    cmd_down
    if [ -L "$RUN/pgdata" ]; then rm -rf "$(readlink -f "$RUN/pgdata")"; fi
    rm -rf "$RUN"
    log "removed $RUN"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
clean) cmd_clean ;;
*) echo "usage: $0 up|down|status|clean" >&2; exit 2 ;;
esac
