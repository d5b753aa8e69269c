/* The fake LLM provider: plain sockets, a thread per connection, a self-pipe to stop them all,
 * and answers in the OpenAI-compatible or Anthropic shape chosen by the request path. */
#include "fake_llm.h"

#include "vx/alloc.h"
#include "vx/buf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REQUEST (4 * 1024 * 1024)
#define QUEUE_MAX 64

const char fake_llm_default_content[] =
    "{\"summary\":\"Spend rose 20% on the previous period, driven by compute.\","
    "\"findings\":[\"Compute grew by 400.00 USD.\"],"
    "\"recommendations\":[{\"action\":\"Right-size idle instances\",\"target\":\"Compute\","
    "\"estimated_monthly_savings\":120.5,\"priority\":\"high\",\"confidence\":0.7}]}";

typedef struct conn {
    fake_llm *f;
    int fd;
    pthread_t thread;
    atomic_bool done;
    struct conn *next;
} conn;

struct fake_llm {
    int listen_fd;
    int port;
    int stop_rd, stop_wr;
    pthread_t accept_thread;
    pthread_mutex_t mu; /* everything below */
    fake_llm_mode mode;
    fake_llm_mode queue[QUEUE_MAX];
    size_t q_head, q_len;
    int64_t latency_ms;
    char *content;
    char *retry_after;
    char *expected_key;
    uint64_t usage_in, usage_out;
    char *last_body;
    char *last_headers;
    conn *conns;
    atomic_uint_fast64_t requests;
    atomic_uint_fast64_t connections;
};

static const char *const mode_names[] = {"good",   "429", "500", "hang",
                                         "broken", "401", "400", "close"};

const char *fake_llm_mode_name(fake_llm_mode mode)
{
    return (unsigned)mode < sizeof mode_names / sizeof mode_names[0] ? mode_names[mode] : "?";
}

bool fake_llm_mode_parse(const char *s, fake_llm_mode *out)
{
    for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++) {
        if (strcmp(s, mode_names[i]) == 0) {
            *out = (fake_llm_mode)i;
            return true;
        }
    }
    return false;
}

/* Waits until fd is readable (1), the timeout passes (0, timeout_ms < 0: never) or the server
 * is stopping (-1). */
static int wait_readable(fake_llm *f, int fd, int64_t timeout_ms)
{
    struct pollfd p[2] = {{.fd = f->stop_rd, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    int n = fd >= 0 ? 2 : 1;
    for (;;) {
        int r = poll(p, (nfds_t)n, timeout_ms < 0 ? -1 : (int)timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (p[0].revents & POLLIN))
            return -1;
        if (r == 0)
            return 0;
        return 1;
    }
}

static bool send_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

static bool header_value(const char *headers, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    for (const char *line = strstr(headers, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, nlen) == 0 && h[nlen] == ':') {
            const char *v = h + nlen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *end = strstr(v, "\r\n");
            size_t len = end ? (size_t)(end - v) : strlen(v);
            if (len >= cap)
                len = cap - 1;
            memcpy(out, v, len);
            out[len] = '\0';
            return true;
        }
    }
    return false;
}

static fake_llm_mode next_mode(fake_llm *f)
{
    pthread_mutex_lock(&f->mu);
    fake_llm_mode m = f->mode;
    if (f->q_len) {
        m = f->queue[f->q_head];
        f->q_head = (f->q_head + 1) % QUEUE_MAX;
        f->q_len--;
    }
    pthread_mutex_unlock(&f->mu);
    return m;
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char *copy = vx_xstrdup(s ? s : "{}");
    free(s);
    return copy;
}

static char *error_body(bool anthropic, const char *type, const char *message)
{
    if (anthropic)
        return dump(json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type", type,
                              "message", message));
    return dump(
        json_pack("{s:{s:s, s:s, s:s}}", "error", "message", message, "type", type, "code", type));
}

