/* Integration-test harness (vx_test_harness, tests/support): start and stop service processes
 * with their own settings and wait for them, poll for a condition with a deadline, query Postgres
 * as the owner, remove the streams and Redis keys a test made, and a TCP fault proxy that can cut
 * a service off from a server, or leave it waiting on one, without stopping that server (other
 * tests share it). Not thread-safe unless said; for test processes only. */
#ifndef VX_TEST_HARNESS_H
#define VX_TEST_HARNESS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A free TCP port on 127.0.0.1 (bound and released). */
int h_free_port(void);

/* Starts build/bin/<prog> (VX_BIN_DIR; an absolute path as it is) with the arguments `args`
 * (NULL-terminated, args[0] the program's name; NULL: no arguments) and the current environment
 * plus `env` ("K=V" strings, NULL-terminated); its stderr goes to log_path. Returns the pid. */
pid_t h_spawn(const char *prog, const char *const *args, const char *const *env,
              const char *log_path);
/* Sends sig and waits up to timeout_ms for the exit; returns the exit status (or 128+signal),
 * -1 if it did not exit in time (it is then killed with SIGKILL). */
int h_stop(pid_t pid, int sig, int64_t timeout_ms);
/* Runs a program to completion; returns its exit code. Its stdout and stderr (if out) are
 * captured together. */
int h_run(const char *prog, const char *const *args, const char *const *env, char *out,
          size_t out_cap);

/* GET http://127.0.0.1:port/path; returns the status code (0 if no answer) and the body. */
int h_http_get(int port, const char *path, char *body, size_t body_cap);
/* Waits until GET /readyz answers 200; false on timeout. */
bool h_wait_ready(int port, int64_t timeout_ms);
/* The value of metric line `series` (e.g. "valdrix_ingest_events_written_total") from
 * /metrics, or -1. */
double h_metric(int port, const char *series);

/* Owner connection (VX_PG_ADMIN_DSN), one per test; bypasses row-level security. */
PGconn *h_admin(void);
/* First value of a query with up to 2 text parameters, as a number (-1 on error). */
int64_t h_query_int(PGconn *c, const char *sql, const char *p1, const char *p2);
/* Creates a tenant with a random id (written into id, 37 bytes). */
void h_create_tenant(PGconn *c, char *id, const char *plan);

/* Calls cond(arg) until it returns true (every 20 ms) or timeout_ms has passed; whether it did. */
bool h_wait_until(bool (*cond)(void *arg), void *arg, int64_t timeout_ms);
/* Polls until h_metric(port, series) == want or timeout; returns the last value. */
double h_wait_metric(int port, const char *series, double want, int64_t timeout_ms);

/* Polls until h_query_int(sql) == want or timeout; returns the last value. */
int64_t h_wait_query(PGconn *c, const char *sql, const char *p1, const char *p2, int64_t want,
                     int64_t timeout_ms);

/* A unique name for this test process and call: prefix + pid + counter. */
void h_unique(char *out, size_t cap, const char *prefix);

/* ---- a service process under test ---- */
typedef struct {
    pid_t pid;     /* 0 once stopped */
    int port;      /* where it answers /readyz: its ops port (the API: its own port) */
    char prog[32]; /* e.g. "valdrix-forecast" */
    char log[512]; /* VX_TEST_LOG_DIR/<prog>-<pid>_<n>.log: its stdout and stderr */
} h_service;

/* Starts build/bin/<prog> (valdrix-ingest, valdrix-forecast, valdrix-llm or valdrix-api) with
 * the current environment plus `env` ("K=V", NULL-terminated, may be NULL) plus its ops port
 * variable set to a free port, and waits up to 20 s for /readyz to answer 200. If it does not,
 * kills it and fails the running cmocka test, naming the log (whose tail goes to stderr). */
void h_service_start(const char *prog, const char *const *env, h_service *svc);
/* Sends sig and waits up to timeout_ms; returns the exit status as h_stop does. A service
 * already stopped (pid 0) returns 0. */
int h_service_signal(h_service *svc, int sig, int64_t timeout_ms);
/* SIGTERM with 20 s to exit: the exit status (0 is a clean stop). */
int h_service_stop(h_service *svc);

/* ---- what tests leave behind ---- */
/* Deletes the JetStream streams T_EV_<id> and T_DLQ_<id> (and with them their consumers), the
 * streams a test with unique id `id` (h_unique) gives its ingest; those not there are fine. */
void h_delete_test_streams(const char *id);
/* Remembers a tenant this test made, for h_forget_tenants. h_create_tenant calls it. */
void h_track_tenant(const char *tenant);
/* Deletes every Redis key (VX_REDIS_URL) that names a tenant remembered since the last call
 * (SCAN MATCH vx:*<tenant>*: caches, budgets, rate limits), then forgets them. */
void h_forget_tenants(void);
/* Deletes the Redis keys matching a SCAN pattern; returns how many. */
long h_redis_delete_matching(const char *pattern);
/* A hiredis connection to VX_REDIS_URL with its AUTH (the URL's user and password) and SELECT
 * done, or NULL; the caller redisFree()s it. */
struct redisContext *h_redis_open(void);
/* "redis://<user>:<password>@127.0.0.1:<port>/<db>" with VX_REDIS_URL's user and password: the
 * stack's Redis reached through a proxy on port (or a database of its own). */
void h_redis_url_at(int port, int db, char *out, size_t cap);

/* ---- TCP fault proxy ---- */
typedef struct h_proxy h_proxy;
/* Listens on a free port of 127.0.0.1 and forwards every connection to target_host (an IPv4
 * address):target_port from threads of its own; NULL on failure. */
h_proxy *h_proxy_start(const char *target_host, int target_port);
int h_proxy_port(const h_proxy *p);
/* Cut: close every forwarded connection and refuse new ones. Hold: keep accepting and reading,
 * never answer (a server that stalls). Restore: forward again. Thread-safe. */
void h_proxy_cut(h_proxy *p);
void h_proxy_hold(h_proxy *p);
void h_proxy_restore(h_proxy *p);
/* Closes everything; accepts NULL. */
void h_proxy_stop(h_proxy *p);

/* Parses host and port out of a postgresql:// URI into out (for building a proxied DSN). Writes
 * into dsn_out the same DSN with host:port replaced. */
bool h_dsn_via(const char *dsn, const char *host, int port, char *dsn_out, size_t cap,
               char *orig_host, size_t host_cap, int *orig_port);

#endif
