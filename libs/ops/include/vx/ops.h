/* The operations answers every service gives: GET /metrics (Prometheus text), /healthz (200
 * while the process serves) and /readyz (200 when the service's readiness check passes, 503 with
 * the reason otherwise, or while draining). vx_ops_answer serves them on any vx::http server
 * (the API's own port); vx_ops_start runs them on a port of their own, on a one-loop vx::http
 * server with its own thread, so that they answer even when the service's work is stuck. */
#ifndef VX_OPS_H
#define VX_OPS_H

#include "vx/http.h"
#include "vx/metrics.h"
#include "vx/status.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* Returns true when ready; otherwise writes a short reason (e.g. "postgres: connection
 * refused") into why. A ready service may also write into why (e.g. "redis: unreachable"):
 * /readyz then answers 200 with that text as "note". why is empty on entry. Called on the
 * loop thread of the request (on libuv's thread pool with vx_ops_routes.ready_blocks): it
 * must be thread-safe, and quick unless ready_blocks. */
typedef bool (*vx_ready_fn)(void *ctx, char *why, size_t why_cap);

/* What the answers read. Every pointer is borrowed and must outlive the requests answered. */
typedef struct {
    vx_metrics *metrics;         /* NULL: /metrics is empty */
    vx_ready_fn ready;           /* NULL: always ready */
    void *ready_ctx;             /* passed to ready */
    const atomic_bool *draining; /* NULL: never; once true /readyz answers 503 "draining" */
    bool ready_blocks;           /* ready may block (e.g. pings Postgres): run it on the pool */
    /* How /readyz words its answers. By default 200 {"status":"ready"} (plus "note" when the
     * ready service wrote one) and 503 {"status":"not ready","reason":...}. A service that
     * documents other answers (the API, docs/openapi.yaml) may rename the note's member
     * (e.g. "redis", always written by its ready fn) and answer 503 as an RFC 9457 problem
     * (type not-ready, the reason as detail). */
    const char *note_name; /* NULL: "note" */
    bool problem;
} vx_ops_routes;

/* Called once the answer of vx_ops_answer has been handed to the server (req is gone), with
 * its status; on the loop thread. For the caller's own accounting. */
typedef void (*vx_ops_answered_fn)(void *arg, int status);

/* If req's path is /metrics, /healthz or /readyz, answers it (405 with Allow: GET, HEAD for a
 * method other than GET or HEAD), later for a blocking readiness check, and returns true; then
 * `answered` (if not NULL) is called with `arg` after the answer. Returns false, leaving req
 * untouched, for any other path. `routes` is copied. Loop thread only (a vx_http_handler). */
bool vx_ops_answer(const vx_ops_routes *routes, vx_http_request *req, vx_ops_answered_fn answered,
                   void *arg);

typedef struct vx_ops_server vx_ops_server;

typedef struct {
    const char *host;    /* e.g. "127.0.0.1"; "0.0.0.0" to listen on all */
    int port;            /* 0 picks a free port (see vx_ops_port) */
    vx_metrics *metrics; /* borrowed; must outlive the server */
    vx_ready_fn ready;   /* NULL: always ready; called on the server's thread */
    void *ready_ctx;
} vx_ops_config;

/* Binds (a port no other socket holds) and starts serving on a new thread; other paths get
 * 404. The HTTP limits are those of src/ops_limits.h. VX_INVALID for a bad config, VX_IO if
 * the port cannot be bound. */
VX_MUST_CHECK vx_status vx_ops_start(const vx_ops_config *cfg, vx_ops_server **out);
/* The port actually bound. Thread-safe. */
int vx_ops_port(const vx_ops_server *s);
/* From now on /readyz answers 503 "draining" (used on SIGTERM); the rest still answers.
 * Thread-safe. */
void vx_ops_set_draining(vx_ops_server *s);
/* Stops the thread, closes connections, frees. NULL is fine. Not from the server's thread. */
void vx_ops_stop(vx_ops_server *s);

#endif