static char *answer_body(bool anthropic, const char *content, uint64_t in, uint64_t out)
{
    if (anthropic)
        return dump(json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s}], s:s, s:{s:I, s:I}}", "id",
                              "msg_fake", "type", "message", "role", "assistant", "model", "fake",
                              "content", "type", "text", "text", content, "stop_reason", "end_turn",
                              "usage", "input_tokens", (json_int_t)in, "output_tokens",
                              (json_int_t)out));
    return dump(json_pack("{s:s, s:s, s:s, s:[{s:i, s:{s:s, s:s}, s:s}], s:{s:I, s:I, s:I}}", "id",
                          "chatcmpl-fake", "object", "chat.completion", "model", "fake", "choices",
                          "index", 0, "message", "role", "assistant", "content", content,
                          "finish_reason", "stop", "usage", "prompt_tokens", (json_int_t)in,
                          "completion_tokens", (json_int_t)out, "total_tokens",
                          (json_int_t)(in + out)));
}

static bool respond(int fd, int status, const char *reason, const char *extra_header,
                    const char *body)
{
    vx_buf b;
    vx_buf_init(&b);
    vx_buf_printf(&b,
                  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                  "Connection: keep-alive\r\n%s\r\n%s",
                  status, reason, strlen(body), extra_header ? extra_header : "", body);
    bool ok = send_all(fd, b.data, b.len);
    vx_buf_cleanup(&b);
    return ok;
}

/* Sends the answer `mode` calls for; false to close the connection. */
static bool answer(conn *c, fake_llm_mode mode, bool openai, bool anthropic, const char *key,
                   const char *content, const char *retry_after, uint64_t in, uint64_t out)
{
    fake_llm *f = c->f;
    char *resp = NULL;
    bool keep = true;
    if (!openai && !anthropic) {
        resp = error_body(false, "not_found", "unknown path");
        keep = respond(c->fd, 404, "Not Found", NULL, resp);
    } else if (mode == FAKE_LLM_HANG) {
        /* Hold the request until the client gives up (it closes) or the server stops. */
        char sink[4096];
        while (wait_readable(f, c->fd, -1) == 1 && recv(c->fd, sink, sizeof sink, 0) > 0) {
        }
        keep = false;
    } else if (mode == FAKE_LLM_CLOSE) {
        keep = false; /* the request was read; the connection closes without a byte back */
    } else if (mode == FAKE_LLM_RATE_LIMIT) {
        char header[128] = "";
        if (retry_after)
            snprintf(header, sizeof header, "Retry-After: %s\r\n", retry_after);
        resp = error_body(anthropic, "rate_limit_error", "Rate limit reached, slow down");
        keep = respond(c->fd, 429, "Too Many Requests", header, resp);
    } else if (mode == FAKE_LLM_ERROR_500) {
        resp = error_body(anthropic, "server_error", "The server had an error");
        keep = respond(c->fd, 500, "Internal Server Error", NULL, resp);
    } else if (mode == FAKE_LLM_UNAUTHORIZED) {
        char *msg = vx_xasprintf("Incorrect API key provided: %s", key);
        resp = error_body(anthropic, anthropic ? "authentication_error" : "invalid_api_key", msg);
        vx_free(msg);
        keep = respond(c->fd, 401, "Unauthorized", NULL, resp);
    } else if (mode == FAKE_LLM_BAD_REQUEST) {
        resp = error_body(anthropic, "invalid_request_error", "The model does not exist");
        keep = respond(c->fd, 400, "Bad Request", NULL, resp);
    } else {
        resp = answer_body(
            anthropic, mode == FAKE_LLM_BROKEN ? "{\"summary\": \"Spend rose, driven by" : content,
            in, out);
        keep = respond(c->fd, 200, "OK", NULL, resp);
    }
    vx_free(resp);
    return keep;
}

