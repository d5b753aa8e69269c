/* valdrix-forecast: wiring only. Config, logs, metrics and the ops listener, Postgres pool,
 * Redis cache client, NATS; then VX_FORECAST_WORKERS queue-group subscriptions per subject
 * until SIGTERM; then drain (requests in hand are answered) and teardown in reverse order. */
#include "config.h"
#include "service.h"
#include "vx/clock.h"
#include "vx/config.h"
#include "vx/log.h"
#include "vx/ops.h"
#include "vx/retry.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MAX_SUBS 128

/* SIGTERM and SIGINT are blocked in every thread and taken here, so that no library call on
 * another thread is ever interrupted by them. */
static sigset_t stop_signals;
static volatile sig_atomic_t stop_requested;

/* Waits up to ms for a stop signal; true once one has arrived. */
static bool wait_stop(int64_t ms)
{
    if (stop_requested)
        return true;
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    if (sigtimedwait(&stop_signals, NULL, &ts) > 0)
        stop_requested = 1;
    return stop_requested;
}

typedef struct {
    fc_service *svc;
    vx_bus_sub *subs[MAX_SUBS];
    int n_subs;
    /* How far main has got: it sets svc->bus, then subscribes, and then this (release), so
     * that ready() on the ops thread reads svc->bus only once it is written. */
    atomic_int wired;
} app;
enum { WIRED_BUS = 1, WIRED_SERVING };

static bool ready(void *arg, char *why, size_t cap)
{
    app *a = arg;
    int w = atomic_load(&a->wired);
    if (w < WIRED_BUS || !vx_bus_connected(a->svc->bus)) {
        snprintf(why, cap, "nats: not connected");
        return false;
    }
    if (w < WIRED_SERVING) {
        snprintf(why, cap, "nats: not subscribed yet");
        return false;
    }
    if (!atomic_load(&a->svc->pg_ok)) {
        snprintf(why, cap, "postgres: last operation failed");
        return false;
    }
    return true;
}

#define RETRY_UNTIL_OK(what, call) VX_RETRY_UNTIL_OK(what, call, err, wait_stop)

static vx_status connect_bus(const fc_config *cfg, vx_bus **bus, char *err, size_t cap)
{
    vx_bus_config bc = {
        .url = cfg->nats_url, .name = "valdrix-forecast", .timeout_ms = 5000, .send_asap = true};
    snprintf(err, cap, "cannot reach NATS");
    return vx_bus_connect(&bc, bus);
}

static vx_status check_pg(fc_service *svc, char *err, size_t cap)
{
    PGconn *c;
    vx_status st = vx_pg_acquire(svc->pool, &c);
    if (st != VX_OK) {
        vx_pg_pool_last_error(svc->pool, err, cap);
        return st;
    }
    vx_pg_release(svc->pool, c, false);
    atomic_store(&svc->pg_ok, true);
    return VX_OK;
}

static vx_status subscribe(app *a, char *err, size_t cap)
{
    const fc_config *cfg = a->svc->cfg;
    char subject[2][160];
    snprintf(subject[0], sizeof subject[0], "%s.run", cfg->subject);
    snprintf(subject[1], sizeof subject[1], "%s.anomalies", cfg->subject);
    vx_bus_handler fn[2] = {fc_handle_run, fc_handle_anomalies};
    /* Each subscription has its own delivery thread in nats.c: several per subject let one
     * replica work on several requests at once, and the queue group spreads them over
     * replicas. */
    while (a->n_subs < 2 * cfg->workers) {
        int k = a->n_subs % 2;
        vx_status st =
            vx_bus_serve(a->svc->bus, subject[k], cfg->queue, fn[k], a->svc, &a->subs[a->n_subs]);
        if (st != VX_OK) {
            snprintf(err, cap, "cannot subscribe to %s", subject[k]);
            return st;
        }
        a->n_subs++;
    }
    atomic_store(&a->wired, WIRED_SERVING);
    return VX_OK;
}

static void *drain_one(void *arg)
{
    vx_bus_sub_destroy(arg);
    return NULL;
}

