/* valdrix-api: wiring only. The skeleton (libs/service) brings up config, logs, metrics, the
 * Postgres pool and Redis, connects NATS and stops on SIGTERM; here are the rate limiter, the
 * caches, the announcements subscription and the HTTP server, which drains before anything it
 * answers through is torn down. */
#include "api.h"
#include "config.h"
#include "handlers/handlers.h"
#include "vx/alloc.h"
#include "vx/clock.h"

#include <stdio.h>
#include <stdlib.h>

static api_config cfg;
static api_ctx ctx = {.cfg = &cfg};

static void destroy_api(void *arg)
{
    api_ctx *c = arg;
    vx_ratelimit_shared_destroy(c->rl_shared);
    vx_redis_script_destroy(c->idem_script);
    api_key_cache_destroy(c->keys);
    api_cache_destroy(c->cache);
    api_services_cleanup(c);
    vx_free(c->limiters);
}

/* Serves until the stop signal, then drains: requests in progress are answered, and the
 * server is destroyed only once no thread-pool job still holds a request, however long
 * that takes (each is bounded by its own deadline and the statement timeout). */
static void serve(void *arg)
{
    api_ctx *c = arg;
    vx_service *s = c->host;
    vx_http_server *http = NULL;
    vx_http_config hc = {.host = cfg.host,
                         .port = cfg.port,
                         .loops = (unsigned)cfg.loops,
                         .handler = api_handle,
                         .handler_ctx = c,
                         .on_loop_start = api_loop_start,
                         .on_loop_stop = api_loop_stop};
    if (vx_http_server_create(&hc, &http) != VX_OK) {
        char why[160];
        snprintf(why, sizeof why, "cannot listen on %s:%d", cfg.host, cfg.port);
        vx_service_fail(s, why);
        return;
    }
    vx_log(VX_LOG_INFO, "listening", VX_STR("host", cfg.host),
           VX_INT("port", vx_http_server_port(http)), VX_INT("loops", vx_http_server_loops(http)));
    while (!vx_service_wait(s, 60000)) {
    }
    atomic_store(&c->draining, true);
    if (vx_http_server_drain(http, 10000) != VX_OK)
        vx_log(VX_LOG_WARN, "drain timed out: waiting for requests in progress",
               VX_INT("in_flight", atomic_load(&c->in_flight)));
    for (int i = 1; atomic_load(&c->in_flight) > 0; i++) {
        vx_sleep_ms(20);
        if (i % 250 == 0)
            vx_log(VX_LOG_WARN, "still waiting for requests in progress",
                   VX_INT("in_flight", atomic_load(&c->in_flight)));
    }
    vx_http_server_destroy(http);
}

int main(int argc, char **argv)
{
    vx_service_def def;
    api_config_def(&cfg, &def);
    def.bus_slot = &ctx.bus;
    int rc = vx_service_begin(&def, argc, argv, &ctx.host);
    if (!ctx.host)
        return rc;
    /* Blocking work (Postgres, JetStream acks, forecast and insight requests over NATS) runs on
     * libuv's pool: the database's share plus as many again, of which requests to other
     * services may hold at most half, so a slow service cannot stall reads. */
    char pool_threads[16];
    snprintf(pool_threads, sizeof pool_threads, "%d", 2 * cfg.svc.pg.size);
    setenv("UV_THREADPOOL_SIZE", pool_threads, 0);
    ctx.n_loops = (unsigned)cfg.loops;
    ctx.max_service_calls = cfg.svc.pg.size;
    ctx.metrics = vx_service_metrics(ctx.host);
    ctx.pool = vx_service_pool(ctx.host);
    ctx.redis = vx_service_redis(ctx.host);
    api_ctx_init_metrics(&ctx);
    api_services_init(&ctx);
    ctx.keys = api_key_cache_create(65536, cfg.key_cache_ttl_ms);
    /* at most 256 MiB of answers, none over 256 KiB */
    ctx.cache = api_cache_create(16384, 256u << 20, 256u << 10, cfg.cache_max_age_ms);
    ctx.limiters = vx_xcalloc((size_t)cfg.loops, sizeof *ctx.limiters);
    ctx.idem_script = api_idem_script_create();
    vx_service_defer(ctx.host, destroy_api, &ctx);
    vx_ratelimit_config rl = vx_ratelimit_defaults();
    rl.redis_url = cfg.svc.redis_url;
    rl.metrics_prefix = "valdrix_api";
    if (vx_ratelimit_shared_create(&rl, ctx.metrics, &ctx.rl_shared) != VX_OK) {
        vx_logm(VX_LOG_ERROR, "bad rate limiter configuration (VX_REDIS_URL)");
        return vx_service_abort(ctx.host, 1);
    }
    char changed[256];
    snprintf(changed, sizeof changed, "%s.*", cfg.changed_subject);
    vx_service_serve(ctx.host, changed, NULL, api_on_changed, &ctx, 1);
    return vx_service_run(ctx.host, serve, &ctx);
}
