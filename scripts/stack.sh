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

# Sources FILE, first writing it (mode 600) with a fresh secret for each NAME when it is not
# there yet: secrets stay the same from one `up` to the next.
load_secrets() { # file name...
    local f=$1 n
    shift
    if [ ! -f "$f" ]; then
        (umask 077; for n in "$@"; do echo "$n=$(secret)"; done >"$f")
    fi
    # shellcheck disable=SC1090
    . "$f"
}

# NATS runs with authorization on (no anonymous client): one user per service, allowed only the
# subjects it needs, an operator user (`admin`, for the valdrix tool and tests) and the
# publishers `valdrix publisher create` made (rendered from Postgres into nats-users.conf).
# Passwords are random (128 bits) and kept in nats.secrets; the configuration holds their
# bcrypt hashes. With VX_NATS_ANY_NAMES=1 (tests, benches) the services' permissions allow any
# stream name and any first subject token in place of the defaults (cost.events, svc.forecast,
# ...), so each test can isolate itself by name; publishers' permissions never change.
nats_secrets() {
    load_secrets "$RUN/nats.secrets" NATS_ADMIN_PW NATS_INGEST_PW NATS_FORECAST_PW NATS_LLM_PW \
        NATS_API_PW
}

bcrypt() { printf '%s' "$1" | "$VALDRIX" publisher hash; }

q() { # a JSON-style quoted list of the arguments
    local out="" a
    for a in "$@"; do out="$out${out:+, }\"$a\""; done
    printf '[%s]' "$out"
}

nats_service_users() {
    [ -x "$VALDRIX" ] || die "$VALDRIX is not built: run 'make build' first"
    local ev=${VX_INGEST_STREAM:-COST_EVENTS} dlq=${VX_DLQ_STREAM:-COST_DLQ}
    local es=${VX_INGEST_SUBJECT:-cost.events} ds=${VX_DLQ_SUBJECT:-cost.deadletter}
    local cs=${VX_CHANGED_SUBJECT:-valdrix.changed} fs=${VX_FORECAST_SUBJECT:-svc.forecast}
    local ls=${VX_LLM_SUBJECT:-svc.llm.insight} dur=${VX_INGEST_DURABLE:-ingest}
    if [ "${VX_NATS_ANY_NAMES:-0}" = 1 ]; then
        ev='*' dlq='*' es="*.${es#*.}" ds="*.${ds#*.}" cs="*.${cs#*.}" fs="*.${fs#*.}" ls="*.${ls#*.}"
    fi
    local js='$JS.API'
    local ingest_pub api_pub
    ingest_pub=$(q "$js.INFO" "$js.STREAM.NAMES" \
        "$js.STREAM.CREATE.$ev" "$js.STREAM.UPDATE.$ev" "$js.STREAM.INFO.$ev" \
        "$js.STREAM.CREATE.$dlq" "$js.STREAM.UPDATE.$dlq" "$js.STREAM.INFO.$dlq" \
        "$js.CONSUMER.CREATE.$ev" "$js.CONSUMER.CREATE.$ev.>" "$js.CONSUMER.DURABLE.CREATE.$ev.$dur" \
        "$js.CONSUMER.INFO.$ev.$dur" "$js.CONSUMER.MSG.NEXT.$ev.$dur" "\$JS.ACK.$ev.$dur.>" \
        "$ds.>" "$cs.>")
    api_pub=$(q "$fs.>" "$ls" "$es.*" "$js.STREAM.INFO.$ev")
    local tmp="$RUN/nats-services.conf.tmp"
    (umask 077; cat >"$tmp" <<CONF
  {user: admin, password: "$(bcrypt "$NATS_ADMIN_PW")", permissions: {publish: ">", subscribe: ">"}}
  {user: ingest, password: "$(bcrypt "$NATS_INGEST_PW")", permissions: {publish: {allow: $ingest_pub}, subscribe: {allow: $(q "_INBOX.ingest.>")}}}
  {user: forecast, password: "$(bcrypt "$NATS_FORECAST_PW")", permissions: {publish: {allow: $(q "_INBOX.api.>" "_INBOX.llm.>" "_INBOX.admin.>")}, subscribe: {allow: $(q "$fs.>")}}}
  {user: llm, password: "$(bcrypt "$NATS_LLM_PW")", permissions: {publish: {allow: $(q "$fs.>" "_INBOX.api.>" "_INBOX.admin.>")}, subscribe: {allow: $(q "$ls" "_INBOX.llm.>")}}}
  {user: api, password: "$(bcrypt "$NATS_API_PW")", permissions: {publish: {allow: $api_pub}, subscribe: {allow: $(q "_INBOX.api.>" "$cs.*")}}}
CONF
    )
    mv "$tmp" "$RUN/nats-services.conf"
}

