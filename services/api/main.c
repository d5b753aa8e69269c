/* valdrix-api: wiring only. Config, logs, metrics, Postgres pool, NATS, the rate limiter, the
 * key cache and the HTTP server; then serve until SIGTERM; then drain and tear down in reverse
 * order. */
#include "api.h"
#include "config.h"
#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/config.h"
#include "vx/log.h"
#include "vx/retry.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int stop_requested; /* set by on_signal, on whichever thread takes it */

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static bool wait_stop(int64_t ms)
{
    return vx_sleep_unless(ms, &stop_requested);
}

static vx_status connect_bus(const api_config *cfg, vx_bus **bus, char *err, size_t cap)
{
    vx_bus_config bc = {.url = cfg->nats_url, .name = "valdrix-api", .timeout_ms = 5000};
    vx_status st = vx_bus_connect(&bc, bus);
    if (st != VX_OK) {
        char red[200];
        vx_redact_url(cfg->nats_url, red, sizeof red);
        snprintf(err, cap, "cannot connect to %s", red);
    }
    return st;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            api_config_usage();
            return 0;
        }
        fprintf(stderr, "valdrix-api: unknown argument %s (try --help)\n", argv[i]);
        return 2;
    }
    api_config cfg;
    api_config_load(&cfg);
    vx_log_init("api", cfg.log_level);
    /* Blocking work (Postgres, JetStream acks, forecast and insight requests over NATS) runs on
     * libuv's pool: the database's share plus as many again, of which requests to other
     * services may hold at most half, so a slow service cannot stall reads. */
    char pool_threads[16];
    snprintf(pool_threads, sizeof pool_threads, "%d", 2 * cfg.pg.size);
    setenv("UV_THREADPOOL_SIZE", pool_threads, 0);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    api_ctx ctx = {.cfg = &cfg, .n_loops = cfg.loops, .max_service_calls = cfg.pg.size};
    ctx.metrics = vx_metrics_create();
    api_ctx_init_metrics(&ctx);
    api_services_init(&ctx);
    ctx.keys = api_key_cache_create(65536, cfg.key_cache_ttl_ms);
    /* at most 256 MiB of answers, none over 256 KiB */
    ctx.cache = api_cache_create(16384, 256u << 20, 256u << 10, cfg.cache_max_age_ms);
    vx_bus_sub *changed = NULL;
    ctx.limiters = vx_xcalloc(cfg.loops, sizeof *ctx.limiters);
    vx_http_server *http = NULL;

    vx_pg_config pc = cfg.pg;
    pc.application_name = "valdrix-api";
    /* small per-tenant reads: parallel workers cost more to start than they save */
    pc.session_options = "-c max_parallel_workers_per_gather=0";
    if (vx_pg_pool_create(&pc, &ctx.pool) != VX_OK) {
        vx_logm(VX_LOG_ERROR, "bad Postgres configuration (VX_PG_DSN)");
        goto shutdown;
    }
    vx_metrics_gauge_fn(ctx.metrics, "valdrix_api_pool_in_use", "Postgres connections checked out",
                        NULL, vx_pg_gauge_in_use, ctx.pool);
    vx_ratelimit_config rc_cfg = vx_ratelimit_defaults();
    rc_cfg.redis_url = cfg.redis_url;
    rc_cfg.metrics_prefix = "valdrix_api";
    if (vx_ratelimit_shared_create(&rc_cfg, ctx.metrics, &ctx.rl_shared) != VX_OK) {
        vx_logm(VX_LOG_ERROR, "bad rate limiter configuration (VX_REDIS_URL)");
        goto shutdown;
    }
    vx_redis_config redis_cfg;
    vx_redis_config_init(&redis_cfg);
    redis_cfg.url = cfg.redis_url;
    redis_cfg.metrics = ctx.metrics;
    redis_cfg.metrics_prefix = "valdrix_api";
    char why[256];
    if (vx_redis_create(&redis_cfg, &ctx.redis, why, sizeof why) != VX_OK) {
        vx_log(VX_LOG_ERROR, "bad Redis configuration (VX_REDIS_URL)", VX_STR("error", why));
        goto shutdown;
    }
    ctx.idem_script = api_idem_script_create();
    char err[256] = "";
    VX_RETRY_UNTIL_OK("nats connect", connect_bus(&cfg, &ctx.bus, err, sizeof err), err, wait_stop);
    char changed_subject[256];
    snprintf(changed_subject, sizeof changed_subject, "%s.*", cfg.changed_subject);
    if (vx_bus_serve(ctx.bus, changed_subject, NULL, api_on_changed, &ctx, &changed) != VX_OK) {
        vx_log(VX_LOG_ERROR, "cannot subscribe to announcements",
               VX_STR("subject", changed_subject));
        goto shutdown;
    }
    vx_http_config hc = {.host = cfg.host,
                         .port = cfg.port,
                         .loops = cfg.loops,
                         .handler = api_handle,
                         .handler_ctx = &ctx,
                         .on_loop_start = api_loop_start,
                         .on_loop_stop = api_loop_stop};
    if (vx_http_server_create(&hc, &http) != VX_OK) {
        vx_log(VX_LOG_ERROR, "cannot listen", VX_STR("host", cfg.host), VX_INT("port", cfg.port));
        goto shutdown;
    }
    vx_log(VX_LOG_INFO, "ready", VX_STR("host", cfg.host),
           VX_INT("port", vx_http_server_port(http)), VX_INT("loops", vx_http_server_loops(http)));
    while (!stop_requested)
        vx_sleep_ms(100);
    rc = 0;
shutdown:
    vx_logm(VX_LOG_INFO, "shutting down");
    atomic_store(&ctx.draining, true);
    if (http && vx_http_server_drain(http, 10000) != VX_OK) {
        /* Jobs still running answer when they end; the server must outlive those answers. */
        vx_log(VX_LOG_WARN, "drain timed out: waiting for requests in progress",
               VX_INT("in_flight", atomic_load(&ctx.in_flight)));
        for (int i = 0; i < 300 && atomic_load(&ctx.in_flight) > 0; i++)
            vx_sleep_ms(50);
    }
    vx_http_server_destroy(http);
    vx_bus_sub_destroy(changed);
    vx_bus_destroy(ctx.bus);
    vx_ratelimit_shared_destroy(ctx.rl_shared);
    vx_redis_script_destroy(ctx.idem_script);
    vx_redis_destroy(ctx.redis);
    vx_pg_pool_destroy(ctx.pool);
    api_key_cache_destroy(ctx.keys);
    api_cache_destroy(ctx.cache);
    api_services_cleanup(&ctx);
    vx_free(ctx.limiters);
    vx_metrics_destroy(ctx.metrics);
    vx_logm(VX_LOG_INFO, "stopped");
    return stop_requested ? 0 : rc;
}