/* Answers one request; false to close the connection. */
static bool handle(conn *c, const char *head, const char *body)
{
    fake_llm *f = c->f;
    char path[512] = "";
    sscanf(head, "%*s %511s", path);
    size_t plen = strlen(path);
    bool openai = plen >= 17 && strcmp(path + plen - 17, "/chat/completions") == 0;
    bool anthropic = plen >= 9 && strcmp(path + plen - 9, "/messages") == 0;
    pthread_mutex_lock(&f->mu);
    vx_free(f->last_body);
    vx_free(f->last_headers);
    f->last_body = vx_xstrdup(body);
    f->last_headers = vx_xstrdup(head);
    int64_t latency = f->latency_ms;
    char *content = vx_xstrdup(f->content ? f->content : fake_llm_default_content);
    char *retry_after = f->retry_after ? vx_xstrdup(f->retry_after) : NULL;
    char *expected = f->expected_key ? vx_xstrdup(f->expected_key) : NULL;
    uint64_t in = f->usage_in, out = f->usage_out;
    pthread_mutex_unlock(&f->mu);
    atomic_fetch_add(&f->requests, 1);

    fake_llm_mode mode = next_mode(f);
    bool keep = true;
    if (latency > 0 && wait_readable(f, -1, latency) < 0)
        keep = false;
    char key[1024] = "";
    if (anthropic)
        header_value(head, "x-api-key", key, sizeof key);
    else if (header_value(head, "authorization", key, sizeof key) &&
             strncmp(key, "Bearer ", 7) == 0)
        memmove(key, key + 7, strlen(key + 7) + 1);
    if (expected && strcmp(key, expected) != 0)
        mode = FAKE_LLM_UNAUTHORIZED;

    if (keep) /* else stopping during the latency: no answer */
        keep = answer(c, mode, openai, anthropic, key, content, retry_after, in, out);
    vx_free(content);
    vx_free(retry_after);
    vx_free(expected);
    return keep;
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    fake_llm *f = c->f;
    vx_buf in;
    vx_buf_init(&in);
    for (;;) {
        /* Read the head. */
        char *end = NULL;
        while (!(in.data && (end = strstr(in.data, "\r\n\r\n")))) {
            if (in.len > MAX_REQUEST || wait_readable(f, c->fd, -1) != 1)
                goto done;
            char buf[8192];
            ssize_t n = recv(c->fd, buf, sizeof buf, 0);
            if (n <= 0)
                goto done;
            vx_buf_append(&in, buf, (size_t)n);
        }
        size_t head_len = (size_t)(end - in.data) + 4;
        char *head = vx_xstrndup(in.data, head_len);
        char value[64];
        size_t body_len = 0;
        if (header_value(head, "content-length", value, sizeof value))
            body_len = (size_t)strtoull(value, NULL, 10);
        if (body_len > MAX_REQUEST) {
            vx_free(head);
            goto done;
        }
        if (header_value(head, "expect", value, sizeof value) &&
            strcasecmp(value, "100-continue") == 0)
            send_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        while (in.len < head_len + body_len) {
            char buf[8192];
            if (wait_readable(f, c->fd, -1) != 1) {
                vx_free(head);
                goto done;
            }
            ssize_t n = recv(c->fd, buf, sizeof buf, 0);
            if (n <= 0) {
                vx_free(head);
                goto done;
            }
            vx_buf_append(&in, buf, (size_t)n);
        }
        char *body = vx_xstrndup(in.data + head_len, body_len);
        /* Keep what follows (a pipelined request) for the next round. */
        size_t rest = in.len - head_len - body_len;
        memmove(in.data, in.data + head_len + body_len, rest);
        in.len = rest;
        in.data[rest] = '\0';
        bool keep = handle(c, head, body);
        vx_free(head);
        vx_free(body);
        if (!keep)
            break;
    }
done:
    vx_buf_cleanup(&in);
    close(c->fd);
    c->fd = -1;
    atomic_store(&c->done, true);
    return NULL;
}

/* Joins the connections that have finished (all of them when `all`). */
static void reap(fake_llm *f, bool all)
{
    pthread_mutex_lock(&f->mu);
    conn **pp = &f->conns;
    while (*pp) {
        conn *c = *pp;
        if (all || atomic_load(&c->done)) {
            *pp = c->next;
            pthread_mutex_unlock(&f->mu);
            pthread_join(c->thread, NULL);
            vx_free(c);
            pthread_mutex_lock(&f->mu);
        } else {
            pp = &c->next;
        }
    }
    pthread_mutex_unlock(&f->mu);
}

static void *accept_main(void *arg)
{
    fake_llm *f = arg;
    while (wait_readable(f, f->listen_fd, -1) == 1) {
        int fd = accept(f->listen_fd, NULL, NULL);
        if (fd < 0)
            continue;
        atomic_fetch_add(&f->connections, 1);
        conn *c = vx_xcalloc(1, sizeof *c);
        c->f = f;
        c->fd = fd;
        atomic_init(&c->done, false);
        if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
            close(fd);
            vx_free(c);
            continue;
        }
        pthread_mutex_lock(&f->mu);
        c->next = f->conns;
        f->conns = c;
        pthread_mutex_unlock(&f->mu);
        reap(f, false);
    }
    reap(f, true);
    return NULL;
}

