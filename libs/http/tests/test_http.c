/* Unit tests of libs/http: a real server on an ephemeral loopback port driven over plain TCP
 * sockets: requests and query decoding, bodies, pipelining, late answers from other threads,
 * vanished clients, limits, 100-continue, request ids, traces, drain, several loops. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- a worker thread that answers requests later ---- */

typedef struct job {
    struct job *next;
    vx_http_request *req;
    int64_t due_ms;
} job;

typedef struct {
    vx_http_server *server;
    pthread_t worker;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *jobs;
    bool stop;
    atomic_int in_handler;   /* dispatched, not answered */
    atomic_int overlap;      /* a request dispatched while another was unanswered */
    atomic_int late_answers; /* answered by the worker */
    atomic_uint loops_seen;  /* bit per loop index */
} fixture;

static void answer_later(vx_http_request *req)
{
    size_t path_len;
    const char *path = vx_http_request_path(req, &path_len);
    char body[256];
    int n = snprintf(body, sizeof body, "late %.*s", (int)path_len, path);
    assert_int_equal(vx_http_respond(req, 200, "text/plain", NULL, 0, body, (size_t)n), VX_OK);
}

static void *worker_main(void *arg)
{
    fixture *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->jobs && !f->stop)
            pthread_cond_wait(&f->cv, &f->mu);
        if (!f->jobs && f->stop)
            break;
        job *j = f->jobs;
        f->jobs = j->next;
        pthread_mutex_unlock(&f->mu);
        int64_t wait = j->due_ms - vx_mono_ms();
        if (wait > 0)
            vx_sleep_ms(wait);
        atomic_fetch_sub(&f->in_handler, 1);
        atomic_fetch_add(&f->late_answers, 1);
        answer_later(j->req);
        vx_free(j);
        pthread_mutex_lock(&f->mu);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static void enqueue(fixture *f, vx_http_request *req, int64_t delay_ms)
{
    job *j = vx_xcalloc(1, sizeof *j);
    j->req = req;
    j->due_ms = vx_mono_ms() + delay_ms;
    pthread_mutex_lock(&f->mu);
    job **tail = &f->jobs;
    while (*tail)
        tail = &(*tail)->next;
    *tail = j;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static bool path_is(vx_http_request *req, const char *want)
{
    size_t len;
    const char *p = vx_http_request_path(req, &len);
    return len == strlen(want) && memcmp(p, want, len) == 0;
}

static void put_param(vx_http_request *req, const char *name, char *out, size_t cap)
{
    const char *v = NULL;
    vx_status st = vx_http_request_query(req, name, &v);
    size_t used = strlen(out);
    snprintf(out + used, cap - used, "%s=%s;", name,
             st == VX_OK          ? v
             : st == VX_NOT_FOUND ? "(none)"
                                  : "(invalid)");
}

static void handler(void *ctx, vx_http_request *req)
{
    fixture *f = ctx;
    if (atomic_fetch_add(&f->in_handler, 1) != 0 && path_is(req, "/seq"))
        atomic_fetch_add(&f->overlap, 1);
    atomic_fetch_or(&f->loops_seen, 1u << vx_http_request_loop_index(req));
    char out[2048] = "";
    if (path_is(req, "/later") || path_is(req, "/seq")) {
        const char *ms;
        if (vx_http_request_query(req, "ms", &ms) != VX_OK)
            ms = "0";
        enqueue(f, req, atoll(ms));
        return;
    }
    atomic_fetch_sub(&f->in_handler, 1);
    if (path_is(req, "/q")) {
        put_param(req, "a", out, sizeof out);
        put_param(req, "b", out, sizeof out);
        put_param(req, "c", out, sizeof out);
        assert_int_equal(vx_http_respond(req, 200, "text/plain", NULL, 0, out, strlen(out)), VX_OK);
    } else if (path_is(req, "/echo")) {
        size_t len;
        const char *body = vx_http_request_body(req, &len);
        const char *ct = vx_http_request_header(req, "CONTENT-TYPE");
        snprintf(out, sizeof out, "%s %zu %s %s loop=%u from=%s", vx_http_request_method(req), len,
                 ct ? ct : "-", vx_http_request_trace(req)->trace_id,
                 vx_http_request_loop_index(req), vx_http_request_remote_addr(req));
        vx_http_header extra[] = {{"x-echo", "yes"}};
        char *reply = vx_xasprintf("%s\n%.*s", out, (int)len, body);
        assert_int_equal(vx_http_respond(req, 200, "text/plain", extra, 1, reply, strlen(reply)),
                         VX_OK);
        vx_free(reply);
    } else if (path_is(req, "/problem")) {
        assert_int_equal(vx_http_respond_problem(req, 422, "validation", "Invalid field",
                                                 "field \"x\" is bad\n\x01\xff"),
                         VX_OK);
    } else if (path_is(req, "/bad-header")) {
        vx_http_header extra[] = {{"x-evil", "a\r\nset-cookie: x"}};
        assert_int_equal(vx_http_respond(req, 200, "text/plain", extra, 1, "x", 1), VX_INVALID);
    } else {
        assert_int_equal(vx_http_respond_problem(req, 404, "not-found", "Not Found", NULL), VX_OK);
    }
}

static fixture *start_with(vx_http_config cfg)
{
    fixture *f = vx_xcalloc(1, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    pthread_create(&f->worker, NULL, worker_main, f);
    cfg.host = "127.0.0.1";
    cfg.handler = handler;
    cfg.handler_ctx = f;
    if (!cfg.loops)
        cfg.loops = 1;
    assert_int_equal(vx_http_server_create(&cfg, &f->server), VX_OK);
    return f;
}

static fixture *start(void)
{
    return start_with((vx_http_config){0});
}

static void stop(fixture *f)
{
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->worker, NULL);
    vx_http_server_destroy(f->server);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    vx_free(f);
}

/* ---- a minimal client ---- */

static char *find_blank_line(char *buf, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++)
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
            return buf + i;
    return NULL;
}

