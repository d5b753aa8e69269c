/* The libuv side of one connection: accepting (with the connection cap), reads into the session
 * (session.c), writes in order, back-pressure, and the end: shutdown after the last answer, a
 * short linger for the client's EOF so that unread input cannot reset the answer away. */
#include "http_internal.h"

#include "vx/alloc.h"

#include <arpa/inet.h>
#include <string.h>

typedef struct {
    uv_write_t req; /* first: the callback gets this pointer */
    http_conn *conn;
    char *data;
} write_req;

static uv_stream_t *stream_of(http_conn *c)
{
    return (uv_stream_t *)&c->tcp;
}

static void on_closed(uv_handle_t *handle)
{
    http_conn *c = handle->data;
    http_loop *l = c->loop;
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->counted)
        atomic_fetch_sub(&l->shared->conns_open, 1);
    vx_free(c);
}

void http_conn_close(http_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    /* A request still in the handler stays valid; its answer will be dropped. */
    http_conn_detach(c);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    http_conn *c = handle->data;
    *buf = uv_buf_init(c->read_buf, sizeof c->read_buf);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* Reads while the session wants input and the client reads its answers. */
static void update_reading(http_conn *c)
{
    if (c->closing || c->peer_done)
        return;
    bool lingering = c->state == CONN_DONE; /* read only to see EOF */
    bool want =
        lingering || (http_conn_wants_input(c) &&
                      uv_stream_get_write_queue_size(stream_of(c)) <= HTTP_MAX_QUEUED_WRITE);
    if (want && c->read_paused) {
        c->read_paused = false;
        if (uv_read_start(stream_of(c), on_alloc, on_read) != 0)
            http_conn_close(c);
    } else if (!want && !c->read_paused) {
        c->read_paused = true;
        uv_read_stop(stream_of(c));
    }
}

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    http_conn *c = w->conn;
    vx_free(w->data);
    vx_free(w);
    if (status < 0) {
        http_conn_close(c);
        return;
    }
    update_reading(c);
}

static void io_send(http_conn *c, char *data, size_t len)
{
    if (c->closing) {
        vx_free(data);
        return;
    }
    write_req *w = vx_xmalloc(sizeof *w);
    w->conn = c;
    w->data = data;
    uv_buf_t buf = uv_buf_init(data, (unsigned int)len);
    if (uv_write(&w->req, stream_of(c), &buf, 1, on_written) != 0) {
        vx_free(data);
        vx_free(w);
        http_conn_close(c);
        return;
    }
    update_reading(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    http_conn *c = req->data;
    c->shutdown_done = true;
    if (c->closing)
        return;
    if (status < 0 || c->peer_done)
        http_conn_close(c);
}

/* The session has sent its last answer: half-close once it is written, then wait for EOF. */
static void io_finish(http_conn *c)
{
    if (c->closing || c->shutdown_requested)
        return;
    c->shutdown_requested = true;
    uint64_t linger = HTTP_LINGER_MS;
    if (c->loop->shared->cfg.idle_timeout_ms < linger)
        linger = c->loop->shared->cfg.idle_timeout_ms;
    c->linger_deadline_ms = http_loop_now(c->loop) + linger;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, stream_of(c), on_shutdown) != 0) {
        http_conn_close(c);
        return;
    }
    update_reading(c);
}

static const http_io uv_io = {.send = io_send, .finish = io_finish};

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *c = stream->data;
    if (nread == 0 || c->closing)
        return;
    if (nread == UV_EOF) {
        c->peer_done = true;
        uv_read_stop(stream);
        if (c->state == CONN_DONE) {
            if (c->shutdown_done)
                http_conn_close(c);
        } else {
            http_conn_eof(c);
        }
        return;
    }
    if (nread < 0) {
        http_conn_close(c);
        return;
    }
    if (c->state == CONN_DONE)
        return; /* lingering: discard */
    http_conn_feed(c, buf->base, (size_t)nread);
    update_reading(c);
}

void http_conn_sweep(http_conn *c, uint64_t now_ms)
{
    if (c->closing)
        return;
    if (c->state == CONN_DONE) {
        if (now_ms >= c->linger_deadline_ms)
            http_conn_close(c);
        return;
    }
    http_conn_tick(c, now_ms);
}

static void free_handle(uv_handle_t *handle)
{
    vx_free(handle);
}

static void peer_of(http_conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    strcpy(c->remote_addr, "unknown");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)&ss;
        uv_ip4_name(in4, c->remote_addr, sizeof c->remote_addr);
        c->remote_port = ntohs(in4->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        uv_ip6_name(in6, c->remote_addr, sizeof c->remote_addr);
        c->remote_port = ntohs(in6->sin6_port);
    }
}

void http_conn_accept(http_loop *l)
{
    http_shared *sh = l->shared;
    uv_stream_t *listener = (uv_stream_t *)&l->listener;
    if (atomic_fetch_add(&sh->conns_open, 1) >= sh->cfg.max_connections) {
        atomic_fetch_sub(&sh->conns_open, 1);
        atomic_fetch_add(&sh->rejected_conns, 1);
        /* Accept and close at once: leaving it queued would stall the listener. */
        uv_tcp_t *extra = vx_xmalloc(sizeof *extra);
        uv_tcp_init(l->uv, extra);
        uv_accept(listener, (uv_stream_t *)extra);
        uv_close((uv_handle_t *)extra, free_handle);
        return;
    }
    http_conn *c = vx_xcalloc(1, sizeof *c);
    c->counted = true;
    c->loop = l;
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    uv_tcp_init(l->uv, &c->tcp);
    c->tcp.data = c;
    http_conn_init(c, l, &uv_io);
    if (uv_accept(listener, stream_of(c)) != 0) {
        http_conn_close(c);
        return;
    }
    peer_of(c);
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start(stream_of(c), on_alloc, on_read) != 0)
        http_conn_close(c);
}
