/* One HTTP/1.1 connection of the ops listener: feeds reads to llhttp, enforces the limits (URL,
 * headers, body, unsent output, idle time), writes replies in request order (keep-alive and
 * pipelining), and ends with a shutdown and a short linger so a final reply is not lost. */
#include "ops_internal.h"

#include "vx/alloc.h"

#include <string.h>

typedef struct {
    uv_write_t req; /* first: the callback gets this pointer */
    ops_conn *conn;
    char *data;
} write_req;

static void on_closed(uv_handle_t *handle)
{
    ops_conn *c = handle->data;
    vx_ops_server *s = c->server;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    vx_free(c);
}

void ops_conn_close(ops_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    /* Pending writes and the shutdown complete with UV_ECANCELED before on_closed runs. */
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static uv_stream_t *stream_of(ops_conn *c)
{
    return (uv_stream_t *)&c->tcp;
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    ops_conn *c = handle->data;
    *buf = uv_buf_init(c->read_buf, sizeof c->read_buf);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    ops_conn *c = w->conn;
    vx_free(w->data);
    vx_free(w);
    if (status < 0) {
        ops_conn_close(c);
        return;
    }
    if (c->read_paused && !c->closing &&
        uv_stream_get_write_queue_size(stream_of(c)) <= OPS_MAX_QUEUED_WRITE_BYTES / 2) {
        c->read_paused = false;
        if (uv_read_start(stream_of(c), on_alloc, on_read) != 0)
            ops_conn_close(c);
    }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    ops_conn *c = req->data;
    c->shutdown_done = true;
    if (status < 0 || c->peer_done) {
        ops_conn_close(c);
        return;
    }
    /* Everything is sent; give the client a moment to read it and close first. */
    c->deadline_ms = uv_now(c->tcp.loop) + OPS_LINGER_MS;
}

/* Half-closes after the queued replies are sent. */
static void request_shutdown(ops_conn *c)
{
    if (c->shutdown_requested || c->closing)
        return;
    c->shutdown_requested = true;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, stream_of(c), on_shutdown) != 0)
        ops_conn_close(c);
}

/* The last reply is queued: stop parsing, discard further input (closing with unread input
 * would send a reset that can destroy the reply in flight), close on EOF or the deadline. */
static void finish(ops_conn *c)
{
    c->lingering = true;
    c->deadline_ms = uv_now(c->tcp.loop) + OPS_IDLE_TIMEOUT_MS;
    if (c->read_paused && !c->peer_done) {
        c->read_paused = false;
        if (uv_read_start(stream_of(c), on_alloc, on_read) != 0) {
            ops_conn_close(c);
            return;
        }
    }
    request_shutdown(c);
}

static void send_reply(ops_conn *c, ops_reply *r, bool keep_alive, bool head_only)
{
    vx_buf out;
    vx_buf_init(&out);
    vx_buf_printf(&out,
                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                  "Cache-Control: no-store\r\n",
                  r->status, ops_status_text(r->status), r->content_type, r->body.len);
    if (r->allow)
        vx_buf_printf(&out, "Allow: %s\r\n", r->allow);
    if (!keep_alive)
        vx_buf_puts(&out, "Connection: close\r\n");
    else if (llhttp_get_http_major(&c->parser) == 1 && llhttp_get_http_minor(&c->parser) == 0)
        vx_buf_puts(&out, "Connection: keep-alive\r\n");
    vx_buf_puts(&out, "\r\n");
    if (!head_only && r->body.len)
        vx_buf_append(&out, r->body.data, r->body.len);
    vx_buf_cleanup(&r->body);

    write_req *w = vx_xmalloc(sizeof *w);
    size_t len;
    w->conn = c;
    w->data = vx_buf_take(&out, &len);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned int)len);
    if (uv_write(&w->req, stream_of(c), &buf, 1, on_written) != 0) {
        vx_free(w->data);
        vx_free(w);
        ops_conn_close(c);
    }
}

static void send_error(ops_conn *c, int status)
{
    ops_reply r = {0};
    vx_buf_init(&r.body);
    ops_error_reply(status, &r);
    send_reply(c, &r, false, false);
    finish(c);
}

static int reject(ops_conn *c, int status)
{
    c->error_status = status;
    return -1;
}

static int on_message_begin(llhttp_t *p)
{
    ops_conn *c = p->data;
    c->url_len = 0;
    c->header_bytes = 0;
    c->body_bytes = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    ops_conn *c = p->data;
    if (len > sizeof c->url - c->url_len)
        return reject(c, 414);
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    c->header_bytes += len;
    return 0;
}

