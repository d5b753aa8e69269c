/* Unit tests of libs/ops: a real listener on an ephemeral port, driven over plain TCP sockets:
 * routes, readiness and draining, keep-alive and pipelining, limits, restart; and the same
 * answers on a vx::http server of the caller's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ops_limits.h"
#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/metrics.h"
#include "vx/ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct {
    atomic_bool ready;
    _Atomic(const char *) reason;
    _Atomic(const char *) note; /* written while ready (NULL: nothing) */
    atomic_int calls;
} readiness;

typedef struct {
    vx_metrics *metrics;
    vx_ops_server *server;
    readiness ready;
} fixture;

static bool check_ready(void *ctx, char *why, size_t why_cap)
{
    readiness *r = ctx;
    atomic_fetch_add(&r->calls, 1);
    if (atomic_load(&r->ready)) {
        const char *note = atomic_load(&r->note);
        if (note)
            snprintf(why, why_cap, "%s", note);
        return true;
    }
    snprintf(why, why_cap, "%s", atomic_load(&r->reason));
    return false;
}

static int setup(void **state)
{
    fixture *f = vx_xcalloc(1, sizeof *f);
    atomic_init(&f->ready.ready, true);
    atomic_init(&f->ready.calls, 0);
    atomic_init(&f->ready.reason, "postgres: connection refused");
    atomic_init(&f->ready.note, NULL);
    f->metrics = vx_metrics_create();
    vx_ops_config cfg = {.host = "127.0.0.1",
                         .port = 0,
                         .metrics = f->metrics,
                         .ready = check_ready,
                         .ready_ctx = &f->ready};
    if (vx_ops_start(&cfg, &f->server) != VX_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    vx_ops_stop(f->server);
    vx_metrics_destroy(f->metrics);
    vx_free(f);
    return 0;
}

/* A blocking client socket with a 5 s receive timeout, so a broken server fails the test
 * instead of hanging it. */
static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 5};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Buffered reader over one connection, so pipelined replies can be split. */
typedef struct {
    int fd;
    char buf[256 * 1024];
    size_t len;
} reader;

typedef struct {
    int status;
    char headers[4096]; /* NUL-terminated, status line included */
    char body[128 * 1024];
    size_t body_len;
} response;

static bool fill(reader *r)
{
    assert_true(r->len < sizeof r->buf);
    ssize_t n = recv(r->fd, r->buf + r->len, sizeof r->buf - r->len, 0);
    if (n <= 0)
        return false;
    r->len += (size_t)n;
    return true;
}

static void consume(reader *r, size_t n)
{
    memmove(r->buf, r->buf + n, r->len - n);
    r->len -= n;
}

static const char *find_bytes(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return hay + i;
    return NULL;
}

/* Reads one response; false if the connection ended before any byte of it. With head_only
 * the body is not expected even if Content-Length says otherwise. */
static bool read_response_ex(reader *r, response *out, bool head_only)
{
    memset(out, 0, sizeof *out);
    const char *end;
    while (!(end = find_bytes(r->buf, r->len, "\r\n\r\n"))) {
        if (!fill(r)) {
            assert_int_equal(r->len, 0);
            return false;
        }
    }
    size_t head_len = (size_t)(end - r->buf) + 4;
    assert_true(head_len < sizeof out->headers);
    memcpy(out->headers, r->buf, head_len);
    out->headers[head_len] = '\0';
    assert_int_equal(sscanf(out->headers, "HTTP/1.1 %d ", &out->status), 1);
    const char *cl = strstr(out->headers, "Content-Length: ");
    assert_non_null(cl);
    size_t body_len = strtoul(cl + strlen("Content-Length: "), NULL, 10);
    consume(r, head_len);
    if (head_only)
        return true;
    assert_true(body_len < sizeof out->body);
    while (r->len < body_len)
        assert_true(fill(r));
    memcpy(out->body, r->buf, body_len);
    out->body[body_len] = '\0';
    out->body_len = body_len;
    consume(r, body_len);
    return true;
}

