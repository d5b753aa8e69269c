/* Lifecycle of the HTTP server: N loops, each on its own thread with its own SO_REUSEPORT
 * listening socket on the shared port (the kernel spreads connections), the cross-thread
 * answer queue, drain, stats, destroy. */
#define _DEFAULT_SOURCE /* SO_REUSEPORT and SOCK_CLOEXEC in <sys/socket.h> */
#include "http_internal.h"

#include "vx/alloc.h"
#include "vx/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { CMD_DRAIN = 1, CMD_CLOSE_ALL = 2, CMD_STOP = 4 };

struct vx_http_server {
    http_shared shared;
    unsigned n_loops;
    int port;
    http_loop *loops;
};

uint64_t http_loop_now(const http_loop *l)
{
    return l->uv ? uv_now(l->uv) : l->now_ms;
}

bool http_on_loop_thread(const http_loop *l)
{
    if (!l->uv)
        return true;
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &l->thread) != 0;
}

void http_loop_post(http_loop *l, vx_http_request *req)
{
    if (http_on_loop_thread(l)) {
        http_request_done(req);
        return;
    }
    req->queue_next = NULL;
    uv_mutex_lock(&l->queue_mutex);
    if (l->queue_tail)
        l->queue_tail->queue_next = req;
    else
        l->queue_head = req;
    l->queue_tail = req;
    uv_mutex_unlock(&l->queue_mutex);
    uv_async_send(&l->answer_async);
}

static void on_answers(uv_async_t *async)
{
    http_loop *l = async->data;
    uv_mutex_lock(&l->queue_mutex);
    vx_http_request *req = l->queue_head;
    l->queue_head = l->queue_tail = NULL;
    uv_mutex_unlock(&l->queue_mutex);
    while (req) {
        vx_http_request *next = req->queue_next;
        http_request_done(req);
        req = next;
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    http_loop *l = listener->data;
    if (status < 0 || l->stopping || atomic_load(&l->shared->draining))
        return;
    http_conn_accept(l);
}

static void on_sweep(uv_timer_t *timer)
{
    http_loop *l = timer->data;
    uint64_t now = uv_now(l->uv);
    for (http_conn *c = l->conns, *next; c; c = next) {
        next = c->next;
        http_conn_sweep(c, now);
    }
}

static void close_listener(http_loop *l)
{
    if (!l->listening)
        return;
    l->listening = false;
    uv_close((uv_handle_t *)&l->listener, NULL);
}

static void close_leftover(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

static void on_command(uv_async_t *async)
{
    http_loop *l = async->data;
    int cmd = atomic_exchange(&l->command, 0);
    if (cmd & CMD_DRAIN) {
        close_listener(l);
        for (http_conn *c = l->conns, *next; c; c = next) {
            next = c->next;
            http_conn_drain(c);
        }
    }
    if (cmd & (CMD_CLOSE_ALL | CMD_STOP))
        for (http_conn *c = l->conns; c; c = c->next)
            http_conn_close(c);
    if (cmd & CMD_STOP) {
        l->stopping = true;
        const vx_http_config *cfg = &l->shared->cfg;
        if (cfg->on_loop_stop)
            cfg->on_loop_stop(cfg->handler_ctx, l->index, l->uv);
        close_listener(l);
        uv_close((uv_handle_t *)&l->sweep_timer, NULL);
        uv_close((uv_handle_t *)&l->answer_async, NULL);
        uv_close((uv_handle_t *)&l->command_async, NULL);
        /* Last resort for handles a caller left open: uv_run would never return. */
        uv_walk(l->uv, close_leftover, NULL);
    }
}

static void send_command(http_loop *l, int cmd)
{
    atomic_fetch_or(&l->command, cmd);
    uv_async_send(&l->command_async);
}

static void run_loop(void *arg)
{
    http_loop *l = arg;
    l->thread = uv_thread_self();
    const vx_http_config *cfg = &l->shared->cfg;
    if (cfg->on_loop_start)
        cfg->on_loop_start(cfg->handler_ctx, l->index, l->uv);
    uv_run(l->uv, UV_RUN_DEFAULT);
}

/* A listening socket that shares its port with the other loops' sockets (when `share`). */
static int open_socket(const struct sockaddr *sa, socklen_t len, bool share)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (share && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        bind(fd, sa, len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static uint32_t sweep_interval_ms(const vx_http_config *cfg)
{
    uint32_t t = cfg->request_timeout_ms < cfg->idle_timeout_ms ? cfg->request_timeout_ms
                                                                : cfg->idle_timeout_ms;
    t /= 4;
    return t < 5 ? 5 : t > 1000 ? 1000 : t;
}

/* Sets up loop i on the caller's thread; its own thread starts later. */
static vx_status init_loop(vx_http_server *s, unsigned i, struct sockaddr *sa, socklen_t len)
{
    http_loop *l = &s->loops[i];
    l->shared = &s->shared;
    l->server = s;
    l->index = i;
    l->uv = &l->uv_storage;
    atomic_init(&l->command, 0);
    if (uv_loop_init(l->uv) != 0) {
        l->uv = NULL;
        return VX_INTERNAL;
    }
    uv_mutex_init(&l->queue_mutex);
    uv_async_init(l->uv, &l->answer_async, on_answers);
    l->answer_async.data = l;
    uv_async_init(l->uv, &l->command_async, on_command);
    l->command_async.data = l;
    uv_timer_init(l->uv, &l->sweep_timer);
    l->sweep_timer.data = l;
    uint32_t every = sweep_interval_ms(&s->shared.cfg);
    uv_timer_start(&l->sweep_timer, on_sweep, every, every);

    int fd = open_socket(sa, len, !s->shared.cfg.exclusive_port);
    if (fd < 0)
        return VX_IO;
    uv_tcp_init(l->uv, &l->listener);
    l->listener.data = l;
    l->listening = true;
    if (uv_tcp_open(&l->listener, fd) != 0) {
        close(fd);
        return VX_IO;
    }
    if (uv_listen((uv_stream_t *)&l->listener, s->shared.cfg.backlog, on_connection) != 0)
        return VX_IO;
    if (i == 0) {
        struct sockaddr_storage bound;
        int bound_len = sizeof bound;
        if (uv_tcp_getsockname(&l->listener, (struct sockaddr *)&bound, &bound_len) != 0)
            return VX_IO;
        s->port =
            ntohs(bound.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((const struct sockaddr_in *)&bound)->sin_port);
        /* The other loops bind the port actually chosen. */
        if (sa->sa_family == AF_INET6)
            ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)s->port);
        else
            ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)s->port);
    }
    return VX_OK;
}

