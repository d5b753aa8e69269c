/* The HTTP/1.1 state machine of one connection, without sockets: bytes in (http_conn_feed),
 * answers out (io->send). One request at a time reaches the handler; later pipelined bytes wait
 * in c->in. Limits answer 408/413/414/417/431, malformed input 400, then the connection ends. */
#include "http_internal.h"

#include "vx/alloc.h"

#include <string.h>
#include <strings.h>

static http_shared *shared_of(http_conn *c)
{
    return c->loop->shared;
}

static int reject(http_conn *c, int status)
{
    c->error_status = status;
    return -1;
}

static int on_message_begin(llhttp_t *p)
{
    http_conn *c = p->data;
    if (!c->req)
        c->req = http_request_create(c);
    c->state = CONN_READING;
    c->header_state = 0;
    c->deadline_ms = http_loop_now(c->loop) + shared_of(c)->cfg.request_timeout_ms;
    return 0;
}

static int count_header_bytes(http_conn *c, size_t len)
{
    c->req->header_bytes += len;
    if (c->req->header_bytes > shared_of(c)->cfg.max_header_bytes)
        return reject(c, 431);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    if (c->req->url.len + len > shared_of(c)->cfg.max_url_bytes)
        return reject(c, 414);
    vx_buf_append(&c->req->url, at, len);
    return count_header_bytes(c, len);
}

/* The header being read; it joins req->n_hdrs once its value is complete. */
static http_hdr *current_header(vx_http_request *req)
{
    return &req->hdrs[req->n_hdrs];
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    vx_http_request *req = c->req;
    if (count_header_bytes(c, len) != 0)
        return -1;
    if (c->header_state != 1) {
        if (req->n_hdrs + 1 >= req->cap_hdrs) {
            req->cap_hdrs = req->cap_hdrs ? req->cap_hdrs * 2 : 16;
            req->hdrs = vx_xrealloc(req->hdrs, req->cap_hdrs * sizeof *req->hdrs);
        }
        *current_header(req) = (http_hdr){.name_off = req->hdr.len};
        c->header_state = 1;
    }
    vx_buf_append(&req->hdr, at, len);
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    http_hdr *h = current_header(c->req);
    h->name_len = c->req->hdr.len - h->name_off;
    vx_buf_putc(&c->req->hdr, '\0');
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    if (count_header_bytes(c, len) != 0)
        return -1;
    if (c->header_state != 2) {
        current_header(c->req)->value_off = c->req->hdr.len;
        c->header_state = 2;
    }
    vx_buf_append(&c->req->hdr, at, len);
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    vx_http_request *req = c->req;
    http_hdr *h = current_header(req);
    if (c->header_state != 2) /* empty value: no on_header_value call */
        h->value_off = req->hdr.len;
    size_t end = req->hdr.len;
    while (end > h->value_off && (req->hdr.data[end - 1] == ' ' || req->hdr.data[end - 1] == '\t'))
        end--;
    req->hdr.len = end;
    h->value_len = end - h->value_off;
    vx_buf_putc(&req->hdr, '\0');
    req->n_hdrs++;
    c->header_state = 0;
    /* Separators count too, so that many tiny headers are bounded like a few long ones. */
    return count_header_bytes(c, sizeof ": \r\n" - 1);
}

static void send_bytes(http_conn *c, const char *s, size_t len)
{
    char *copy = vx_xmalloc(len);
    memcpy(copy, s, len);
    c->io->send(c, copy, len);
}

static int on_headers_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    vx_http_request *req = c->req;
    http_shared *sh = shared_of(c);
    req->method = llhttp_get_method(p);
    req->http_major = llhttp_get_http_major(p);
    req->http_minor = llhttp_get_http_minor(p);
    req->head = req->method == HTTP_HEAD;
    bool has_length = (p->flags & F_CONTENT_LENGTH) != 0;
    if (has_length && p->content_length > sh->cfg.max_body_bytes)
        return reject(c, 413);
    const char *expect = vx_http_request_header(req, "expect");
    if (expect) {
        if (strcasecmp(expect, "100-continue") != 0)
            return reject(c, 417);
        bool body_follows = (p->flags & F_CHUNKED) || (has_length && p->content_length > 0);
        if (body_follows && req->http_major == 1 && req->http_minor >= 1) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            send_bytes(c, cont, sizeof cont - 1);
        }
    }
    if (has_length && p->content_length > 0)
        vx_buf_reserve(&req->body, (size_t)p->content_length);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    http_conn *c = p->data;
    if (c->req->body.len + len > shared_of(c)->cfg.max_body_bytes)
        return reject(c, 413);
    vx_buf_append(&c->req->body, at, len);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    http_conn *c = p->data;
    c->req->keep_alive = llhttp_should_keep_alive(p);
    c->req->upgrade = llhttp_get_upgrade(p);
    /* Stop here: the handler sees this request before the next one is parsed. */
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_conn_init(http_conn *c, http_loop *l, const http_io *io)
{
    c->loop = l;
    c->io = io;
    llhttp_init(&c->parser, HTTP_REQUEST, &settings);
    c->parser.data = c;
    vx_buf_init(&c->in);
    c->state = CONN_IDLE;
    c->deadline_ms = http_loop_now(l) + l->shared->cfg.idle_timeout_ms;
}

