/* Lifecycle of the ops listener: binds on the caller's thread, then runs a private libuv loop on
 * its own thread until vx_ops_stop wakes it with uv_async_send and joins it. */
#include "ops_internal.h"

#include "vx/alloc.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#define OPS_BACKLOG 128

static void on_connection(uv_stream_t *listener, int status)
{
    vx_ops_server *s = listener->data;
    if (status < 0 || s->stopping)
        return;
    ops_conn_accept(s);
}

/* Closes connections past their deadline: idle keep-alives, slow senders, lingering closes. */
static void on_sweep(uv_timer_t *timer)
{
    vx_ops_server *s = timer->data;
    uint64_t now = uv_now(&s->loop);
    for (ops_conn *c = s->conns; c; c = c->next)
        if (now >= c->deadline_ms)
            ops_conn_close(c);
}

/* Runs on the loop thread: closing every handle lets uv_run return. */
static void on_stop(uv_async_t *async)
{
    vx_ops_server *s = async->data;
    s->stopping = true;
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_close((uv_handle_t *)&s->sweep_timer, NULL);
    uv_close((uv_handle_t *)&s->stop_async, NULL);
    for (ops_conn *c = s->conns; c; c = c->next)
        ops_conn_close(c);
}

static void run_loop(void *arg)
{
    vx_ops_server *s = arg;
    uv_run(&s->loop, UV_RUN_DEFAULT);
}

/* Starts the loop thread with every signal blocked: signals belong to the service's main
 * thread, and a SIGPIPE raised by a write to a vanished client stays pending here harmlessly
 * (the write itself fails with EPIPE). */
static int start_thread(vx_ops_server *s)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = uv_thread_create(&s->thread, run_loop, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

vx_status vx_ops_start(const vx_ops_config *cfg, vx_ops_server **out)
{
    if (!cfg || !out || !cfg->host || cfg->port < 0 || cfg->port > 65535)
        return VX_INVALID;
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } addr;
    memset(&addr, 0, sizeof addr);
    if (uv_ip4_addr(cfg->host, cfg->port, &addr.in4) != 0 &&
        uv_ip6_addr(cfg->host, cfg->port, &addr.in6) != 0)
        return VX_INVALID;

    vx_ops_server *s = vx_xcalloc(1, sizeof *s);
    s->metrics = cfg->metrics;
    s->ready = cfg->ready;
    s->ready_ctx = cfg->ready_ctx;
    s->draining = false;
    ops_conn_settings(&s->settings);

    vx_status st = VX_INTERNAL;
    if (uv_mutex_init(&s->ready_mu) != 0) {
        vx_free(s);
        return st;
    }
    bool loop_open = false, listener_open = false, timer_open = false, async_open = false;
    if (uv_loop_init(&s->loop) != 0)
        goto fail;
    loop_open = true;
    if (uv_tcp_init(&s->loop, &s->listener) != 0)
        goto fail;
    listener_open = true;
    s->listener.data = s;
    st = VX_IO;
    /* EADDRINUSE may surface at bind or only at listen. */
    if (uv_tcp_bind(&s->listener, &addr.sa, 0) != 0 ||
        uv_listen((uv_stream_t *)&s->listener, OPS_BACKLOG, on_connection) != 0)
        goto fail;
    struct sockaddr_storage bound;
    int bound_len = sizeof bound;
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &bound_len) != 0)
        goto fail;
    if (bound.ss_family == AF_INET6)
        s->port = ntohs(((const struct sockaddr_in6 *)&bound)->sin6_port);
    else
        s->port = ntohs(((const struct sockaddr_in *)&bound)->sin_port);

    st = VX_INTERNAL;
    if (uv_timer_init(&s->loop, &s->sweep_timer) != 0)
        goto fail;
    timer_open = true;
    s->sweep_timer.data = s;
    if (uv_timer_start(&s->sweep_timer, on_sweep, OPS_SWEEP_INTERVAL_MS, OPS_SWEEP_INTERVAL_MS))
        goto fail;
    if (uv_async_init(&s->loop, &s->stop_async, on_stop) != 0)
        goto fail;
    async_open = true;
    s->stop_async.data = s;
    if (start_thread(s) != 0)
        goto fail;
    *out = s;
    return VX_OK;

fail:
    if (listener_open)
        uv_close((uv_handle_t *)&s->listener, NULL);
    if (timer_open)
        uv_close((uv_handle_t *)&s->sweep_timer, NULL);
    if (async_open)
        uv_close((uv_handle_t *)&s->stop_async, NULL);
    if (loop_open) {
        uv_run(&s->loop, UV_RUN_DEFAULT); /* runs the close callbacks */
        uv_loop_close(&s->loop);
    }
    uv_mutex_destroy(&s->ready_mu);
    vx_free(s);
    return st;
}

int vx_ops_port(const vx_ops_server *s)
{
    return s->port;
}

void vx_ops_set_draining(vx_ops_server *s)
{
    uv_mutex_lock(&s->ready_mu);
    s->draining = true;
    uv_mutex_unlock(&s->ready_mu);
}

void vx_ops_stop(vx_ops_server *s)
{
    if (!s)
        return;
    uv_async_send(&s->stop_async);
    uv_thread_join(&s->thread);
    /* uv_run returned, so every handle is closed and the loop has nothing left to free. */
    uv_loop_close(&s->loop);
    uv_mutex_destroy(&s->ready_mu);
    vx_free(s);
}
