/* A blocking Redis client for service worker threads (caches, budgets): a small pool of
 * hiredis connections with connect and command timeouts, AUTH/SELECT from the URL, reconnect
 * on the next call after a failure, scripts run by EVALSHA (loaded on NOSCRIPT), and a circuit
 * breaker so that an unreachable Redis costs callers nothing but a fast VX_UNAVAILABLE.
 * The libuv rate limiter (libs/ratelimit) uses hiredis's async API instead, but parses its URL
 * with vx_redis_url_parse. Thread-safe. hiredis writes with write(2): the process must ignore
 * SIGPIPE, or a connection Redis closed kills it. */
#ifndef VX_REDIS_H
#define VX_REDIS_H

#include "vx/breaker.h"
#include "vx/metrics.h"
#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* redis://[[user]:password@]host[:port][/db], parsed. Strings owned (vx_redis_url_cleanup). */
typedef struct {
    char *host;
    int port;       /* 6379 by default */
    char *user;     /* NULL: none */
    char *password; /* NULL: none */
    int db;         /* 0 by default */
} vx_redis_url;

/* VX_INVALID (with why) for anything else; *out is then zeroed. */
VX_MUST_CHECK vx_status vx_redis_url_parse(const char *url, vx_redis_url *out, char *why,
                                           size_t why_cap);
void vx_redis_url_cleanup(vx_redis_url *u);
/* The URL again with user and password (either NULL or empty: the URL's own), escaped as a
 * URL needs; *out is the caller's (vx_free). VX_INVALID (with why) for a bad URL. */
VX_MUST_CHECK vx_status vx_redis_url_with_credentials(const char *url, const char *user,
                                                      const char *password, char **out, char *why,
                                                      size_t why_cap);

typedef struct {
    const char *url;            /* as above; copied */
    int pool_size;              /* connections (4); callers beyond it wait for one */
    int64_t connect_timeout_ms; /* (500) */
    int64_t command_timeout_ms; /* (250): a command not answered in time fails, VX_TIMEOUT */
    vx_breaker_config breaker;  /* around every command (vx_breaker_defaults()) */
    const char *metrics_prefix; /* e.g. "valdrix_forecast"; NULL: no metrics registered */
    vx_metrics *metrics;        /* registry for them (borrowed, outlives the client); NULL: none */
} vx_redis_config;

/* Defaults as above; url, metrics_prefix and metrics are NULL. */
void vx_redis_config_init(vx_redis_config *c);

typedef struct vx_redis vx_redis;

/* Checks the URL and creates the client; connections are made on first use, so an unreachable
 * Redis does not fail this (commands then fail with VX_UNAVAILABLE). VX_INVALID (why) for a bad
 * URL or configuration. With a metrics prefix and registry it registers
 *   <prefix>_redis_commands_total{outcome="ok|error|timeout|unavailable|refused"}
 *   <prefix>_redis_breaker_open (0/1) */
VX_MUST_CHECK vx_status vx_redis_create(const vx_redis_config *cfg, vx_redis **out, char *why,
                                        size_t why_cap);
/* Closes every connection. Callers must have returned. NULL is fine. */
void vx_redis_destroy(vx_redis *r);

/* Whether the last command succeeded and the breaker is closed (for /readyz). */
bool vx_redis_healthy(vx_redis *r);

/* Statuses of every call below: VX_OK; VX_NOT_FOUND (GET of a missing key); VX_TIMEOUT;
 * VX_UNAVAILABLE (cannot connect, connection lost, or the breaker is open: nothing was sent);
 * VX_INTERNAL (Redis answered with an error, e.g. a script error; text in why). A connection
 * that failed is closed and made again on a later call. */

/* GET. On VX_OK *val (vx_free; NUL-terminated after *len bytes) holds the value. */
VX_MUST_CHECK vx_status vx_redis_get(vx_redis *r, const char *key, char **val, size_t *len);
/* SET key val PX ttl_ms (ttl_ms <= 0: no expiry). */
VX_MUST_CHECK vx_status vx_redis_set(vx_redis *r, const char *key, const void *val, size_t len,
                                     int64_t ttl_ms);
/* DEL key (missing is fine). */
VX_MUST_CHECK vx_status vx_redis_del(vx_redis *r, const char *key);

/* A Lua script, identified by its SHA-1; create once, use from any thread. */
typedef struct vx_redis_script vx_redis_script;
vx_redis_script *vx_redis_script_create(const char *lua);
void vx_redis_script_destroy(vx_redis_script *s);

/* EVALSHA (EVAL on NOSCRIPT, which also loads it) with nkeys keys and nargs arguments. The
 * script must return an integer or an array of integers (nested arrays refused, VX_INTERNAL):
 * up to out_cap of them are written to out and their count to *n. */
VX_MUST_CHECK vx_status vx_redis_eval_ints(vx_redis *r, const vx_redis_script *s,
                                           const char *const *keys, int nkeys,
                                           const char *const *args, int nargs, int64_t *out,
                                           size_t out_cap, size_t *n, char *why, size_t why_cap);

#endif