static int on_header_bytes(llhttp_t *p, const char *at, size_t len)
{
    (void)at;
    ops_conn *c = p->data;
    c->header_bytes += len;
    if (c->header_bytes > OPS_MAX_HEADER_BYTES)
        return reject(c, 431);
    return 0;
}

/* Counts the separators too, so that many tiny headers are bounded like a few long ones. */
static int on_header_value_complete(llhttp_t *p)
{
    return on_header_bytes(p, NULL, sizeof ": \r\n" - 1);
}

static int on_headers_complete(llhttp_t *p)
{
    ops_conn *c = p->data;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > OPS_MAX_BODY_BYTES)
        return reject(c, 413);
    return 0;
}

/* No route reads a body; a small one is skipped so the connection stays usable. */
static int on_body(llhttp_t *p, const char *at, size_t len)
{
    (void)at;
    ops_conn *c = p->data;
    c->body_bytes += len;
    if (c->body_bytes > OPS_MAX_BODY_BYTES)
        return reject(c, 413);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    ops_conn *c = p->data;
    vx_ops_server *s = c->server;
    if (c->closing)
        return HPE_PAUSED;
    /* No route upgrades; after the reply, llhttp would treat the rest as another protocol. */
    bool keep_alive = llhttp_should_keep_alive(p) && !llhttp_get_upgrade(p) && !s->stopping;
    int method = llhttp_get_method(p);

    size_t path_len = 0;
    while (path_len < c->url_len && c->url[path_len] != '?' && c->url[path_len] != '#')
        path_len++;
    ops_reply r = {0};
    vx_buf_init(&r.body);
    ops_route(s, method, c->url, path_len, &r);
    send_reply(c, &r, keep_alive, method == HTTP_HEAD);
    if (c->closing)
        return HPE_PAUSED;
    c->deadline_ms = uv_now(&s->loop) + OPS_IDLE_TIMEOUT_MS;
    if (!keep_alive) {
        finish(c);
        return HPE_PAUSED;
    }
    return 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    ops_conn *c = stream->data;
    if (nread == 0 || c->closing)
        return;
    if (nread == UV_EOF) {
        /* The client sent everything: finish the replies already queued, then close. */
        c->peer_done = true;
        uv_read_stop(stream);
        if (c->shutdown_done)
            ops_conn_close(c);
        else
            request_shutdown(c);
        return;
    }
    if (nread < 0) {
        ops_conn_close(c);
        return;
    }
    if (c->lingering)
        return;
    llhttp_errno_t err = llhttp_execute(&c->parser, buf->base, (size_t)nread);
    if (c->closing || c->lingering)
        return;
    if (err != HPE_OK) {
        send_error(c, c->error_status ? c->error_status : 400);
        return;
    }
    /* A client that pipelines without reading would grow the queue without bound. */
    if (uv_stream_get_write_queue_size(stream) > OPS_MAX_QUEUED_WRITE_BYTES) {
        c->read_paused = true;
        uv_read_stop(stream);
    }
}

static void free_handle(uv_handle_t *handle)
{
    vx_free(handle);
}

void ops_conn_accept(vx_ops_server *s)
{
    uv_stream_t *listener = (uv_stream_t *)&s->listener;
    if (s->n_conns >= OPS_MAX_CONNS) {
        /* Accept and close at once: leaving it queued would stall the listener. */
        uv_tcp_t *extra = vx_xmalloc(sizeof *extra);
        uv_tcp_init(&s->loop, extra);
        uv_accept(listener, (uv_stream_t *)extra);
        uv_close((uv_handle_t *)extra, free_handle);
        return;
    }
    ops_conn *c = vx_xcalloc(1, sizeof *c);
    c->server = s;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    uv_tcp_init(&s->loop, &c->tcp);
    c->tcp.data = c;
    llhttp_init(&c->parser, HTTP_REQUEST, &s->settings);
    c->parser.data = c;
    c->deadline_ms = uv_now(&s->loop) + OPS_IDLE_TIMEOUT_MS;
    if (uv_accept(listener, stream_of(c)) != 0) {
        ops_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_read_start(stream_of(c), on_alloc, on_read) != 0)
        ops_conn_close(c);
}

void ops_conn_settings(llhttp_settings_t *settings)
{
    llhttp_settings_init(settings);
    settings->on_message_begin = on_message_begin;
    settings->on_url = on_url;
    settings->on_header_field = on_header_bytes;
    settings->on_header_value = on_header_bytes;
    settings->on_header_value_complete = on_header_value_complete;
    settings->on_headers_complete = on_headers_complete;
    settings->on_body = on_body;
    settings->on_message_complete = on_message_complete;
}
