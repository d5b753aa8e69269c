/* Internals of the ops listener shared by server.c (thread, loop, listener, sweeps), conn.c (one
 * HTTP/1.1 connection, parsed with llhttp) and routes.c (the replies). */
#ifndef VX_OPS_INTERNAL_H
#define VX_OPS_INTERNAL_H

#include "ops_limits.h"
#include "vx/buf.h"
#include "vx/ops.h"

#include "llhttp.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct ops_conn ops_conn;

struct vx_ops_server {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop_async;
    uv_timer_t sweep_timer;
    uv_thread_t thread;
    llhttp_settings_t settings; /* shared by every parser; must outlive them */

    vx_metrics *metrics;
    vx_ready_fn ready;
    void *ready_ctx;
    /* Held around each ready() call and by vx_ops_set_draining, so that once that returns no
     * ready() call is running or will start: the service may then free what ready() reads. */
    uv_mutex_t ready_mu;
    bool draining; /* under ready_mu */
    int port;

    ops_conn *conns; /* open connections (doubly linked) */
    size_t n_conns;
    bool stopping; /* loop thread only */
};

struct ops_conn {
    uv_tcp_t tcp;
    vx_ops_server *server;
    ops_conn *prev;
    ops_conn *next;
    llhttp_t parser;
    char url[OPS_MAX_URL_BYTES];
    size_t url_len;
    size_t header_bytes;
    size_t body_bytes;
    int error_status; /* set by a parser callback that rejected the request; 0 if none */
    bool lingering;   /* last reply queued: discard input until EOF or the deadline */
    bool read_paused; /* too much unsent output */
    bool peer_done;   /* EOF read */
    bool shutdown_requested;
    bool shutdown_done; /* every queued reply written, write side closed */
    bool closing;
    uint64_t deadline_ms; /* uv_now() after which the sweep closes the connection */
    uv_shutdown_t shutdown_req;
    char read_buf[OPS_READ_BUF_BYTES];
};

/* A reply before serialisation; body is owned. */
typedef struct {
    int status;
    const char *content_type; /* static */
    const char *allow;        /* static Allow header value, or NULL */
    vx_buf body;
} ops_reply;

/* Fills `reply` (initialised by the caller) for a request. Loop thread only. */
void ops_route(vx_ops_server *s, int method, const char *path, size_t path_len, ops_reply *reply);
/* Fills `reply` for a request rejected before routing (400, 413, 414, 431). */
void ops_error_reply(int status, ops_reply *reply);
const char *ops_status_text(int status);

/* conn.c: the llhttp callbacks, accepting, closing. Loop thread only. */
void ops_conn_settings(llhttp_settings_t *settings);
void ops_conn_accept(vx_ops_server *s);
void ops_conn_close(ops_conn *c);

#endif
