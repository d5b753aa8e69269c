/* valdrix-ingest: wiring only. The skeleton (libs/service) brings up config, logs, metrics,
 * the Postgres pool and the ops listener, connects NATS and stops on SIGTERM; here are the
 * streams, the durable consumer, the partitions made ahead and the ingest loop. */
#include "config.h"
#include "ingest.h"
#include "streams.h"
#include "vx/clock.h"

#include <malloc.h>
#include <stdio.h>

static ingest_config cfg;
static ingest_ctx ctx = {.cfg = &cfg};
static ingest_streams watcher;

static void destroy_consumer(void *c)
{
    vx_bus_consumer_destroy(c);
}

static vx_status setup_streams(void *arg, char *err, size_t cap)
{
    ingest_ctx *c = arg;
    char subjects[256], dlq_subjects[256];
    snprintf(subjects, sizeof subjects, "%s.>", cfg.subject_prefix);
    snprintf(dlq_subjects, sizeof dlq_subjects, "%s.>", cfg.dlq_prefix);
    /* Bounded: the events stream refuses new messages when full (publishers see it and
     * retry) rather than dropping what ingest has not stored; dead letters age out and the
     * oldest go when it is full, so dead-lettering never blocks ingest. */
    vx_stream_config events = {.name = cfg.stream,
                               .subjects = subjects,
                               .duplicate_window_ms = cfg.duplicate_window_ms,
                               .max_bytes = cfg.stream_max_mb * 1024 * 1024,
                               .max_age_ms = cfg.replay_window_ms,
                               .work_queue = cfg.replay_window_ms == 0,
                               .discard_new = true};
    vx_stream_config dlq = {.name = cfg.dlq_stream,
                            .subjects = dlq_subjects,
                            .duplicate_window_ms = cfg.duplicate_window_ms,
                            .max_bytes = cfg.dlq_max_mb * 1024 * 1024,
                            .max_age_ms = cfg.dlq_max_age_ms};
    vx_status st = vx_bus_ensure_stream(c->bus, &events, err, cap);
    if (st == VX_OK)
        st = vx_bus_ensure_stream(c->bus, &dlq, err, cap);
    if (st != VX_OK)
        return st;
    vx_consumer_config cc = {.stream = cfg.stream,
                             .durable = cfg.durable,
                             .ack_wait_ms = cfg.ack_wait_ms,
                             .max_ack_pending = cfg.max_ack_pending};
    snprintf(err, cap, "cannot bind consumer %s on %s", cfg.durable, cfg.stream);
    st = vx_bus_consumer_create(c->bus, &cc, &c->consumer);
    if (st == VX_OK) {
        vx_service_defer(c->host, destroy_consumer, c->consumer);
        ingest_streams_start(&watcher, c->bus);
        vx_service_defer(c->host, ingest_streams_stop, &watcher);
    }
    return st;
}

static vx_status partitions_ahead(void *arg, char *err, size_t cap)
{
    ingest_ctx *c = arg;
    PGconn *pg;
    vx_status st = vx_pg_acquire(c->pool, &pg);
    if (st != VX_OK) {
        vx_pg_pool_last_error(c->pool, err, cap);
        atomic_store(&c->pg_ok, false);
        return st;
    }
    st = vx_ledger_ensure_months_ahead(c->ledger, pg, vx_wall_ms() / 1000, cfg.months_ahead, err,
                                       cap);
    vx_pg_release(c->pool, pg, st != VX_OK);
    atomic_store(&c->pg_ok, st == VX_OK);
    return st;
}

static void destroy_ledger(void *l)
{
    vx_ledger_destroy(l);
}

static void run(void *arg)
{
    ingest_run(arg);
}

int main(int argc, char **argv)
{
    /* Batches allocate and free buffers of several MiB each time; keep glibc from handing them
     * back to the kernel (and faulting them in again) on every batch. */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
    vx_service_def def;
    ingest_config_def(&cfg, &def);
    def.pg_ok = &ctx.pg_ok;
    def.bus_slot = &ctx.bus;
    def.ready = ingest_streams_ready;
    def.ready_ctx = &watcher;
    int rc = vx_service_begin(&def, argc, argv, &ctx.host);
    if (!ctx.host)
        return rc;
    ingest_streams_init(&watcher, &cfg, vx_service_metrics(ctx.host));
    ctx.pool = vx_service_pool(ctx.host);
    ingest_metrics_register(&ctx.m, vx_service_metrics(ctx.host));
    vx_ledger_config lc = {.tenant_cache_max = (size_t)cfg.tenant_cache};
    ctx.ledger = vx_ledger_create_with(&lc);
    vx_service_defer(ctx.host, destroy_ledger, ctx.ledger);
    vx_log(VX_LOG_INFO, "ingest settings", VX_STR("stream", cfg.stream),
           VX_STR("durable", cfg.durable), VX_INT("writers", cfg.writers),
           VX_INT("batch_bytes", cfg.batch_bytes), VX_INT("tenant_cache", cfg.tenant_cache));
    vx_service_step(ctx.host, "stream setup", setup_streams, &ctx);
    vx_service_step(ctx.host, "partitions ahead", partitions_ahead, &ctx);
    return vx_service_run(ctx.host, run, &ctx);
}