/* Frees a loop whose thread has ended (or never started). */
static void cleanup_loop(http_loop *l)
{
    if (!l->uv)
        return;
    if (!l->stopping) { /* never ran: close what init_loop opened */
        l->stopping = true;
        uv_walk(l->uv, close_leftover, NULL);
        uv_run(l->uv, UV_RUN_DEFAULT);
    }
    while (l->live) /* never answered, or answered into a queue nobody read */
        http_request_free(l->live);
    uv_loop_close(l->uv);
    uv_mutex_destroy(&l->queue_mutex);
}

static vx_status fill_config(const vx_http_config *in, vx_http_config *cfg)
{
    if (!in || !in->host || !in->handler || in->port < 0 || in->port > 65535 || in->backlog < 0 ||
        (in->exclusive_port && in->loops != 1))
        return VX_INVALID;
    *cfg = *in;
    cfg->host = NULL; /* not kept */
    if (!cfg->loops) {
        cfg->loops = uv_available_parallelism();
        if (!cfg->loops)
            cfg->loops = 1;
    }
    if (!cfg->max_header_bytes)
        cfg->max_header_bytes = HTTP_DEFAULT_MAX_HEADER_BYTES;
    if (!cfg->max_url_bytes)
        cfg->max_url_bytes = cfg->max_header_bytes;
    if (!cfg->max_body_bytes)
        cfg->max_body_bytes = HTTP_DEFAULT_MAX_BODY_BYTES;
    if (!cfg->request_timeout_ms)
        cfg->request_timeout_ms = HTTP_DEFAULT_REQUEST_TIMEOUT_MS;
    if (!cfg->idle_timeout_ms)
        cfg->idle_timeout_ms = HTTP_DEFAULT_IDLE_TIMEOUT_MS;
    if (!cfg->max_connections)
        cfg->max_connections = HTTP_DEFAULT_MAX_CONNECTIONS;
    if (!cfg->backlog)
        cfg->backlog = HTTP_DEFAULT_BACKLOG;
    return VX_OK;
}

