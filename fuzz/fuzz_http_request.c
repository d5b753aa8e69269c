/* libFuzzer target for vx::http's connection parsing (session.c) without sockets: arbitrary bytes
 * arrive in chunks, with clock ticks and answers now or later; every answer must be one
 * well-formed HTTP/1.1 response, in order, and nothing may be sent after the end. */
#include "http_internal.h"

#include "vx/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    http_conn conn;
    int responses;  /* final responses seen */
    int dispatched; /* requests the handler saw */
    bool finished;
    vx_http_request *pending; /* answered after the next chunk */
    unsigned char mode;
} harness;

static harness *current;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, __LINE__);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char *find(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(s + i, needle, n) == 0)
            return s + i;
    return NULL;
}

/* One unit from io->send: a 100 Continue or one complete response. */
static void check_response(const char *s, size_t len)
{
    CHECK(len > 13 && memcmp(s, "HTTP/1.1 ", 9) == 0);
    int status = atoi(s + 9);
    CHECK(status >= 100 && status <= 599);
    const char *end = find(s, len, "\r\n\r\n");
    CHECK(end != NULL);
    size_t head_len = (size_t)(end - s) + 4;
    if (status == 100) {
        CHECK(head_len == len);
        return;
    }
    /* Every header line is "name: value" without bare CR or LF. */
    const char *line = find(s, head_len, "\r\n") + 2;
    bool has_id = false;
    long content_length = -1;
    while (line < end + 2) {
        const char *eol = find(line, (size_t)(end + 2 - line), "\r\n");
        CHECK(eol != NULL);
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        CHECK(colon != NULL && colon > line);
        for (const char *p = line; p < eol; p++)
            CHECK(*p != '\r' && *p != '\n' && *p != '\0');
        if ((size_t)(colon - line) == 12 && memcmp(line, "x-request-id", 12) == 0)
            has_id = true;
        if ((size_t)(colon - line) == 14 && memcmp(line, "Content-Length", 14) == 0)
            content_length = strtol(colon + 1, NULL, 10);
        line = eol + 2;
    }
    CHECK(has_id);
    size_t body_len = len - head_len;
    if (status == 204 || status == 304) {
        CHECK(content_length < 0 && body_len == 0);
        current->responses++;
        return;
    }
    /* HEAD answers announce a length but carry no body. */
    CHECK(content_length >= 0 && (body_len == (size_t)content_length || body_len == 0));
    current->responses++;
}

static void io_send(http_conn *c, char *data, size_t len)
{
    (void)c;
    CHECK(!current->finished);
    check_response(data, len);
    vx_free(data);
}

static void io_finish(http_conn *c)
{
    (void)c;
    CHECK(!current->finished);
    current->finished = true;
}

static const http_io fuzz_io = {.send = io_send, .finish = io_finish};

static void answer(vx_http_request *req)
{
    size_t len;
    const char *body = vx_http_request_body(req, &len);
    if (current->mode & 1) {
        CHECK(vx_http_respond_problem(req, 400, "bad", "Bad", body) == VX_OK);
    } else {
        vx_http_header h[] = {{"x-method", vx_http_request_method(req)}};
        /* The method is one of llhttp's tokens, so the header is always accepted. */
        CHECK(vx_http_respond(req, current->mode & 2 ? 204 : 200, "text/plain", h, 1, body, len) ==
              VX_OK);
    }
}

static void handler(void *ctx, vx_http_request *req)
{
    (void)ctx;
    current->dispatched++;
    CHECK(current->pending == NULL);
    const char *v;
    static const char *const names[] = {"a", "from", "", "x y", "=&"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (vx_http_request_query(req, names[i], &v) == VX_OK)
            CHECK(strlen(v) <= strlen(vx_http_request_query_string(req)));
    for (size_t i = 0; i < vx_http_request_header_count(req); i++) {
        const char *name, *value;
        vx_http_request_header_at(req, i, &name, &value);
        CHECK(vx_http_request_header(req, name) != NULL);
    }
    CHECK(strlen(vx_http_request_id(req)) > 0 && strlen(vx_http_request_id(req)) <= 128);
    size_t path_len;
    vx_http_request_path(req, &path_len);
    if ((path_len + current->mode) & 4)
        current->pending = req;
    else
        answer(req);
}

static void answer_pending(void)
{
    vx_http_request *req = current->pending;
    current->pending = NULL;
    if (req)
        answer(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static http_shared shared;
    shared.cfg = (vx_http_config){.handler = handler,
                                  .max_header_bytes = 4096,
                                  .max_url_bytes = 1024,
                                  .max_body_bytes = 8192,
                                  .request_timeout_ms = 1000,
                                  .idle_timeout_ms = 5000,
                                  .max_connections = 1};
    http_loop loop = {.shared = &shared, .uv = NULL, .now_ms = 1};
    harness h = {.mode = data[0]};
    current = &h;
    size_t chunk = (size_t)(data[1] % 64) + 1;
    data += 2;
    size -= 2;

    http_conn *c = &h.conn;
    http_conn_init(c, &loop, &fuzz_io);
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        http_conn_feed(c, (const char *)data + off, n);
        answer_pending();
        loop.now_ms += 100;
        http_conn_tick(c, loop.now_ms);
    }
    if (h.mode & 8)
        http_conn_eof(c);
    if (h.mode & 16) {
        http_conn_detach(c); /* the client vanished: a pending answer is dropped */
        answer_pending();
    } else {
        answer_pending();
        http_conn_detach(c);
    }
    vx_buf_cleanup(&c->in);
    CHECK(loop.live == NULL);
    /* One answer per dispatched request, plus at most one error from the server. */
    CHECK(h.responses <= h.dispatched + 1);
    current = NULL;
    return 0;
}