static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

typedef struct {
    int fd;
    char buf[1 << 16];
    size_t len;
} client;

typedef struct {
    int status;
    char head[4096];
    char body[8192];
    size_t body_len;
} response;

static client *connect_to(fixture *f)
{
    client *c = vx_xcalloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)vx_http_server_port(f->server))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
    return c;
}

static void client_close(client *c)
{
    close(c->fd);
    vx_free(c);
}

static void send_str(client *c, const char *s)
{
    size_t len = strlen(s);
    assert_int_equal(send(c->fd, s, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads more input; false on EOF, reset or timeout. */
static bool fill(client *c)
{
    if (c->len == sizeof c->buf)
        return false;
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n <= 0)
        return false;
    c->len += (size_t)n;
    return true;
}

static void consume(client *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Reads one response; the body is read by Content-Length unless head_only. Returns false if the
 * connection ended first. */
static bool read_response(client *c, response *r, bool head_only)
{
    memset(r, 0, sizeof *r);
    char *end;
    while (!(end = find_blank_line(c->buf, c->len)))
        if (!fill(c))
            return false;
    size_t head_len = (size_t)(end - c->buf) + 4;
    assert_true(head_len < sizeof r->head);
    memcpy(r->head, c->buf, head_len);
    consume(c, head_len);
    assert_int_equal(sscanf(r->head, "HTTP/1.1 %d", &r->status), 1);
    const char *cl = find_ci(r->head, "\r\ncontent-length:");
    size_t body_len = cl && !head_only ? strtoul(cl + 17, NULL, 10) : 0;
    assert_true(body_len < sizeof r->body);
    while (c->len < body_len)
        if (!fill(c))
            return false;
    memcpy(r->body, c->buf, body_len);
    r->body_len = body_len;
    consume(c, body_len);
    return true;
}

/* The value of a response header, copied into out ("" if absent). */
static const char *header_of(const response *r, const char *name, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\r\n%s:", name);
    const char *p = find_ci(r->head, pat);
    out[0] = '\0';
    if (!p)
        return out;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    size_t n = strcspn(p, "\r");
    snprintf(out, cap, "%.*s", (int)n, p);
    return out;
}

/* True once the server has closed the connection (EOF or reset) without more data. */
static bool closed_by_server(client *c)
{
    char b;
    return recv(c->fd, &b, 1, 0) <= 0;
}

static response *roundtrip(fixture *f, const char *raw)
{
    static response r;
    client *c = connect_to(f);
    send_str(c, raw);
    assert_true(read_response(c, &r, false));
    client_close(c);
    return &r;
}

/* ---- tests ---- */

static void test_http_get_with_query(void **state)
{
    (void)state;
    fixture *f = start();
    response *r = roundtrip(f, "GET /q?a=x%20y+z&b=1&a=second&c=%zz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "a=x y z;b=1;c=(invalid);");
    r = roundtrip(f, "GET /q?b&%61=%26%3D HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_string_equal(r->body, "a=&=;b=;c=(none);");
    r = roundtrip(f, "GET /q?a=%00 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_string_equal(r->body, "a=(invalid);b=(none);c=(none);");
    r = roundtrip(f, "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 404);
    char v[256];
    assert_string_equal(header_of(r, "content-type", v, sizeof v), "application/problem+json");
    stop(f);
}

static void test_http_percent_decode(void **state)
{
    (void)state;
    char out[32];
    size_t n;
    assert_true(vx_http_percent_decode("a%2Fb+c", 7, true, out, &n));
    assert_string_equal(out, "a/b c");
    assert_true(vx_http_percent_decode("a+b", 3, false, out, &n));
    assert_string_equal(out, "a+b");
    assert_false(vx_http_percent_decode("%4", 2, true, out, &n));
    assert_false(vx_http_percent_decode("%g0", 3, true, out, &n));
    assert_false(vx_http_percent_decode("x%00", 4, true, out, &n));
}

static void test_http_post_body_and_headers(void **state)
{
    (void)state;
    fixture *f = start();
    response *r = roundtrip(f, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json"
                               "\r\nContent-Length: 11\r\n\r\n{\"a\":\"b c\"}");
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "POST 11 application/json"));
    assert_non_null(strstr(r->body, "from=127.0.0.1"));
    assert_non_null(strstr(r->body, "\n{\"a\":\"b c\"}"));
    char v[256];
    assert_string_equal(header_of(r, "x-echo", v, sizeof v), "yes");
    assert_true(strlen(header_of(r, "date", v, sizeof v)) > 20);
    stop(f);
}

static void test_http_chunked_body(void **state)
{
    (void)state;
    fixture *f = start();
    response *r =
        roundtrip(f, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_non_null(strstr(r->body, "POST 11 "));
    assert_non_null(strstr(r->body, "\nhello world"));
    stop(f);
}

static void test_http_pipelined_in_order(void **state)
{
    (void)state;
    fixture *f = start();
    client *c = connect_to(f);
    /* The first is answered last by the worker: the order must still hold. */
    send_str(c, "GET /seq?ms=150&n=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                "GET /seq?ms=0&n=2 HTTP/1.1\r\nHost: t\r\n\r\n"
                "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                "GET /seq?ms=10&n=4 HTTP/1.1\r\nHost: t\r\n\r\n");
    response r;
    assert_true(read_response(c, &r, false));
    assert_string_equal(r.body, "late /seq");
    assert_true(read_response(c, &r, false));
    assert_string_equal(r.body, "late /seq");
    assert_true(read_response(c, &r, false));
    assert_non_null(strstr(r.body, "\nabc"));
    assert_true(read_response(c, &r, false));
    assert_string_equal(r.body, "late /seq");
    assert_int_equal(atomic_load(&f->overlap), 0);
    /* Still usable afterwards (keep-alive). */
    send_str(c, "GET /q?a=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_true(read_response(c, &r, false));
    assert_string_equal(r.body, "a=1;b=(none);c=(none);");
    client_close(c);
    stop(f);
}

static void test_http_answer_from_other_thread(void **state)
{
    (void)state;
    fixture *f = start();
    response *r = roundtrip(f, "GET /later?ms=50 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "late /later");
    assert_int_equal(atomic_load(&f->late_answers), 1);
    stop(f);
}

static void wait_for_stat(fixture *f, size_t offset, uint64_t want)
{
    vx_http_stats st;
    for (int i = 0; i < 500; i++) {
        vx_http_server_stats(f->server, &st);
        if (*(uint64_t *)((char *)&st + offset) == want)
            return;
        vx_sleep_ms(10);
    }
    fail_msg("stat at offset %zu never reached %llu", offset, (unsigned long long)want);
}

static void test_http_client_gone_before_answer(void **state)
{
    (void)state;
    fixture *f = start();
    for (int hard = 0; hard < 2; hard++) {
        client *c = connect_to(f);
        send_str(c, "GET /later?ms=200 HTTP/1.1\r\nHost: t\r\n\r\n");
        wait_for_stat(f, offsetof(vx_http_stats, requests_in_flight), 1);
        if (hard) { /* a reset instead of a FIN */
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        client_close(c);
        wait_for_stat(f, offsetof(vx_http_stats, requests_in_flight), 0);
        wait_for_stat(f, offsetof(vx_http_stats, connections_open), 0);
    }
    assert_int_equal(atomic_load(&f->late_answers), 2);
    response *r = roundtrip(f, "GET /q HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 200);
    stop(f);
}

static void test_http_limits(void **state)
{
    (void)state;
    fixture *f = start_with((vx_http_config){
        .max_header_bytes = 1024, .max_body_bytes = 100, .request_timeout_ms = 200});
    char big[2048];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *raw = vx_xasprintf("GET /q HTTP/1.1\r\nHost: t\r\nx-big: %s\r\n\r\n", big);
    client *c = connect_to(f);
    send_str(c, raw);
    response r;
    assert_true(read_response(c, &r, false));
    assert_int_equal(r.status, 431);
    assert_non_null(strstr(r.body, "\"type\":\"https://valdrix.dev/problems/headers-too-large\""));
    assert_true(closed_by_server(c));
    client_close(c);
    vx_free(raw);

    /* 413 from Content-Length, before any body byte. */
    c = connect_to(f);
    send_str(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n");
    assert_true(read_response(c, &r, false));
    assert_int_equal(r.status, 413);
    client_close(c);
    /* 413 from a chunked body passing the limit. */
    c = connect_to(f);
    send_str(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                "50\r\n");
    memset(big, 'y', 0x50);
    big[0x50] = '\0';
    send_str(c, big);
    send_str(c, "\r\n50\r\n");
    send_str(c, big);
    assert_true(read_response(c, &r, false));
    assert_int_equal(r.status, 413);
    client_close(c);

    /* 408: headers never finish. */
    c = connect_to(f);
    int64_t t0 = vx_mono_ms();
    send_str(c, "GET /q HTTP/1.1\r\nHost: t\r\n");
    assert_true(read_response(c, &r, false));
    assert_int_equal(r.status, 408);
    assert_true(vx_mono_ms() - t0 >= 200);
    char v[64];
    assert_string_equal(header_of(&r, "connection", v, sizeof v), "close");
    assert_true(closed_by_server(c));
    client_close(c);

    /* 400: malformed; the client's request id is not known yet, one is made. */
    r = *roundtrip(f, "GET /q HTTP/1.1\r\nHost: t\r\nbad header\r\n\r\n");
    assert_int_equal(r.status, 400);
    assert_int_equal(strlen(header_of(&r, "x-request-id", v, sizeof v)), 36);
    r = *roundtrip(f, "\x01\x02garbage\r\n\r\n");
    assert_int_equal(r.status, 400);

    vx_http_stats st;
    vx_http_server_stats(f->server, &st);
    assert_int_equal(st.rejected_requests, 4);
    assert_int_equal(st.bad_requests, 2);
    assert_int_equal(st.requests_total, 0);
    stop(f);
}

/* The request target has its own limit below the header limit; a longer one is 414. */
static void test_http_url_limit(void **state)
{
    (void)state;
    fixture *f = start_with((vx_http_config){.max_header_bytes = 4096, .max_url_bytes = 256});
    char url[300];
    memset(url, 'u', sizeof url - 1);
    url[sizeof url - 1] = '\0';
    char *raw = vx_xasprintf("GET /%s HTTP/1.1\r\nHost: t\r\n\r\n", url);
    response *r = roundtrip(f, raw);
    assert_int_equal(r->status, 414);
    assert_non_null(strstr(r->body, "\"type\":\"https://valdrix.dev/problems/uri-too-long\""));
    vx_free(raw);
    /* a target just under it, with headers longer than it, is fine */
    url[250] = '\0';
    raw = vx_xasprintf("GET /q?%s HTTP/1.1\r\nHost: t\r\nx-long: %s%s\r\n\r\n", url, url, url);
    r = roundtrip(f, raw);
    assert_int_equal(r->status, 200);
    vx_free(raw);
    stop(f);
}

/* By default a second server may share a port (SO_REUSEPORT); an exclusive one refuses a port
 * that is held, and holds its own against others. */
static void test_http_exclusive_port(void **state)
{
    (void)state;
    fixture *f = start();
    int port = vx_http_server_port(f->server);
    vx_http_config cfg = {.host = "127.0.0.1", .port = port, .loops = 1, .handler = handler};
    vx_http_server *other = NULL;
    assert_int_equal(vx_http_server_create(&cfg, &other), VX_OK);
    vx_http_server_destroy(other);
    other = NULL;
    cfg.exclusive_port = true;
    assert_int_equal(vx_http_server_create(&cfg, &other), VX_IO);
    assert_null(other);
    stop(f);

    cfg.port = 0;
    assert_int_equal(vx_http_server_create(&cfg, &other), VX_OK);
    vx_http_config shared = {
        .host = "127.0.0.1", .port = vx_http_server_port(other), .loops = 1, .handler = handler};
    vx_http_server *second = NULL;
    assert_int_equal(vx_http_server_create(&shared, &second), VX_IO);
    assert_null(second);
    vx_http_server_destroy(other);

    cfg.loops = 2; /* one socket per loop needs SO_REUSEPORT */
    assert_int_equal(vx_http_server_create(&cfg, &other), VX_INVALID);
}

static void test_http_expect_continue(void **state)
{
    (void)state;
    fixture *f = start_with((vx_http_config){.max_body_bytes = 100});
    client *c = connect_to(f);
    send_str(c, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4"
                "\r\n\r\n");
    response r;
    assert_true(read_response(c, &r, true));
    assert_int_equal(r.status, 100);
    send_str(c, "data");
    assert_true(read_response(c, &r, false));
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\ndata"));
    /* Too large: 413 instead of 100. */
    send_str(c, "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 500"
                "\r\n\r\n");
    assert_true(read_response(c, &r, false));
    assert_int_equal(r.status, 413);
    client_close(c);
    stop(f);
}

static void test_http_connection_cap(void **state)
{
    (void)state;
    fixture *f = start_with((vx_http_config){.max_connections = 2});
    client *a = connect_to(f), *b = connect_to(f);
    wait_for_stat(f, offsetof(vx_http_stats, connections_open), 2);
    client *extra = connect_to(f);
    assert_true(closed_by_server(extra));
    wait_for_stat(f, offsetof(vx_http_stats, rejected_connections), 1);
    send_str(a, "GET /q HTTP/1.1\r\nHost: t\r\n\r\n");
    response r;
    assert_true(read_response(a, &r, false));
    assert_int_equal(r.status, 200);
    client_close(extra);
    client_close(a);
    client_close(b);
    stop(f);
}

static void test_http_request_id(void **state)
{
    (void)state;
    fixture *f = start();
    char v[256];
    response *r = roundtrip(f, "GET /q HTTP/1.1\r\nHost: t\r\nX-Request-Id: abc-123\r\n\r\n");
    assert_string_equal(header_of(r, "x-request-id", v, sizeof v), "abc-123");
    r = roundtrip(f, "GET /q HTTP/1.1\r\nHost: t\r\nX-Request-Id: has space\r\n\r\n");
    assert_int_equal(strlen(header_of(r, "x-request-id", v, sizeof v)), 36);
    char longid[200];
    memset(longid, 'a', 129);
    longid[129] = '\0';
    char *raw = vx_xasprintf("GET /q HTTP/1.1\r\nHost: t\r\nx-request-id: %s\r\n\r\n", longid);
    r = roundtrip(f, raw);
    vx_free(raw);
    assert_int_equal(strlen(header_of(r, "x-request-id", v, sizeof v)), 36);
    r = roundtrip(f, "GET /q HTTP/1.1\r\nHost: t\r\n\r\n");
    char first[64];
    header_of(r, "x-request-id", first, sizeof first);
    r = roundtrip(f, "GET /q HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(strlen(first), 36);
    assert_string_not_equal(header_of(r, "x-request-id", v, sizeof v), first);
    /* Problems carry it in the body too, JSON-escaped. */
    r = roundtrip(f, "GET /problem HTTP/1.1\r\nHost: t\r\nx-request-id: q\"1\r\n\r\n");
    assert_int_equal(r->status, 422);
    assert_string_equal(r->body,
                        "{\"type\":\"https://valdrix.dev/problems/validation\",\"title\":\"Invalid "
                        "field\",\"status\":422,\"detail\":\"field \\\"x\\\" is bad\\n\\u0001"
                        "\\ufffd\",\"request_id\":\"q\\\"1\"}");
    r = roundtrip(f, "GET /bad-header HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(r->status, 500);
    assert_null(strstr(r->head, "set-cookie"));
    stop(f);
}

static void test_http_traceparent(void **state)
{
    (void)state;
    fixture *f = start();
    response *r = roundtrip(f, "GET /echo HTTP/1.1\r\nHost: t\r\ntraceparent: "
                               "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n\r\n");
    assert_non_null(strstr(r->body, " 4bf92f3577b34da6a3ce929d0e0e4736 "));
    r = roundtrip(f, "GET /echo HTTP/1.1\r\nHost: t\r\ntraceparent: 00-zz-yy-01\r\n\r\n");
    char trace[64] = "";
    assert_int_equal(sscanf(r->body, "GET 0 - %63s", trace), 1);
    assert_int_equal(strlen(trace), 32);
    assert_string_not_equal(trace, "00000000000000000000000000000000");
    stop(f);
}

static void test_http_keep_alive_and_http10(void **state)
{
    (void)state;
    fixture *f = start();
    char v[64];
    client *c = connect_to(f);
    send_str(c, "GET /q HTTP/1.0\r\n\r\n");
    response r;
    assert_true(read_response(c, &r, false));
    assert_string_equal(header_of(&r, "connection", v, sizeof v), "close");
    assert_true(closed_by_server(c));
    client_close(c);
    c = connect_to(f);
    for (int i = 0; i < 3; i++) {
        send_str(c, "GET /q HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        assert_true(read_response(c, &r, false));
        assert_string_equal(header_of(&r, "connection", v, sizeof v), "keep-alive");
    }
    send_str(c, "HEAD /q HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_true(read_response(c, &r, true));
    assert_int_equal(r.status, 200);
    assert_string_equal(header_of(&r, "content-length", v, sizeof v), "27");
    assert_true(closed_by_server(c)); /* and no body bytes came before the end */
    client_close(c);
    stop(f);
}

typedef struct {
    fixture *f;
    vx_status st;
} drain_arg;

static void *drain_main(void *arg)
{
    drain_arg *d = arg;
    d->st = vx_http_server_drain(d->f->server, 5000);
    return NULL;
}

static void test_http_drain(void **state)
{
    (void)state;
    fixture *f = start();
    client *busy = connect_to(f), *idle = connect_to(f);
    response r;
    send_str(idle, "GET /q HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_true(read_response(idle, &r, false));
    send_str(busy, "GET /later?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_for_stat(f, offsetof(vx_http_stats, requests_in_flight), 1);
    drain_arg d = {.f = f, .st = VX_INTERNAL};
    pthread_t t;
    pthread_create(&t, NULL, drain_main, &d);
    assert_true(closed_by_server(idle)); /* idle keep-alive closed at once */
    vx_sleep_ms(50);
    /* New connections are refused. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)vx_http_server_port(f->server))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_not_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
    /* The request in flight finishes, told to close. */
    assert_true(read_response(busy, &r, false));
    assert_int_equal(r.status, 200);
    char v[64];
    assert_string_equal(header_of(&r, "connection", v, sizeof v), "close");
    assert_true(closed_by_server(busy));
    pthread_join(t, NULL);
    assert_int_equal(d.st, VX_OK);
    client_close(busy);
    client_close(idle);
    stop(f);
}

static void test_http_several_loops(void **state)
{
    (void)state;
    fixture *f = start_with((vx_http_config){.loops = 3});
    assert_int_equal(vx_http_server_loops(f->server), 3);
    for (int i = 0; i < 48; i++) {
        response *r = roundtrip(f, "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_int_equal(r->status, 200);
    }
    assert_int_equal(atomic_load(&f->loops_seen), 7u);
    vx_http_stats st;
    vx_http_server_stats(f->server, &st);
    assert_int_equal(st.requests_total, 48);
    stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_get_with_query),
        cmocka_unit_test(test_http_percent_decode),
        cmocka_unit_test(test_http_post_body_and_headers),
        cmocka_unit_test(test_http_chunked_body),
        cmocka_unit_test(test_http_pipelined_in_order),
        cmocka_unit_test(test_http_answer_from_other_thread),
        cmocka_unit_test(test_http_client_gone_before_answer),
        cmocka_unit_test(test_http_limits),
        cmocka_unit_test(test_http_url_limit),
        cmocka_unit_test(test_http_exclusive_port),
        cmocka_unit_test(test_http_expect_continue),
        cmocka_unit_test(test_http_connection_cap),
        cmocka_unit_test(test_http_request_id),
        cmocka_unit_test(test_http_traceparent),
        cmocka_unit_test(test_http_keep_alive_and_http10),
        cmocka_unit_test(test_http_drain),
        cmocka_unit_test(test_http_several_loops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