fake_llm *fake_llm_start(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    int fds[2];
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0 || pipe(fds) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return NULL;
    }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    fake_llm *f = vx_xcalloc(1, sizeof *f);
    f->listen_fd = fd;
    f->port = ntohs(a.sin_port);
    f->stop_rd = fds[0];
    f->stop_wr = fds[1];
    pthread_mutex_init(&f->mu, NULL);
    f->mode = FAKE_LLM_GOOD;
    f->usage_in = 1200;
    f->usage_out = 300;
    atomic_init(&f->requests, 0);
    atomic_init(&f->connections, 0);
    if (pthread_create(&f->accept_thread, NULL, accept_main, f) != 0) {
        close(fds[0]);
        close(fds[1]);
        close(fd);
        pthread_mutex_destroy(&f->mu);
        vx_free(f);
        return NULL;
    }
    return f;
}

void fake_llm_stop(fake_llm *f)
{
    if (!f)
        return;
    /* The pipe stays readable, so every thread waiting on it wakes and exits. */
    ssize_t w;
    do
        w = write(f->stop_wr, "x", 1);
    while (w < 0 && errno == EINTR);
    pthread_join(f->accept_thread, NULL);
    close(f->listen_fd);
    close(f->stop_rd);
    close(f->stop_wr);
    pthread_mutex_destroy(&f->mu);
    vx_free(f->content);
    vx_free(f->retry_after);
    vx_free(f->expected_key);
    vx_free(f->last_body);
    vx_free(f->last_headers);
    vx_free(f);
}

int fake_llm_port(const fake_llm *f)
{
    return f->port;
}

void fake_llm_set_mode(fake_llm *f, fake_llm_mode mode)
{
    pthread_mutex_lock(&f->mu);
    f->mode = mode;
    pthread_mutex_unlock(&f->mu);
}

void fake_llm_push_mode(fake_llm *f, fake_llm_mode mode)
{
    pthread_mutex_lock(&f->mu);
    if (f->q_len < QUEUE_MAX) {
        f->queue[(f->q_head + f->q_len) % QUEUE_MAX] = mode;
        f->q_len++;
    }
    pthread_mutex_unlock(&f->mu);
}

void fake_llm_set_latency_ms(fake_llm *f, int64_t ms)
{
    pthread_mutex_lock(&f->mu);
    f->latency_ms = ms;
    pthread_mutex_unlock(&f->mu);
}

static void set_str(fake_llm *f, char **field, const char *value)
{
    pthread_mutex_lock(&f->mu);
    vx_free(*field);
    *field = value ? vx_xstrdup(value) : NULL;
    pthread_mutex_unlock(&f->mu);
}

void fake_llm_set_content(fake_llm *f, const char *content)
{
    set_str(f, &f->content, content);
}

void fake_llm_set_retry_after(fake_llm *f, const char *value)
{
    set_str(f, &f->retry_after, value);
}

void fake_llm_set_expected_key(fake_llm *f, const char *key)
{
    set_str(f, &f->expected_key, key);
}

void fake_llm_set_usage(fake_llm *f, uint64_t input_tokens, uint64_t output_tokens)
{
    pthread_mutex_lock(&f->mu);
    f->usage_in = input_tokens;
    f->usage_out = output_tokens;
    pthread_mutex_unlock(&f->mu);
}

uint64_t fake_llm_requests(const fake_llm *f)
{
    return atomic_load(&f->requests);
}

uint64_t fake_llm_connections(const fake_llm *f)
{
    return atomic_load(&f->connections);
}

static char *copy_field(fake_llm *f, char *const *field)
{
    pthread_mutex_lock(&f->mu);
    char *s = vx_xstrdup(*field ? *field : "");
    pthread_mutex_unlock(&f->mu);
    return s;
}

char *fake_llm_last_body(fake_llm *f)
{
    return copy_field(f, &f->last_body);
}

char *fake_llm_last_headers(fake_llm *f)
{
    return copy_field(f, &f->last_headers);
}
