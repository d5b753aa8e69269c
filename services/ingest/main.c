/* valdrix-ingest: wiring only. Config, logs, metrics and the ops listener, Postgres pool, NATS
 * streams and the durable consumer; then the ingest loop until SIGTERM; then teardown in
 * reverse order. */
#include "config.h"
#include "ingest.h"
#include "vx/clock.h"
#include "vx/config.h"
#include "vx/log.h"
#include "vx/ops.h"
#include "vx/retry.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static atomic_int stop_requested; /* set by on_signal, on whichever thread takes it */

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* How far main has got: it sets ctx->bus, then ctx->consumer, and then this (release), so that
 * ready() on the ops thread reads each only once it is written. */
static atomic_int wired;
enum { WIRED_BUS = 1, WIRED_CONSUMER };

static bool ready(void *arg, char *why, size_t cap)
{
    ingest_ctx *ctx = arg;
    int w = atomic_load(&wired);
    if (w < WIRED_BUS || !vx_bus_connected(ctx->bus)) {
        snprintf(why, cap, "nats: not connected");
        return false;
    }
    if (w < WIRED_CONSUMER) {
        snprintf(why, cap, "nats: consumer not bound yet");
        return false;
    }
    if (!atomic_load(&ctx->pg_ok)) {
        snprintf(why, cap, "postgres: last operation failed");
        return false;
    }
    return true;
}

static bool wait_stop(int64_t ms)
{
    return vx_sleep_unless(ms, &stop_requested);
}

#define RETRY_UNTIL_OK(what, call) VX_RETRY_UNTIL_OK(what, call, err, wait_stop)

static vx_status connect_bus(const ingest_config *cfg, vx_bus **bus, char *err, size_t cap)
{
    vx_bus_config bc = {.url = cfg->nats_url, .name = "valdrix-ingest", .timeout_ms = 5000};
    snprintf(err, cap, "cannot reach %s", cfg->nats_url);
    return vx_bus_connect(&bc, bus);
}

static vx_status setup_streams(ingest_ctx *ctx, char *err, size_t cap)
{
    const ingest_config *cfg = ctx->cfg;
    char subjects[256];
    snprintf(subjects, sizeof subjects, "%s.>", cfg->subject_prefix);
    vx_stream_config events = {
        .name = cfg->stream, .subjects = subjects, .duplicate_window_ms = cfg->duplicate_window_ms};
    vx_status st = vx_bus_ensure_stream(ctx->bus, &events, err, cap);
    if (st != VX_OK)
        return st;
    char dlq_subjects[256];
    snprintf(dlq_subjects, sizeof dlq_subjects, "%s.>", cfg->dlq_prefix);
    vx_stream_config dlq = {.name = cfg->dlq_stream,
                            .subjects = dlq_subjects,
                            .duplicate_window_ms = cfg->duplicate_window_ms};
    st = vx_bus_ensure_stream(ctx->bus, &dlq, err, cap);
    if (st != VX_OK)
        return st;
    vx_consumer_config cc = {.stream = cfg->stream,
                             .durable = cfg->durable,
                             .ack_wait_ms = cfg->ack_wait_ms,
                             .max_ack_pending = cfg->max_ack_pending};
    snprintf(err, cap, "cannot bind consumer %s on %s", cfg->durable, cfg->stream);
    return vx_bus_consumer_create(ctx->bus, &cc, &ctx->consumer);
}

static vx_status partitions_ahead(ingest_ctx *ctx, char *err, size_t cap)
{
    PGconn *c;
    vx_status st = vx_pg_acquire(ctx->pool, &c);
    if (st != VX_OK) {
        snprintf(err, cap, "postgres unreachable");
        return st;
    }
    st = vx_ledger_ensure_months_ahead(ctx->ledger, c, vx_wall_ms() / 1000, ctx->cfg->months_ahead,
                                       err, cap);
    vx_pg_release(ctx->pool, c, st != VX_OK);
    atomic_store(&ctx->pg_ok, st == VX_OK);
    return st;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            ingest_config_usage();
            return 0;
        }
        fprintf(stderr, "valdrix-ingest: unknown argument %s (try --help)\n", argv[i]);
        return 2;
    }
    /* Batches allocate and free buffers of several MiB each time; keep glibc from handing them
     * back to the kernel (and faulting them in again) on every batch. */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
    ingest_config cfg;
    ingest_config_load(&cfg);
    vx_log_init("ingest", cfg.log_level);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    char err[512] = "";
    ingest_ctx ctx = {.cfg = &cfg, .stop = &stop_requested};
    atomic_init(&ctx.pg_ok, false);
    vx_metrics *metrics = vx_metrics_create();
    ingest_metrics_register(&ctx.m, metrics);
    vx_ops_server *ops = NULL;
    vx_ops_config oc = {.host = cfg.ops_host,
                        .port = cfg.ops_port,
                        .metrics = metrics,
                        .ready = ready,
                        .ready_ctx = &ctx};
    if (vx_ops_start(&oc, &ops) != VX_OK) {
        vx_log(VX_LOG_ERROR, "cannot listen for /metrics", VX_STR("host", cfg.ops_host),
               VX_INT("port", cfg.ops_port));
        goto shutdown;
    }
    vx_pg_config pc = cfg.pg;
    pc.application_name = "valdrix-ingest";
    if (vx_pg_pool_create(&pc, &ctx.pool) != VX_OK) {
        vx_logm(VX_LOG_ERROR, "bad Postgres configuration (VX_PG_DSN)");
        goto shutdown;
    }
    vx_metrics_gauge_fn(metrics, "valdrix_ingest_pool_in_use", "Postgres connections checked out",
                        NULL, vx_pg_gauge_in_use, ctx.pool);
    ctx.ledger = vx_ledger_create();
    char redacted[256];
    vx_redact_url(cfg.nats_url, redacted, sizeof redacted);
    vx_log(VX_LOG_INFO, "starting", VX_STR("nats", redacted), VX_INT("ops_port", vx_ops_port(ops)),
           VX_STR("stream", cfg.stream), VX_STR("durable", cfg.durable));

    RETRY_UNTIL_OK("nats connect", connect_bus(&cfg, &ctx.bus, err, sizeof err));
    atomic_store(&wired, WIRED_BUS);
    RETRY_UNTIL_OK("stream setup", setup_streams(&ctx, err, sizeof err));
    atomic_store(&wired, WIRED_CONSUMER);
    RETRY_UNTIL_OK("partitions ahead", partitions_ahead(&ctx, err, sizeof err));
    vx_logm(VX_LOG_INFO, "ready");

    ingest_run(&ctx);
    rc = 0;
shutdown:
    vx_logm(VX_LOG_INFO, "shutting down");
    if (ops)
        vx_ops_set_draining(ops);
    vx_bus_consumer_destroy(ctx.consumer);
    vx_bus_destroy(ctx.bus);
    vx_ledger_destroy(ctx.ledger);
    vx_pg_pool_destroy(ctx.pool);
    vx_ops_stop(ops);
    vx_metrics_destroy(metrics);
    vx_logm(VX_LOG_INFO, "stopped");
    return stop_requested ? 0 : rc;
}