static void read_response(reader *r, response *out)
{
    assert_true(read_response_ex(r, out, false));
}

/* The server closed the connection: EOF with no further bytes. */
static void assert_closed(reader *r)
{
    assert_int_equal(r->len, 0);
    char c;
    ssize_t n = recv(r->fd, &c, 1, 0);
    assert_true(n == 0 || (n < 0 && errno == ECONNRESET));
}

static reader *open_reader(int port)
{
    reader *r = vx_xmalloc(sizeof *r);
    r->fd = connect_to(port);
    r->len = 0;
    return r;
}

static void close_reader(reader *r)
{
    close(r->fd);
    vx_free(r);
}

/* One request on a new connection. */
static void request(int port, const char *req, response *out)
{
    reader *r = open_reader(port);
    send_str(r->fd, req);
    read_response(r, out);
    close_reader(r);
}

static void get(int port, const char *path, response *out)
{
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    request(port, req, out);
}

static response *new_response(void)
{
    return vx_xmalloc(sizeof(response));
}

static void test_ops_metrics_serves_registered_counter(void **state)
{
    fixture *f = *state;
    vx_counter *c =
        vx_metrics_counter(f->metrics, "valdrix_test_requests_total", "Requests.", "route=\"/v1\"");
    vx_counter_add(c, 7);
    response *resp = new_response();
    get(vx_ops_port(f->server), "/metrics", resp);
    assert_int_equal(resp->status, 200);
    assert_non_null(strstr(resp->headers, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(resp->body, "# TYPE valdrix_test_requests_total counter\n"));
    assert_non_null(strstr(resp->body, "valdrix_test_requests_total{route=\"/v1\"} 7\n"));

    vx_counter_inc(c); /* rendered afresh on every request */
    get(vx_ops_port(f->server), "/metrics?debug=1", resp);
    assert_int_equal(resp->status, 200);
    assert_non_null(strstr(resp->body, "valdrix_test_requests_total{route=\"/v1\"} 8\n"));
    vx_free(resp);
}

static void test_ops_healthz_answers_ok(void **state)
{
    fixture *f = *state;
    response *resp = new_response();
    get(vx_ops_port(f->server), "/healthz", resp);
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->body, "{\"status\":\"ok\"}");
    assert_non_null(strstr(resp->headers, "Content-Type: application/json\r\n"));
    vx_free(resp);
}

static void test_ops_readyz_follows_ready_fn(void **state)
{
    fixture *f = *state;
    int port = vx_ops_port(f->server);
    response *resp = new_response();
    get(port, "/readyz", resp);
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->body, "{\"status\":\"ready\"}");
    assert_true(atomic_load(&f->ready.calls) >= 1);

    atomic_store(&f->ready.ready, false);
    get(port, "/readyz", resp);
    assert_int_equal(resp->status, 503);
    assert_string_equal(resp->body,
                        "{\"status\":\"not ready\",\"reason\":\"postgres: connection refused\"}");

    atomic_store(&f->ready.reason, "nats: \"timeout\"\n"); /* must come out as valid JSON */
    get(port, "/readyz", resp);
    assert_int_equal(resp->status, 503);
    assert_string_equal(resp->body,
                        "{\"status\":\"not ready\",\"reason\":\"nats: \\\"timeout\\\"\\n\"}");

    atomic_store(&f->ready.ready, true);
    get(port, "/readyz", resp);
    assert_int_equal(resp->status, 200);
    /* ready, but degraded: still 200, saying what is degraded */
    atomic_store(&f->ready.note, "redis: unreachable");
    get(port, "/readyz", resp);
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->body, "{\"status\":\"ready\",\"note\":\"redis: unreachable\"}");
    atomic_store(&f->ready.note, NULL);
    vx_free(resp);
}

