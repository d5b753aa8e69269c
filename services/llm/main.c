/* valdrix-llm: wiring only. Config, logs, metrics and the ops listener, the provider router,
 * Postgres pool, Redis client and budget, NATS and the insight subscriptions; then wait for
 * SIGTERM; then drain the requests in hand and tear down in reverse order. */
#include "config.h"
#include "insight.h"
#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/config.h"
#include "vx/log.h"
#include "vx/ops.h"
#include "vx/retry.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static atomic_int stop_requested; /* set by on_signal, on whichever thread takes it */

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* NATS connected and Postgres answering are required; Redis is not (local still answers, and
 * paid calls stop by themselves while it is away), so it is only reported. */
/* Set (release) once main has set s->bus, so that ready() on the ops thread reads it only then. */
static atomic_bool bus_set;

static bool ready(void *arg, char *why, size_t cap)
{
    llm_svc *s = arg;
    if (!atomic_load(&bus_set) || !vx_bus_connected(s->bus)) {
        snprintf(why, cap, "nats: not connected");
        return false;
    }
    if (!atomic_load(&s->pg_ok)) {
        snprintf(why, cap, "postgres: last operation failed");
        return false;
    }
    if (s->redis && !vx_redis_healthy(s->redis))
        snprintf(why, cap, "redis: unreachable; no paid LLM calls and no cache until it is back");
    return true;
}

static double redis_up(void *arg)
{
    return vx_redis_healthy(arg) ? 1.0 : 0.0;
}

static bool wait_stop(int64_t ms)
{
    return vx_sleep_unless(ms, &stop_requested);
}

#define RETRY_UNTIL_OK(what, call) VX_RETRY_UNTIL_OK(what, call, err, wait_stop)

static void *drain_one(void *sub)
{
    vx_bus_sub_destroy(sub);
    return NULL;
}

/* Drains every subscription at once, so that none keeps taking requests while another finishes
 * the ones in hand. */
static void drain(vx_bus_sub **subs, int n)
{
    pthread_t *t = vx_xcalloc((size_t)n, sizeof *t);
    bool *started = vx_xcalloc((size_t)n, sizeof *started);
    for (int i = 0; i < n; i++)
        if (subs[i])
            started[i] = pthread_create(&t[i], NULL, drain_one, subs[i]) == 0;
    for (int i = 0; i < n; i++) {
        if (started[i])
            pthread_join(t[i], NULL);
        else
            vx_bus_sub_destroy(subs[i]);
    }
    vx_free(started);
    vx_free(t);
}

static vx_status connect_bus(const llm_config *cfg, vx_bus **bus, char *err, size_t cap)
{
    vx_bus_config bc = {
        .url = cfg->nats_url, .name = "valdrix-llm", .timeout_ms = 5000, .send_asap = true};
    snprintf(err, cap, "cannot reach %s", cfg->nats_url);
    return vx_bus_connect(&bc, bus);
}

