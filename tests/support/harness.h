/* Integration-test harness: start and stop service processes with their own settings, wait
 * for them, query Postgres as the owner, and a TCP proxy that can cut a service off from a
 * server without stopping that server (other tests share it). */
#ifndef VX_TEST_HARNESS_H
#define VX_TEST_HARNESS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A free TCP port on 127.0.0.1 (bound and released). */
int h_free_port(void);

/* Starts build/bin/<prog> (VX_BIN_DIR) with the arguments `args` (NULL-terminated, args[0] the
 * program's name; NULL: no arguments) and the current environment plus `env` ("K=V" strings,
 * NULL-terminated); its stderr goes to log_path. Returns the pid. */
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

/* Polls until h_query_int(sql) == want or timeout; returns the last value. */
int64_t h_wait_query(PGconn *c, const char *sql, const char *p1, const char *p2, int64_t want,
                     int64_t timeout_ms);

/* A unique name for this test process and call: prefix + pid + counter. */
void h_unique(char *out, size_t cap, const char *prefix);

/* ---- TCP proxy ---- */
typedef struct h_proxy h_proxy;
/* Listens on a free port and forwards every connection to target_host:target_port. */
h_proxy *h_proxy_start(const char *target_host, int target_port);
int h_proxy_port(const h_proxy *p);
/* Cut: close every forwarded connection and refuse new ones; restore: forward again. */
void h_proxy_cut(h_proxy *p);
void h_proxy_restore(h_proxy *p);
void h_proxy_stop(h_proxy *p);

/* Parses host and port out of a postgresql:// URI into out (for building a proxied DSN). Writes
 * into dsn_out the same DSN with host:port replaced. */
bool h_dsn_via(const char *dsn, const char *host, int port, char *dsn_out, size_t cap,
               char *orig_host, size_t host_cap, int *orig_port);

#endif