static void test_ops_draining_makes_readyz_unavailable(void **state)
{
    fixture *f = *state;
    int port = vx_ops_port(f->server);
    response *resp = new_response();
    vx_ops_set_draining(f->server);
    get(port, "/readyz", resp);
    assert_int_equal(resp->status, 503);
    assert_string_equal(resp->body, "{\"status\":\"not ready\",\"reason\":\"draining\"}");
    /* the process still serves */
    get(port, "/healthz", resp);
    assert_int_equal(resp->status, 200);
    vx_free(resp);
}

static void test_ops_unknown_path_is_404_and_non_get_is_405(void **state)
{
    fixture *f = *state;
    int port = vx_ops_port(f->server);
    response *resp = new_response();
    get(port, "/nope", resp);
    assert_int_equal(resp->status, 404);
    get(port, "/metricsx", resp);
    assert_int_equal(resp->status, 404);

    /* A small body is skipped and the connection stays usable. */
    reader *r = open_reader(port);
    send_str(r->fd, "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
                    "DELETE /readyz HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(r, resp);
    assert_int_equal(resp->status, 405);
    assert_non_null(strstr(resp->headers, "Allow: GET, HEAD\r\n"));
    read_response(r, resp);
    assert_int_equal(resp->status, 405);
    read_response(r, resp);
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->body, "{\"status\":\"ok\"}");
    close_reader(r);
    vx_free(resp);
}