static void finish(http_conn *c)
{
    if (c->state == CONN_DONE)
        return;
    c->state = CONN_DONE;
    c->input_done = true;
    c->deadline_ms = 0;
    vx_buf_cleanup(&c->in);
    c->in_off = 0;
    c->io->finish(c);
}

/* An answer from the server itself, for a request the handler never saw; then the end. */
static void fail(http_conn *c, int status, const char *detail)
{
    http_shared *sh = shared_of(c);
    if (status == 400)
        atomic_fetch_add(&sh->bad_requests, 1);
    else
        atomic_fetch_add(&sh->rejected_requests, 1);
    const char *id = c->req ? http_request_client_id(c->req) : NULL;
    size_t len;
    char *bytes = http_problem_bytes(status, id, detail, &len);
    http_request_free(c->req);
    c->req = NULL;
    c->io->send(c, bytes, len);
    finish(c);
}

static const char *limit_detail(int status)
{
    switch (status) {
    case 408:
        return "the request did not arrive in time";
    case 413:
        return "the request body is larger than the server accepts";
    case 414:
        return "the request target is longer than the server accepts";
    case 417:
        return "only the expectation 100-continue is supported";
    case 431:
        return "the request headers are larger than the server accepts";
    default:
        return NULL;
    }
}

static void dispatch(http_conn *c)
{
    vx_http_request *req = c->req;
    http_shared *sh = shared_of(c);
    c->state = CONN_HANDLING;
    c->deadline_ms = 0;
    http_request_finalize(req);
    req->dispatched = true;
    atomic_fetch_add(&sh->in_flight, 1);
    atomic_fetch_add(&sh->requests_total, 1);
    sh->cfg.handler(sh->cfg.handler_ctx, req);
}

static void compact_input(http_conn *c)
{
    if (c->in_off == 0)
        return;
    if (c->in_off >= c->in.len) {
        vx_buf_reset(&c->in);
    } else {
        memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in.data[c->in.len] = '\0';
    }
    c->in_off = 0;
}

/* Parses buffered input until a request is complete (then dispatches it), the input runs out,
 * or the connection ends. Re-entered from a handler that answers at once: the outer call
 * continues. */
static void parse(http_conn *c)
{
    if (c->in_parse)
        return;
    c->in_parse = true;
    while (c->state != CONN_DONE && c->state != CONN_HANDLING && !c->input_done &&
           c->in_off < c->in.len) {
        const char *start = c->in.data + c->in_off;
        llhttp_errno_t err = llhttp_execute(&c->parser, start, c->in.len - c->in_off);
        if (err == HPE_OK) {
            c->in_off = c->in.len;
        } else if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
            c->in_off += (size_t)(llhttp_get_error_pos(&c->parser) - start);
            if (err == HPE_PAUSED)
                llhttp_resume(&c->parser);
            else
                c->input_done = true; /* no protocol switch: answer, then close */
            dispatch(c);
        } else {
            int status = c->error_status ? c->error_status : 400;
            fail(c, status,
                 status == 400 ? llhttp_get_error_reason(&c->parser) : limit_detail(status));
        }
    }
    if (c->state != CONN_DONE) {
        compact_input(c);
        if ((c->input_done || c->eof) && c->state != CONN_HANDLING)
            finish(c);
    }
    c->in_parse = false;
}

void http_conn_feed(http_conn *c, const char *data, size_t len)
{
    if (c->state == CONN_DONE || c->input_done || len == 0)
        return;
    vx_buf_append(&c->in, data, len);
    parse(c);
}

void http_conn_eof(http_conn *c)
{
    if (c->state == CONN_DONE)
        return;
    /* Requests already buffered are still answered, one after another; then the end. */
    c->eof = true;
    if (c->state != CONN_HANDLING)
        parse(c);
}

void http_conn_tick(http_conn *c, uint64_t now_ms)
{
    if (c->deadline_ms == 0 || now_ms < c->deadline_ms)
        return;
    if (c->state == CONN_READING)
        fail(c, 408, limit_detail(408));
    else if (c->state == CONN_IDLE)
        finish(c);
}

void http_conn_drain(http_conn *c)
{
    if (c->state == CONN_IDLE && c->in_off >= c->in.len)
        finish(c);
}

bool http_conn_wants_input(const http_conn *c)
{
    if (c->state == CONN_DONE)
        return false;
    return c->state != CONN_HANDLING || c->in.len - c->in_off < HTTP_MAX_PENDING_INPUT;
}

void http_conn_detach(http_conn *c)
{
    vx_http_request *req = c->req;
    if (req) {
        if (req->dispatched)
            req->conn = NULL; /* freed when answered */
        else
            http_request_free(req);
    }
    c->req = NULL;
    c->state = CONN_DONE;
    vx_buf_cleanup(&c->in);
}

void http_request_done(vx_http_request *req)
{
    http_conn *c = req->conn;
    http_shared *sh = req->loop->shared;
    atomic_fetch_sub(&sh->in_flight, 1);
    if (c && c->state == CONN_HANDLING && c->req == req) {
        c->req = NULL;
        char *out = req->out;
        req->out = NULL;
        c->io->send(c, out, req->out_len);
        if (req->out_close || atomic_load(&sh->draining)) {
            finish(c);
        } else {
            c->state = CONN_IDLE;
            c->deadline_ms = http_loop_now(c->loop) + sh->cfg.idle_timeout_ms;
            parse(c);
        }
    }
    http_request_free(req);
}
