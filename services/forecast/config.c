/* VX_* settings of services/forecast, with working local defaults: one table for loading and
 * for --help. */
#include "config.h"

#include <unistd.h>

#define T fc_config
static const vx_setting settings[] = {
    VX_SERVICE_SET_NATS(T),
    VX_SERVICE_SET_REDIS(T, "Redis for cached replies; when it is down, replies are computed\n"
                            "without the cache"),
    VX_SET_STR_CHECKED("VX_FORECAST_SUBJECT", T, subject, "svc.forecast", vx_service_check_subject,
                       "subject prefix"),
    VX_SET_STR_CHECKED("VX_FORECAST_QUEUE", T, queue, "forecast", vx_service_check_queue,
                       "queue group of the replicas"),
    VX_SET_INT("VX_FORECAST_WORKERS", T, workers, "4", 1, 64,
               "requests handled at once, per subject"),
    VX_SET_INT("VX_FORECAST_FIT_THREADS", T, fit_threads, NULL, 1, 64,
               "services of one request fitted at once (number of CPUs, at\nmost 8)"),
    VX_SET_INT64("VX_FORECAST_MAX_INPUT", T, max_input, "10000000", 1, INT64_C(1000000000000),
                 "most cost records behind the rollup rows of one request;\nbeyond it the reply "
                 "is Error TOO_LARGE"),
    VX_SET_DURATION("VX_FORECAST_CACHE_TTL", T, cache_ttl_ms, "1h", 1000, 86400000 * 7LL,
                    "lifetime of a cached reply"),
    VX_SET_DURATION("VX_FORECAST_REDIS_TIMEOUT", T, svc.redis_timeout_ms, "250ms", 1, 60000,
                    "per Redis command"),
    VX_SERVICE_SET_PG,
    VX_SET_NOTE("                           (a request that waits longer for one is answered\n"
                "                           Error DEADLINE)"),
    VX_SERVICE_SET_OPS(T, "VX_FORECAST_OPS_PORT", "9102"),
    VX_SERVICE_SET_LOG(T),
};
#undef T

static void check(void *config)
{
    fc_config *c = config;
    c->svc.redis_pool_size = 2 * c->workers;
}

void fc_config_def(fc_config *cfg, vx_service_def *def)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->fit_threads = cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;
    *def = (vx_service_def){
        .name = "forecast",
        .about = "valdrix-forecast: spend forecasts and anomaly flags over NATS, from the daily "
                 "rollup.\n"
                 "\n"
                 "usage: valdrix-forecast [--help]\n"
                 "\n"
                 "Serves <subject>.run (ForecastRequest -> ForecastReply) and <subject>.anomalies\n"
                 "(AnomaliesRequest -> AnomaliesReply), proto/valdrix/v1/forecast.proto, in a "
                 "queue group\n"
                 "so that replicas share the requests.\n",
        .settings = settings,
        .n_settings = sizeof settings / sizeof settings[0],
        .config = cfg,
        .svc = &cfg->svc,
        .uses = VX_SERVICE_PG | VX_SERVICE_REDIS | VX_SERVICE_OPS,
        .check = check,
        .send_asap = true,
    };
}