/* Drains every subscription at once: none takes new requests, each answers what it holds. */
static void drain(app *a)
{
    pthread_t t[MAX_SUBS];
    bool started[MAX_SUBS] = {false};
    for (int i = 0; i < a->n_subs; i++)
        started[i] = pthread_create(&t[i], NULL, drain_one, a->subs[i]) == 0;
    for (int i = 0; i < a->n_subs; i++) {
        if (started[i])
            pthread_join(t[i], NULL);
        else
            vx_bus_sub_destroy(a->subs[i]);
    }
    a->n_subs = 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fc_config_usage();
            return 0;
        }
        fprintf(stderr, "valdrix-forecast: unknown argument %s (try --help)\n", argv[i]);
        return 2;
    }
    fc_config cfg;
    fc_config_load(&cfg);
    vx_log_init("forecast", cfg.log_level);

    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN); /* hiredis and libpq write to sockets the peer may have closed */

    int rc = 1;
    char err[512] = "";
    fc_service svc = {.cfg = &cfg};
    atomic_init(&svc.pg_ok, false);
    app a = {.svc = &svc};
    atomic_init(&a.wired, 0);
    vx_metrics *metrics = vx_metrics_create();
    fc_metrics_register(&svc.m, metrics);
    vx_ops_server *ops = NULL;
    vx_ops_config oc = {.host = cfg.ops_host,
                        .port = cfg.ops_port,
                        .metrics = metrics,
                        .ready = ready,
                        .ready_ctx = &a};
    if (vx_ops_start(&oc, &ops) != VX_OK) {
        vx_log(VX_LOG_ERROR, "cannot listen for /metrics", VX_STR("host", cfg.ops_host),
               VX_INT("port", cfg.ops_port));
        goto shutdown;
    }
    vx_pg_config pc = cfg.pg;
    pc.application_name = "valdrix-forecast";
    if (vx_pg_pool_create(&pc, &svc.pool) != VX_OK) {
        vx_logm(VX_LOG_ERROR, "bad Postgres configuration (VX_PG_DSN)");
        goto shutdown;
    }
    vx_metrics_gauge_fn(metrics, "valdrix_forecast_pool_in_use", "Postgres connections checked out",
                        NULL, vx_pg_gauge_in_use, svc.pool);
    vx_redis_config rc_cfg;
    vx_redis_config_init(&rc_cfg);
    rc_cfg.url = cfg.redis_url;
    rc_cfg.pool_size = 2 * cfg.workers;
    rc_cfg.command_timeout_ms = cfg.redis_timeout_ms;
    rc_cfg.metrics_prefix = "valdrix_forecast";
    rc_cfg.metrics = metrics;
    if (vx_redis_create(&rc_cfg, &svc.redis, err, sizeof err) != VX_OK) {
        vx_log(VX_LOG_ERROR, "bad Redis configuration (VX_REDIS_URL)", VX_STR("error", err));
        goto shutdown;
    }
    char redacted[256];
    vx_redact_url(cfg.nats_url, redacted, sizeof redacted);
    vx_log(VX_LOG_INFO, "starting", VX_STR("nats", redacted), VX_INT("ops_port", vx_ops_port(ops)),
           VX_STR("subject", cfg.subject), VX_STR("queue", cfg.queue),
           VX_INT("workers", cfg.workers), VX_INT("fit_threads", cfg.fit_threads),
           VX_INT("max_input", cfg.max_input));

    RETRY_UNTIL_OK("nats connect", connect_bus(&cfg, &svc.bus, err, sizeof err));
    atomic_store(&a.wired, WIRED_BUS);
    RETRY_UNTIL_OK("postgres check", check_pg(&svc, err, sizeof err));
    RETRY_UNTIL_OK("subscribe", subscribe(&a, err, sizeof err));
    vx_log(VX_LOG_INFO, "ready", VX_INT("subscriptions", a.n_subs));

    while (!wait_stop(1000)) {
    }
    rc = 0;
shutdown:
    vx_logm(VX_LOG_INFO, "shutting down: answering the requests in hand");
    if (ops)
        vx_ops_set_draining(ops);
    drain(&a);
    vx_bus_destroy(svc.bus);
    vx_ops_stop(ops); /* before the pool: its gauge reads the pool */
    vx_redis_destroy(svc.redis);
    vx_pg_pool_destroy(svc.pool);
    vx_metrics_destroy(metrics);
    vx_logm(VX_LOG_INFO, "stopped");
    return stop_requested ? 0 : rc;
}