# Replies: forecast and llm may publish to the inbox prefixes of those who may ask them (api,
# llm, the operator), not through allow_responses: nats-server forgets the reply permissions it
# tracked on every configuration reload (each `valdrix publisher create|revoke`), so a request
# in hand during a reload could not be answered.

# Renders nats-users.conf (services + publishers) and, when NATS runs, has it reread it.
nats_users() {
    nats_service_users
    set -a
    # shellcheck disable=SC1091
    . "$RUN/env"
    set +a
    "$VALDRIX" publisher sync >&2 || die "could not render $RUN/nats-users.conf"
}

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
authorization {
    include "nats-users.conf"
}
CONF
    nats-server -c "$RUN/nats.conf" </dev/null >"$RUN/nats.log" 2>&1 &
    echo $! >"$RUN/nats.pid"
    wait_port 127.0.0.1 "$NATS_PORT" 20 "nats-server"
    log "nats up on $NATS_PORT (monitoring $NATS_MON_PORT; authorization on)"
}

# Redis runs with ACL users (the default user is off): `admin` for the valdrix tool, tests and
# benches, and one user per service that uses Redis, allowed only its own keys (forecast vx:fc:*,
# llm vx:llm:*, api vx:rl:* and vx:idem:*), no pub/sub channels and none of the dangerous
# commands (FLUSHALL, KEYS, SCAN, CONFIG, DEBUG ...). Passwords are random and kept in redis.secrets;
# the ACL file holds their SHA-256.
redis_secrets() {
    load_secrets "$RUN/redis.secrets" REDIS_ADMIN_PW REDIS_FORECAST_PW REDIS_LLM_PW REDIS_API_PW
}

sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

redis_acl() {
    local svc='resetchannels -@all +@connection +@read +@write +@scripting +time -@dangerous -scan -randomkey'
    (umask 077; cat >"$RUN/redis.acl.tmp" <<ACL
user default off resetkeys -@all
user admin on #$(sha256 "$REDIS_ADMIN_PW") ~* &* +@all
user forecast on #$(sha256 "$REDIS_FORECAST_PW") ~vx:fc:* $svc
user llm on #$(sha256 "$REDIS_LLM_PW") ~vx:llm:* $svc
user api on #$(sha256 "$REDIS_API_PW") ~vx:rl:* ~vx:idem:* $svc
ACL
    )
    mv "$RUN/redis.acl.tmp" "$RUN/redis.acl"
}

up_redis() {
    if alive "$RUN/redis.pid" redis-server; then return; fi
    mkdir -p "$RUN/redis"
    redis_acl
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$RUN/redis" --save '' \
        --appendonly no --daemonize no --aclfile "$RUN/redis.acl" </dev/null >"$RUN/redis.log" 2>&1 &
    echo $! >"$RUN/redis.pid"
    wait_port 127.0.0.1 "$REDIS_PORT" 20 "redis-server"
    log "redis up on $REDIS_PORT (ACL users on)"
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
VX_NATS_URL=nats://admin:$NATS_ADMIN_PW@127.0.0.1:$NATS_PORT
VX_NATS_SERVICE_URL=nats://127.0.0.1:$NATS_PORT
VX_NATS_PASSWORD_INGEST=$NATS_INGEST_PW
VX_NATS_PASSWORD_FORECAST=$NATS_FORECAST_PW
VX_NATS_PASSWORD_LLM=$NATS_LLM_PW
VX_NATS_PASSWORD_API=$NATS_API_PW
VX_NATS_AUTH_FILE=$RUN/nats-users.conf
VX_NATS_SERVICE_USERS=$RUN/nats-services.conf
VX_NATS_PID_FILE=$RUN/nats.pid
VX_PG_DSN=postgresql://valdrix_app:$APP_PW@127.0.0.1:$PG_PORT/valdrix
VX_PG_ADMIN_DSN=postgresql://valdrix_owner:$OWNER_PW@127.0.0.1:$PG_PORT/valdrix
VX_REDIS_URL=redis://admin:$REDIS_ADMIN_PW@127.0.0.1:$REDIS_PORT/0
VX_REDIS_SERVICE_URL=redis://127.0.0.1:$REDIS_PORT/0
VX_REDIS_PASSWORD_FORECAST=$REDIS_FORECAST_PW
VX_REDIS_PASSWORD_LLM=$REDIS_LLM_PW
VX_REDIS_PASSWORD_API=$REDIS_API_PW
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
    nats_secrets
    redis_secrets
    up_redis
    up_pg
    write_env
    migrate
    nats_users
    up_nats
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