static vx_status check_pg(llm_svc *s, char *err, size_t cap)
{
    bool ok = vx_pg_pool_ping(s->pool, err, cap);
    atomic_store(&s->pg_ok, ok);
    return ok ? VX_OK : VX_UNAVAILABLE;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            llm_config_usage();
            return 0;
        }
        fprintf(stderr, "valdrix-llm: unknown argument %s (try --help)\n", argv[i]);
        return 2;
    }
    llm_config cfg;
    llm_config_load(&cfg);
    vx_log_init("llm", cfg.log_level);
    char err[1024] = "";
    vx_llm_config lc;
    if (vx_llm_config_from_env(&lc, err, sizeof err) != VX_OK) {
        fprintf(stderr, "valdrix-llm: %s\n", err);
        return VX_EXIT_CONFIG;
    }
    if (cfg.reservation_ttl_ms == 0)
        cfg.reservation_ttl_ms = 2 * lc.timeout_ms;
    else if (cfg.reservation_ttl_ms <= lc.timeout_ms)
        vx_config_fail("VX_LLM_RESERVATION_TTL",
                       "must be longer than VX_LLM_TIMEOUT (a call would outlive its reservation)");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    llm_svc svc;
    memset(&svc, 0, sizeof svc);
    svc.cfg = &cfg;
    atomic_init(&svc.pg_ok, false);
    vx_bus_sub **subs = vx_xcalloc((size_t)cfg.workers, sizeof *subs);
    vx_metrics *metrics = vx_metrics_create();
    llm_metrics_register(&svc.m, metrics);
    vx_ops_server *ops = NULL;

    if (vx_llm_router_create(&lc, metrics, "valdrix_llm", NULL, &svc.router, err, sizeof err) !=
        VX_OK) {
        vx_llm_config_wipe(&lc);
        fprintf(stderr, "valdrix-llm: %s\n", err);
        rc = VX_EXIT_CONFIG;
        goto shutdown;
    }
    vx_llm_config_wipe(&lc);
    const char *names[VX_LLM_MAX_PROVIDERS];
    size_t n_providers = vx_llm_router_providers(svc.router, names, VX_LLM_MAX_PROVIDERS);
    svc.local_first = n_providers > 0 && strcmp(names[0], "local") == 0;
    char providers[256] = "";
    for (size_t i = 0; i < n_providers; i++)
        snprintf(providers + strlen(providers), sizeof providers - strlen(providers), "%s%s",
                 i ? "," : "", names[i]);

    vx_ops_config oc = {.host = cfg.ops_host,
                        .port = cfg.ops_port,
                        .metrics = metrics,
                        .ready = ready,
                        .ready_ctx = &svc};
    if (vx_ops_start(&oc, &ops) != VX_OK) {
        vx_log(VX_LOG_ERROR, "cannot listen for /metrics", VX_STR("host", cfg.ops_host),
               VX_INT("port", cfg.ops_port));
        goto shutdown;
    }
    vx_pg_config pc = cfg.pg;
    pc.application_name = "valdrix-llm";
    if (vx_pg_pool_create(&pc, &svc.pool) != VX_OK) {
        vx_logm(VX_LOG_ERROR, "bad Postgres configuration (VX_PG_DSN)");
        rc = VX_EXIT_CONFIG;
        goto shutdown;
    }
    vx_metrics_gauge_fn(metrics, "valdrix_llm_pool_in_use", "Postgres connections checked out",
                        NULL, vx_pg_gauge_in_use, svc.pool);
    vx_redis_config rcfg;
    vx_redis_config_init(&rcfg);
    rcfg.url = cfg.redis_url;
    rcfg.pool_size = cfg.redis_pool_size;
    rcfg.command_timeout_ms = cfg.redis_timeout_ms;
    rcfg.metrics_prefix = "valdrix_llm";
    rcfg.metrics = metrics;
    char why[256] = "";
    if (vx_redis_create(&rcfg, &svc.redis, why, sizeof why) != VX_OK) {
        vx_log(VX_LOG_ERROR, "bad Redis configuration (VX_REDIS_URL)", VX_STR("error", why));
        rc = VX_EXIT_CONFIG;
        goto shutdown;
    }
    vx_metrics_gauge_fn(metrics, "valdrix_llm_redis_up",
                        "Whether Redis (budget, cache) answered the last command", NULL, redis_up,
                        svc.redis);
    svc.budget = llm_budget_create(svc.redis, svc.pool, cfg.reservation_ttl_ms, &svc.m.budget);

    char redacted[256], redis_redacted[256];
    vx_redact_url(cfg.nats_url, redacted, sizeof redacted);
    vx_redact_url(cfg.redis_url, redis_redacted, sizeof redis_redacted);
    vx_log(VX_LOG_INFO, "starting", VX_STR("nats", redacted), VX_STR("redis", redis_redacted),
           VX_INT("ops_port", vx_ops_port(ops)), VX_STR("subject", cfg.subject),
           VX_STR("queue", cfg.queue), VX_INT("workers", cfg.workers),
           VX_STR("providers", providers));

    RETRY_UNTIL_OK("nats connect", connect_bus(&cfg, &svc.bus, err, sizeof err));
    atomic_store(&bus_set, true);
    RETRY_UNTIL_OK("postgres", check_pg(&svc, err, sizeof err));
    for (int i = 0; i < cfg.workers; i++) {
        snprintf(err, sizeof err, "cannot subscribe to %s", cfg.subject);
        RETRY_UNTIL_OK("subscribe", vx_bus_serve(svc.bus, cfg.subject, cfg.queue,
                                                 llm_insight_handle, &svc, &subs[i]));
    }
    vx_logm(VX_LOG_INFO, "ready");
    while (!stop_requested)
        vx_sleep_ms(100);
    rc = 0;
shutdown:
    vx_logm(VX_LOG_INFO, "shutting down");
    if (ops)
        vx_ops_set_draining(ops);
    drain(subs, cfg.workers);
    vx_free(subs);
    vx_bus_destroy(svc.bus);
    llm_budget_destroy(svc.budget);
    vx_redis_destroy(svc.redis);
    vx_pg_pool_destroy(svc.pool);
    vx_llm_router_destroy(svc.router);
    vx_ops_stop(ops);
    vx_metrics_destroy(metrics);
    vx_logm(VX_LOG_INFO, "stopped");
    return stop_requested ? 0 : rc;
}