static void test_ops_keep_alive_serves_pipelined_requests(void **state)
{
    fixture *f = *state;
    response *resp = new_response();
    reader *r = open_reader(vx_ops_port(f->server));
    send_str(r->fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(r, resp);
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->body, "{\"status\":\"ok\"}");
    assert_null(strstr(resp->headers, "Connection: close"));
    read_response(r, resp);
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->body, "{\"status\":\"ready\"}");

    /* still open afterwards; a request split across writes is reassembled */
    send_str(r->fd, "GET /hea");
    vx_sleep_ms(20);
    send_str(r->fd, "lthz HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(r, resp);
    assert_int_equal(resp->status, 200);

    /* HEAD gets the headers only, so the next reply must start right after them */
    send_str(r->fd, "HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_true(read_response_ex(r, resp, true));
    assert_int_equal(resp->status, 200);
    assert_non_null(strstr(resp->headers, "Content-Length: 15\r\n"));
    read_response(r, resp);
    assert_int_equal(resp->status, 404);
    assert_non_null(strstr(resp->headers, "Connection: close\r\n"));
    assert_closed(r);
    close_reader(r);
    vx_free(resp);
}

static void test_ops_http10_closes_unless_keep_alive(void **state)
{
    fixture *f = *state;
    response *resp = new_response();
    reader *r = open_reader(vx_ops_port(f->server));
    send_str(r->fd, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    read_response(r, resp);
    assert_int_equal(resp->status, 200);
    assert_non_null(strstr(resp->headers, "Connection: keep-alive\r\n"));
    send_str(r->fd, "GET /healthz HTTP/1.0\r\n\r\n");
    read_response(r, resp);
    assert_int_equal(resp->status, 200);
    assert_non_null(strstr(resp->headers, "Connection: close\r\n"));
    assert_closed(r);
    close_reader(r);
    vx_free(resp);
}

static void test_ops_oversized_header_is_431(void **state)
{
    fixture *f = *state;
    response *resp = new_response();
    size_t big = OPS_MAX_HEADER_BYTES * 2;
    char *req = vx_xmalloc(big + 256);
    int n = snprintf(req, 256, "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(req + n, 'a', big);
    memcpy(req + n + big, "\r\n\r\n", 5);
    reader *r = open_reader(vx_ops_port(f->server));
    send_str(r->fd, req);
    read_response(r, resp);
    assert_int_equal(resp->status, 431);
    assert_non_null(strstr(resp->headers, "Connection: close\r\n"));
    assert_closed(r);
    close_reader(r);

    /* many small headers count too */
    size_t len = (size_t)snprintf(req, 64, "GET /healthz HTTP/1.1\r\n");
    while (len < OPS_MAX_HEADER_BYTES + 64) {
        memcpy(req + len, "a:b\r\n", 5);
        len += 5;
    }
    memcpy(req + len, "\r\n", 3);
    request(vx_ops_port(f->server), req, resp);
    assert_int_equal(resp->status, 431);

    /* just under the limit is fine */
    n = snprintf(req, 256, "GET /healthz HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'a', OPS_MAX_HEADER_BYTES / 2);
    memcpy(req + n + OPS_MAX_HEADER_BYTES / 2, "\r\n\r\n", 5);
    request(vx_ops_port(f->server), req, resp);
    assert_int_equal(resp->status, 200);
    vx_free(req);
    vx_free(resp);
}

static void test_ops_bad_requests_get_4xx(void **state)
{
    fixture *f = *state;
    int port = vx_ops_port(f->server);
    response *resp = new_response();
    request(port, "NOT HTTP AT ALL\r\n\r\n", resp);
    assert_int_equal(resp->status, 400);

    char *req = vx_xmalloc(OPS_MAX_URL_BYTES + 128);
    int n = snprintf(req, 64, "GET /");
    memset(req + n, 'u', OPS_MAX_URL_BYTES);
    snprintf(req + n + OPS_MAX_URL_BYTES, 64, " HTTP/1.1\r\nHost: t\r\n\r\n");
    request(port, req, resp);
    assert_int_equal(resp->status, 414);
    vx_free(req);

    request(port, "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\n", resp);
    assert_int_equal(resp->status, 413);

    /* an upgrade request gets exactly one reply, then the connection ends */
    reader *r = open_reader(port);
    send_str(r->fd, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
                    "Upgrade: websocket\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n");
    read_response(r, resp);
    assert_int_equal(resp->status, 200);
    assert_non_null(strstr(resp->headers, "Connection: close\r\n"));
    assert_closed(r);
    close_reader(r);
    vx_free(resp);
}

static void test_ops_stop_and_start_twice(void **state)
{
    (void)state;
    vx_metrics *m = vx_metrics_create();
    vx_metrics_gauge(m, "valdrix_test_up", "Up.", NULL);
    response *resp = new_response();
    for (int round = 0; round < 2; round++) {
        vx_ops_config cfg = {.host = "127.0.0.1", .port = 0, .metrics = m};
        vx_ops_server *s = NULL;
        assert_int_equal(vx_ops_start(&cfg, &s), VX_OK);
        int port = vx_ops_port(s);
        assert_true(port > 0);
        get(port, "/readyz", resp); /* no ready fn: always ready */
        assert_int_equal(resp->status, 200);
        get(port, "/metrics", resp);
        assert_non_null(strstr(resp->body, "valdrix_test_up 0\n"));
        /* an open idle connection and a half-sent request must not block the stop */
        reader *idle = open_reader(port);
        reader *partial = open_reader(port);
        send_str(partial->fd, "GET /heal");
        get(port, "/healthz", resp); /* both are accepted by now */
        vx_ops_stop(s);
        assert_closed(idle);
        assert_closed(partial);
        close_reader(idle);
        close_reader(partial);
        /* the port is released */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_not_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
        close(fd);
    }
    vx_ops_stop(NULL);
    vx_free(resp);
    vx_metrics_destroy(m);
}

static void test_ops_start_reports_bad_config(void **state)
{
    fixture *f = *state;
    vx_ops_server *s = NULL;
    vx_ops_config taken = {.host = "127.0.0.1", .port = vx_ops_port(f->server)};
    assert_int_equal(vx_ops_start(&taken, &s), VX_IO);
    assert_null(s);
    vx_ops_config bad_host = {.host = "not-an-address", .port = 0};
    assert_int_equal(vx_ops_start(&bad_host, &s), VX_INVALID);
    vx_ops_config bad_port = {.host = "127.0.0.1", .port = 70000};
    assert_int_equal(vx_ops_start(&bad_port, &s), VX_INVALID);
    assert_int_equal(vx_ops_start(NULL, &s), VX_INVALID);
    assert_null(s);
}

static void test_ops_connections_are_capped(void **state)
{
    fixture *f = *state;
    int port = vx_ops_port(f->server);
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < OPS_MAX_CONNS + 64) {
        rl.rlim_cur = OPS_MAX_CONNS + 64;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    response *resp = new_response();
    reader **open = vx_xcalloc(OPS_MAX_CONNS, sizeof *open);
    for (int i = 0; i < OPS_MAX_CONNS; i++) {
        open[i] = open_reader(port);
        /* a reply proves the server holds this connection */
        send_str(open[i]->fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        read_response(open[i], resp);
        assert_int_equal(resp->status, 200);
    }
    reader *extra = open_reader(port);
    send_str(extra->fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_false(read_response_ex(extra, resp, false));
    close_reader(extra);

    /* held connections keep working, and a freed slot is reusable */
    send_str(open[0]->fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    read_response(open[0], resp);
    assert_int_equal(resp->status, 200);
    close_reader(open[0]);
    open[0] = NULL;
    bool served = false;
    for (int attempt = 0; attempt < 100 && !served; attempt++) {
        reader *r = open_reader(port);
        send_str(r->fd, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        served = read_response_ex(r, resp, false);
        close_reader(r);
        if (!served)
            vx_sleep_ms(20);
    }
    assert_true(served);
    for (int i = 1; i < OPS_MAX_CONNS; i++)
        close_reader(open[i]);
    vx_free(open);
    vx_free(resp);
}

/* vx_ops_answer on a server of the caller's (as the API serves its own port): a blocking
 * readiness check off the loop, the answers worded as the caller documents them, draining
 * from the caller's flag, the caller told of each answer, other paths left to the caller. */
typedef struct {
    vx_ops_routes routes;
    readiness ready;
    atomic_bool draining;
    atomic_int answers;
    atomic_int last_status;
    pthread_t loop_thread; /* written on the loop before it serves */
    atomic_bool checked_on_loop;
} embedded;

static void embedded_loop_start(void *ctx, unsigned index, struct uv_loop_s *loop)
{
    (void)index;
    (void)loop;
    embedded *e = ctx;
    e->loop_thread = pthread_self();
}

static bool embedded_ready(void *ctx, char *why, size_t cap)
{
    embedded *e = ctx;
    if (pthread_equal(pthread_self(), e->loop_thread))
        atomic_store(&e->checked_on_loop, true);
    return check_ready(&e->ready, why, cap);
}

static void embedded_answered(void *arg, int status)
{
    embedded *e = arg;
    atomic_store(&e->last_status, status);
    atomic_fetch_add(&e->answers, 1);
}

static void embedded_handle(void *ctx, vx_http_request *req)
{
    embedded *e = ctx;
    if (!vx_ops_answer(&e->routes, req, embedded_answered, e))
        assert_int_equal(vx_http_respond(req, 200, "text/plain", NULL, 0, "app", 3), VX_OK);
}

/* The caller hears of an answer just after it is sent: wait for the count to reach n. */
static void wait_answers(embedded *e, int n)
{
    for (int i = 0; i < 500 && atomic_load(&e->answers) < n; i++)
        vx_sleep_ms(10);
    assert_int_equal(atomic_load(&e->answers), n);
}

static void test_ops_answer_on_a_server_of_the_caller(void **state)
{
    (void)state;
    embedded *e = vx_xcalloc(1, sizeof *e);
    atomic_init(&e->ready.ready, true);
    atomic_init(&e->ready.reason, "postgres: connection refused");
    atomic_init(&e->ready.note, "local-fallback");
    atomic_init(&e->ready.calls, 0);
    atomic_init(&e->draining, false);
    atomic_init(&e->answers, 0);
    atomic_init(&e->last_status, 0);
    atomic_init(&e->checked_on_loop, false);
    vx_metrics *m = vx_metrics_create();
    vx_counter_add(vx_metrics_counter(m, "valdrix_test_answers_total", "Answers.", NULL), 3);
    e->routes = (vx_ops_routes){.metrics = m,
                                .ready = embedded_ready,
                                .ready_ctx = e,
                                .draining = &e->draining,
                                .ready_blocks = true,
                                .note_name = "redis",
                                .problem = true};
    vx_http_config hc = {.host = "127.0.0.1",
                         .loops = 1,
                         .handler = embedded_handle,
                         .handler_ctx = e,
                         .on_loop_start = embedded_loop_start};
    vx_http_server *http = NULL;
    assert_int_equal(vx_http_server_create(&hc, &http), VX_OK);
    int port = vx_http_server_port(http);
    response *resp = new_response();

    get(port, "/healthz", resp);
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->body, "{\"status\":\"ok\"}");
    wait_answers(e, 1);
    assert_int_equal(atomic_load(&e->last_status), 200);

    get(port, "/readyz", resp);
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->body, "{\"status\":\"ready\",\"redis\":\"local-fallback\"}");
    wait_answers(e, 2);
    assert_int_equal(atomic_load(&e->ready.calls), 1);
    assert_false(atomic_load(&e->checked_on_loop)); /* it may block: not on the loop */

    atomic_store(&e->ready.ready, false);
    get(port, "/readyz", resp);
    assert_int_equal(resp->status, 503);
    assert_non_null(strstr(resp->headers, "Content-Type: application/problem+json\r\n"));
    assert_non_null(strstr(resp->body, "\"type\":\"https://valdrix.dev/problems/not-ready\""));
    assert_non_null(strstr(resp->body, "\"detail\":\"postgres: connection refused\""));
    wait_answers(e, 3);
    assert_int_equal(atomic_load(&e->last_status), 503);

    get(port, "/metrics", resp);
    assert_int_equal(resp->status, 200);
    assert_non_null(strstr(resp->body, "valdrix_test_answers_total 3\n"));
    wait_answers(e, 4);

    request(port, "POST /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", resp);
    assert_int_equal(resp->status, 405);
    assert_non_null(strstr(resp->headers, "Allow: GET, HEAD\r\n"));
    wait_answers(e, 5);
    assert_int_equal(atomic_load(&e->last_status), 405);

    atomic_store(&e->ready.ready, true);
    atomic_store(&e->draining, true);
    get(port, "/readyz", resp);
    assert_int_equal(resp->status, 503);
    assert_non_null(strstr(resp->body, "\"detail\":\"draining\""));
    wait_answers(e, 6);
    assert_int_equal(atomic_load(&e->ready.calls), 2); /* not asked while draining */

    get(port, "/v1/costs", resp); /* not an ops path: the caller's */
    assert_int_equal(resp->status, 200);
    assert_string_equal(resp->body, "app");
    vx_sleep_ms(20);
    assert_int_equal(atomic_load(&e->answers), 6);

    vx_http_server_destroy(http);
    vx_metrics_destroy(m);
    vx_free(resp);
    vx_free(e);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ops_metrics_serves_registered_counter),
        T(test_ops_healthz_answers_ok),
        T(test_ops_readyz_follows_ready_fn),
        T(test_ops_draining_makes_readyz_unavailable),
        T(test_ops_unknown_path_is_404_and_non_get_is_405),
        T(test_ops_keep_alive_serves_pipelined_requests),
        T(test_ops_http10_closes_unless_keep_alive),
        T(test_ops_oversized_header_is_431),
        T(test_ops_bad_requests_get_4xx),
        cmocka_unit_test(test_ops_stop_and_start_twice),
        T(test_ops_start_reports_bad_config),
        T(test_ops_connections_are_capped),
        cmocka_unit_test(test_ops_answer_on_a_server_of_the_caller),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
