/* The one HTTP/1.1 server, of the API edge and of every service's ops port (vx/ops.h): N libuv
 * loops (one thread each) accepting on one port, llhttp parsing, keep-alive and pipelining,
 * limits, x-request-id and traceparent on every request, RFC 9457 problem responses, handlers
 * that answer later and from any thread, drain. */
#ifndef VX_HTTP_H
#define VX_HTTP_H

#include "vx/status.h"
#include "vx/trace.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uv_loop_s; /* uv_loop_t, from <uv.h> */

typedef struct vx_http_server vx_http_server;

/* One request. Owned by the server: valid from the handler call until vx_http_respond (or
 * vx_http_respond_problem) returns, and freed by the server after that call; every pointer
 * obtained from it (path, headers, body, query values) dies with it. It stays valid even if the
 * client disconnects meanwhile: the answer is then discarded. The accessors below may be called
 * from any thread, but by one thread at a time (they are not synchronised). */
typedef struct vx_http_request vx_http_request;

/* Called on the request's loop thread once a request (headers and body) has arrived. It must
 * not block. It must make sure vx_http_respond* is called exactly once for `req`, now or later,
 * from this or any other thread. The next request of the same connection is not dispatched
 * before this one is answered. */
typedef void (*vx_http_handler)(void *ctx, vx_http_request *req);

/* Called on each loop's own thread: `start` before the loop serves anything (e.g. to open a
 * per-loop Redis connection on `loop`), `stop` during vx_http_server_destroy before the
 * server's own handles close; it must close every handle the caller opened on `loop`. */
typedef void (*vx_http_loop_hook)(void *ctx, unsigned loop_index, struct uv_loop_s *loop);

typedef struct {
    const char *host;                /* IPv4 or IPv6 literal, e.g. "0.0.0.0"; read by create only */
    int port;                        /* 0 picks a free port (see vx_http_server_port) */
    unsigned loops;                  /* event loops and threads; 0 = number of cores */
    vx_http_handler handler;         /* required */
    void *handler_ctx;               /* borrowed; passed to handler and the hooks */
    vx_http_loop_hook on_loop_start; /* optional */
    vx_http_loop_hook on_loop_stop;  /* optional */
    size_t max_header_bytes;         /* request line + headers; 0 = 16 KiB; above: 431 */
    size_t max_url_bytes;            /* request target; 0 = max_header_bytes; above: 414 */
    size_t max_body_bytes;           /* 0 = 8 MiB; above: 413 as soon as it is known */
    uint32_t request_timeout_ms;     /* first byte to complete body; 0 = 10 s; then 408 + close */
    uint32_t idle_timeout_ms; /* keep-alive wait for the next request; 0 = 30 s; then close */
    uint32_t max_connections; /* open connections over all loops; 0 = 10000; above: closed */
    int backlog;              /* listen(2) backlog per loop; 0 = 511 */
    /* Bind without SO_REUSEPORT, so that a port another socket holds fails with VX_IO instead
     * of being shared with it. Needs loops == 1 (VX_INVALID otherwise). */
    bool exclusive_port;
} vx_http_config;

typedef struct {
    uint64_t connections_open;
    uint64_t requests_in_flight;   /* dispatched to the handler, not yet answered */
    uint64_t requests_total;       /* dispatched to the handler since create */
    uint64_t rejected_connections; /* closed at once by max_connections */
    uint64_t rejected_requests;    /* answered 408, 413, 414, 417 or 431 */
    uint64_t bad_requests;         /* answered 400 (malformed) */
} vx_http_stats;

/* An extra response header; both strings borrowed for the duration of the call. */
typedef struct {
    const char *name;
    const char *value;
} vx_http_header;

/* Binds `cfg->port` on every loop (SO_REUSEPORT unless exclusive_port), runs each loop on its own
 * thread and returns the server in *out. VX_INVALID for a bad config, VX_IO if the port cannot be
 * bound. `cfg` is copied. Signals are blocked on the loop threads (SIGPIPE shows up as a write
 * error). */
VX_MUST_CHECK vx_status vx_http_server_create(const vx_http_config *cfg, vx_http_server **out);
/* The port bound. Thread-safe. */
int vx_http_server_port(const vx_http_server *s);
/* Number of loops actually running. Thread-safe. */
unsigned vx_http_server_loops(const vx_http_server *s);
/* A snapshot of the counters. Thread-safe. */
void vx_http_server_stats(const vx_http_server *s, vx_http_stats *out);

/* Stops accepting, closes idle keep-alive connections, lets requests in progress finish (their
 * responses carry Connection: close and their connections then close), and waits until every
 * connection is closed and every request answered. VX_OK if that happened within timeout_ms;
 * VX_TIMEOUT otherwise, after closing the remaining connections (requests still in a handler
 * remain valid until answered). Call once, from a thread that is not a loop thread. */
