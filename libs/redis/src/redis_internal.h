/* Internals shared by the files of libs/redis: the client behind the opaque handle, the pool
 * of blocking hiredis connections, and the one function every command goes through. Not
 * installed; tests of this library may include it. */
#ifndef VX_REDIS_INTERNAL_H
#define VX_REDIS_INTERNAL_H

#include "vx/metrics.h"
#include "vx/redis.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>

/* Arguments a script call may carry (keys and args each). */
#define REDIS_SCRIPT_MAX_ARGS 64

enum {
    REDIS_OUT_OK,
    REDIS_OUT_ERROR,
    REDIS_OUT_TIMEOUT,
    REDIS_OUT_UNAVAILABLE,
    REDIS_OUT_REFUSED,
    REDIS_OUT_COUNT
};

typedef struct {
    redisContext *ctx; /* NULL: not connected (made on the next use) */
    bool busy;
} redis_slot;

struct vx_redis {
    vx_redis_url url;
    char where[160]; /* host:port/db, for logs (never the credentials) */
    int pool_size;
    int64_t connect_timeout_ms, command_timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* a slot was given back */
    redis_slot *slots;
    vx_breaker *breaker;
    atomic_bool last_ok; /* the last command got an answer */
    atomic_int down;     /* 1 while the last attempt failed, as last logged */
    vx_counter *outcomes[REDIS_OUT_COUNT];
    vx_gauge *breaker_open;
};

struct vx_redis_script {
    char *lua;
    char sha[41];
};

/* Sends one command (binary-safe argv) and waits for its reply, through the breaker and a
 * pooled connection, connecting first when the slot has none. `retry_stale`: the command may
 * be sent again once on a new connection when a reused one turns out to be dead (idempotent
 * commands only). On VX_OK *reply is hiredis's reply (freeReplyObject), which may be an error
 * reply; otherwise VX_TIMEOUT, VX_UNAVAILABLE (why says what happened). Counts the outcome,
 * except for error replies starting with `quiet_error` (may be NULL), which the caller
 * handles. Thread-safe. */
vx_status redis_run(vx_redis *r, int argc, const char **argv, const size_t *lens, bool retry_stale,
                    const char *quiet_error, redisReply **reply, char *why, size_t why_cap);

/* Counts one outcome (REDIS_OUT_*). */
void redis_count(vx_redis *r, int outcome);

#endif
