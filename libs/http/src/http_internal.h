/* Internals of vx::http shared by session.c (the HTTP/1.1 state machine of one connection, fed
 * from a buffer, no sockets), request.c (accessors), response.c (serialising answers), conn.c
 * (libuv glue of one connection) and server.c (loops, threads, listeners, drain). */
#ifndef VX_HTTP_INTERNAL_H
#define VX_HTTP_INTERNAL_H

#include "vx/buf.h"
#include "vx/http.h"

#include "llhttp.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define HTTP_DEFAULT_MAX_HEADER_BYTES (16 * 1024)
#define HTTP_DEFAULT_MAX_BODY_BYTES (8 * 1024 * 1024)
#define HTTP_DEFAULT_REQUEST_TIMEOUT_MS 10000
#define HTTP_DEFAULT_IDLE_TIMEOUT_MS 30000
#define HTTP_DEFAULT_MAX_CONNECTIONS 10000
#define HTTP_DEFAULT_BACKLOG 511
#define HTTP_MAX_PENDING_INPUT (64 * 1024)  /* pipelined bytes buffered while a handler runs */
#define HTTP_MAX_QUEUED_WRITE (1024 * 1024) /* stop reading while more is unsent */
#define HTTP_LINGER_MS 2000                 /* after the last answer, wait this long for EOF */
#define HTTP_READ_BUF_BYTES (16 * 1024)
#define HTTP_REQUEST_ID_MAX 128
#define HTTP_ADDR_MAX 46

typedef struct http_loop http_loop;
typedef struct http_conn http_conn;

/* What the server shares between its loops: the configuration (defaults filled) and counters. */
typedef struct {
    vx_http_config cfg;
    atomic_bool draining;
    atomic_uint_fast64_t conns_open;
    atomic_uint_fast64_t in_flight;
    atomic_uint_fast64_t requests_total;
    atomic_uint_fast64_t rejected_conns;
    atomic_uint_fast64_t rejected_requests;
    atomic_uint_fast64_t bad_requests;
} http_shared;

/* One event loop. Everything but the answer queue belongs to the loop thread. */
struct http_loop {
    http_shared *shared;
    unsigned index;
    uv_loop_t *uv; /* NULL when driven without libuv (the fuzz target); then now_ms is used */
    uint64_t now_ms;
    uv_thread_t thread; /* set by the loop thread before it serves */
    uv_mutex_t queue_mutex;
    vx_http_request *queue_head; /* answered from other threads, not yet handled */
    vx_http_request *queue_tail;
    vx_http_request *live; /* every request not yet freed (doubly linked) */
    http_conn *conns;      /* open connections (doubly linked) */

    /* libuv part, unused when uv is NULL */
    uv_loop_t uv_storage;
    uv_tcp_t listener;
    uv_async_t answer_async;
    uv_async_t command_async;
    uv_timer_t sweep_timer;
    atomic_int command; /* HTTP_CMD_* */
    bool listening;
    bool stopping;
    uv_thread_t thread_handle;
    vx_http_server *server;
};

/* The transport under a connection (libuv in conn.c, a buffer in the fuzz target). */
typedef struct {
    void (*send)(http_conn *c, char *data, size_t len); /* takes data (free with vx_free) */
    void (*finish)(http_conn *c); /* nothing more will be sent: close once all is sent */
} http_io;

typedef enum { CONN_IDLE, CONN_READING, CONN_HANDLING, CONN_DONE } http_conn_state;

struct http_conn {
    http_loop *loop;
    const http_io *io;
    http_conn *prev;
    http_conn *next;
    llhttp_t parser;
    vx_buf in; /* input not yet parsed (pipelined requests wait here) */
    size_t in_off;
    vx_http_request *req; /* being read or in the handler */
    http_conn_state state;
    uint64_t deadline_ms; /* of the request (READING) or the keep-alive (IDLE); 0 = none */
    int error_status;     /* set by a parser callback that rejected the request */
    int header_state;     /* 0 none, 1 in a name, 2 in a value */
    bool in_parse;
    bool input_done; /* an upgrade or an error: parse nothing more */
    bool eof;        /* the peer sent everything: end after the buffered requests */
    char remote_addr[HTTP_ADDR_MAX];
    int remote_port;

    /* libuv part (conn.c) */
    uv_tcp_t tcp;
    uv_shutdown_t shutdown_req;
    uint64_t linger_deadline_ms;
    bool counted; /* holds one of shared->conns_open */
    bool closing;
    bool peer_done;
    bool read_paused;
    bool shutdown_requested;
    bool shutdown_done;
    char read_buf[HTTP_READ_BUF_BYTES];
};

typedef struct {
    size_t name_off, name_len, value_off, value_len;
} http_hdr;

typedef struct http_arena_block http_arena_block;

struct vx_http_request {
    http_loop *loop;
    http_conn *conn;              /* NULL once the connection is gone */
    vx_http_request *prev, *next; /* loop->live */
    vx_http_request *queue_next;
    atomic_bool responded;
    uint8_t method, http_major, http_minor;
    bool keep_alive, head, upgrade, dispatched;
    vx_buf url; /* NUL-terminated raw URL */
    size_t path_len;
    const char *query; /* inside url, after '?', or "" */
    vx_buf hdr;        /* names and values, each NUL-terminated */
    http_hdr *hdrs;
    size_t n_hdrs, cap_hdrs;
    size_t header_bytes;
    vx_buf body;
    char id[HTTP_REQUEST_ID_MAX + 1];
    vx_trace trace;
    char remote_addr[HTTP_ADDR_MAX];
    int remote_port;
    http_arena_block *arena;
    char *out; /* the serialised answer */
    size_t out_len;
    bool out_close; /* the answer says Connection: close */
};

/* request.c */
vx_http_request *http_request_create(http_conn *c);
void http_request_free(vx_http_request *req);
/* Splits the URL, picks the request id and the trace: done once the request is complete. */
void http_request_finalize(vx_http_request *req);
/* The client's x-request-id if sane, else NULL. */
const char *http_request_client_id(const vx_http_request *req);

/* response.c: the head of an answer (status line and headers, blank line included). */
void http_write_head(vx_buf *out, int status, const char *content_type, size_t body_len,
                     const char *request_id, bool close, bool http10_keep_alive);
/* A problem+json answer built on the loop for a request the handler never saw. */
char *http_problem_bytes(int status, const char *request_id, const char *detail, size_t *len);

/* session.c. Loop thread only. */
void http_conn_init(http_conn *c, http_loop *l, const http_io *io);
void http_conn_feed(http_conn *c, const char *data, size_t len);
void http_conn_eof(http_conn *c);
void http_conn_tick(http_conn *c, uint64_t now_ms); /* request and idle timeouts */
void http_conn_drain(http_conn *c);                 /* close if idle; else after the answer */
bool http_conn_wants_input(const http_conn *c);
/* The transport is gone: the request in a handler (if any) is orphaned, the rest freed. */
void http_conn_detach(http_conn *c);
/* An answered request reaches its loop thread: sends it, frees it, resumes the connection. */
void http_request_done(vx_http_request *req);

/* server.c */
uint64_t http_loop_now(const http_loop *l);
bool http_on_loop_thread(const http_loop *l);
/* Hands an answered request to its loop (any thread). */
void http_loop_post(http_loop *l, vx_http_request *req);

/* conn.c */
void http_conn_accept(http_loop *l);
void http_conn_close(http_conn *c);
void http_conn_sweep(http_conn *c, uint64_t now_ms);

#endif