vx_status vx_http_server_create(const vx_http_config *cfg, vx_http_server **out)
{
    vx_http_config c;
    if (!out || fill_config(cfg, &c) != VX_OK)
        return VX_INVALID;
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } addr;
    memset(&addr, 0, sizeof addr);
    socklen_t addr_len = sizeof addr.in4;
    if (uv_ip4_addr(cfg->host, cfg->port, &addr.in4) != 0) {
        if (uv_ip6_addr(cfg->host, cfg->port, &addr.in6) != 0)
            return VX_INVALID;
        addr_len = sizeof addr.in6;
    }

    vx_http_server *s = vx_xcalloc(1, sizeof *s);
    s->shared.cfg = c;
    atomic_init(&s->shared.draining, false);
    s->n_loops = c.loops;
    s->loops = vx_xcalloc(c.loops, sizeof *s->loops);
    vx_status st = VX_OK;
    unsigned started = 0;
    for (unsigned i = 0; i < s->n_loops && st == VX_OK; i++)
        st = init_loop(s, i, &addr.sa, addr_len);
    if (st != VX_OK)
        goto fail;

    /* Loop threads get every signal blocked: signals belong to the service's main thread, and a
     * SIGPIPE from a write to a vanished client stays pending there harmlessly. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (; started < s->n_loops; started++)
        if (uv_thread_create(&s->loops[started].thread_handle, run_loop, &s->loops[started]))
            break;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started < s->n_loops) {
        st = VX_INTERNAL;
        goto fail;
    }
    *out = s;
    return VX_OK;

fail:
    for (unsigned i = 0; i < started; i++) {
        send_command(&s->loops[i], CMD_STOP);
        uv_thread_join(&s->loops[i].thread_handle);
    }
    for (unsigned i = 0; i < s->n_loops; i++)
        cleanup_loop(&s->loops[i]);
    vx_free(s->loops);
    vx_free(s);
    return st;
}

int vx_http_server_port(const vx_http_server *s)
{
    return s->port;
}

unsigned vx_http_server_loops(const vx_http_server *s)
{
    return s->n_loops;
}

void vx_http_server_stats(const vx_http_server *s, vx_http_stats *out)
{
    const http_shared *sh = &s->shared;
    out->connections_open = atomic_load(&sh->conns_open);
    out->requests_in_flight = atomic_load(&sh->in_flight);
    out->requests_total = atomic_load(&sh->requests_total);
    out->rejected_connections = atomic_load(&sh->rejected_conns);
    out->rejected_requests = atomic_load(&sh->rejected_requests);
    out->bad_requests = atomic_load(&sh->bad_requests);
}

static bool settled(const vx_http_server *s)
{
    return atomic_load(&s->shared.conns_open) == 0 && atomic_load(&s->shared.in_flight) == 0;
}

vx_status vx_http_server_drain(vx_http_server *s, int64_t timeout_ms)
{
    atomic_store(&s->shared.draining, true);
    for (unsigned i = 0; i < s->n_loops; i++)
        send_command(&s->loops[i], CMD_DRAIN);
    int64_t deadline = vx_mono_ms() + timeout_ms;
    while (!settled(s) && vx_mono_ms() < deadline)
        vx_sleep_ms(5);
    if (settled(s))
        return VX_OK;
    for (unsigned i = 0; i < s->n_loops; i++)
        send_command(&s->loops[i], CMD_CLOSE_ALL);
    return VX_TIMEOUT;
}

void vx_http_server_destroy(vx_http_server *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->n_loops; i++)
        send_command(&s->loops[i], CMD_STOP);
    for (unsigned i = 0; i < s->n_loops; i++)
        uv_thread_join(&s->loops[i].thread_handle);
    for (unsigned i = 0; i < s->n_loops; i++)
        cleanup_loop(&s->loops[i]);
    vx_free(s->loops);
    vx_free(s);
}