VX_MUST_CHECK vx_status vx_http_server_drain(vx_http_server *s, int64_t timeout_ms);
/* Stops the loops (calling on_loop_stop on each), joins the threads and frees everything,
 * including requests never answered: no vx_http_respond* may happen during or after it (drain
 * first, then make sure pending work has finished). NULL is fine. Not from a loop thread. */
void vx_http_server_destroy(vx_http_server *s);

/* Request accessors. Returned strings are NUL-terminated and owned by the request. */
const char *vx_http_request_method(const vx_http_request *req); /* "GET", "POST", ... */
/* The path as sent (not percent-decoded), without query or fragment; *len gets its length if
 * len is not NULL. */
const char *vx_http_request_path(const vx_http_request *req, size_t *len);
/* The raw query string after '?', without the '?' ("" when none). */
const char *vx_http_request_query_string(const vx_http_request *req);
/* The first parameter named `name` (compared after decoding) with its value decoded
 * ('+' is a space, %XX escapes) in *out_value. VX_OK; VX_NOT_FOUND if absent; VX_INVALID if
 * that name or value (or any parameter name before it) has a bad escape or decodes to a NUL
 * byte. `name=` gives "", a bare `name` gives "". */
VX_MUST_CHECK vx_status vx_http_request_query(vx_http_request *req, const char *name,
                                              const char **out_value);
/* The first header named `name` (ASCII case-insensitive), its value without surrounding
 * blanks, or NULL. */
const char *vx_http_request_header(const vx_http_request *req, const char *name);
size_t vx_http_request_header_count(const vx_http_request *req);
/* The i-th header in arrival order (i < count); names keep the client's case. */
void vx_http_request_header_at(const vx_http_request *req, size_t i, const char **name,
                               const char **value);
/* The body (chunked bodies already joined), NUL-terminated after *len bytes; "" if none. */
const char *vx_http_request_body(const vx_http_request *req, size_t *len);
/* The peer's address as text ("127.0.0.1", "::1") and port. */
const char *vx_http_request_remote_addr(const vx_http_request *req);
int vx_http_request_remote_port(const vx_http_request *req);
/* The x-request-id sent back: the client's if it was 1..128 printable ASCII characters
 * without spaces, else a new UUID. */
const char *vx_http_request_id(const vx_http_request *req);
/* The W3C trace of this request: the client's traceparent if valid, else a new trace. Pass it
 * on (vx_trace_child) to downstream calls. */
const vx_trace *vx_http_request_trace(const vx_http_request *req);
/* The loop the request runs on, for starting asynchronous work there, and its index
 * (0..loops-1) for per-loop state set up by on_loop_start. */
struct uv_loop_s *vx_http_request_loop(const vx_http_request *req);
unsigned vx_http_request_loop_index(const vx_http_request *req);

/* Answers `req` and gives it back to the server (do not touch it afterwards). Thread-safe: from
 * the loop thread the response is queued at once; from another thread it is handed to the
 * request's loop. status is 200..599; content_type NULL sends no Content-Type; headers (n may
 * be 0) must not repeat Content-Length, Connection, Date or x-request-id; body (len bytes) is
 * copied; 204 and 304 send no body; HEAD requests get the headers only. Content-Length,
 * Date, x-request-id and Connection are added. Returns VX_OK, or VX_INVALID after answering
 * 500 instead when the status or a header is bad (CR, LF or NUL in it, empty or non-token
 * name). Calling it twice for one request aborts the process. */
VX_MUST_CHECK vx_status vx_http_respond(vx_http_request *req, int status, const char *content_type,
                                        const vx_http_header *headers, size_t n_headers,
                                        const void *body, size_t len);
/* Answers with application/problem+json (RFC 9457):
 * {"type":"https://valdrix.dev/problems/<type_suffix>","title":...,"status":...,
 *  "detail":...,"request_id":...}; strings are JSON-escaped (invalid UTF-8 becomes U+FFFD);
 * detail may be NULL (then omitted). Same rules and threads as vx_http_respond. */
VX_MUST_CHECK vx_status vx_http_respond_problem(vx_http_request *req, int status,
                                                const char *type_suffix, const char *title,
                                                const char *detail);
/* The same with extra headers (e.g. Retry-After), under vx_http_respond's rules for them. */
VX_MUST_CHECK vx_status vx_http_respond_problem_headers(vx_http_request *req, int status,
                                                        const char *type_suffix, const char *title,
                                                        const char *detail,
                                                        const vx_http_header *headers,
                                                        size_t n_headers);

/* Percent-decodes s[0..len) into out (room for len + 1 bytes; NUL-terminated), with '+' as a
 * space when plus_as_space. The decoded length goes to *out_len. false on a '%' not followed by
 * two hex digits or a decoded NUL byte. Thread-safe. */
VX_MUST_CHECK bool vx_http_percent_decode(const char *s, size_t len, bool plus_as_space, char *out,
                                          size_t *out_len);
/* The reason phrase of a status ("Not Found"); "Unknown" for others. Thread-safe. */
const char *vx_http_status_text(int status);

#endif
