/* VX_* settings of services/forecast, with working local defaults (see fc_config_usage). */
#include "config.h"

#include "vx/config.h"
#include "vx/redis.h"
#include "vx/subjects.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A NATS subject prefix: dot-separated tokens, no wildcards or spaces. */
static bool subject_ok(const char *s)
{
    if (s[0] == '\0' || s[0] == '.' || strlen(s) > 128 || s[strlen(s) - 1] == '.' ||
        strstr(s, "..") != NULL)
        return false;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p == '*' || *p == '>' || *p == 0x7f)
            return false;
    return true;
}

void fc_config_usage(void)
{
    fputs(
        "valdrix-forecast: spend forecasts and anomaly flags over NATS, from the daily rollup.\n"
        "\n"
        "usage: valdrix-forecast [--help]\n"
        "\n"
        "Serves <subject>.run (ForecastRequest -> ForecastReply) and <subject>.anomalies\n"
        "(AnomaliesRequest -> AnomaliesReply), proto/valdrix/v1/forecast.proto, in a queue group\n"
        "so that replicas share the requests.\n"
        "\n"
        "Configuration (environment):\n"
        "  VX_NATS_URL              NATS server (nats://127.0.0.1:14222)\n"
        "  VX_REDIS_URL             Redis for cached replies (redis://127.0.0.1:16379/0); when\n"
        "                           it is down, replies are computed without the cache\n"
        "  VX_FORECAST_SUBJECT      subject prefix (svc.forecast)\n"
        "  VX_FORECAST_QUEUE        queue group of the replicas (forecast)\n"
        "  VX_FORECAST_WORKERS      requests handled at once, per subject (4)\n"
        "  VX_FORECAST_FIT_THREADS  services of one request fitted at once (number of CPUs, at\n"
        "                           most 8)\n"
        "  VX_FORECAST_MAX_INPUT    most cost records behind the rollup rows of one request;\n"
        "                           beyond it the reply is Error TOO_LARGE (10000000)\n"
        "  VX_FORECAST_CACHE_TTL    lifetime of a cached reply (1h)\n"
        "  VX_FORECAST_REDIS_TIMEOUT  per Redis command (250ms)\n" VX_PG_ENV_USAGE
        "                           (a request that waits longer for one is answered\n"
        "                           Error DEADLINE)\n"
        "  VX_OPS_HOST              /metrics /healthz /readyz listener host (127.0.0.1)\n"
        "  VX_FORECAST_OPS_PORT     its port (9102)\n"
        "  VX_LOG_LEVEL             debug, info, warn, error (info)\n",
        stdout);
}

void fc_config_load(fc_config *c)
{
    c->nats_url = vx_env_str("VX_NATS_URL", VX_DEFAULT_NATS_URL);
    vx_pg_config_from_env(&c->pg);
    c->redis_url = vx_env_str("VX_REDIS_URL", "redis://127.0.0.1:16379/0");
    vx_redis_url u;
    char why[160];
    if (vx_redis_url_parse(c->redis_url, &u, why, sizeof why) != VX_OK)
        vx_config_fail("VX_REDIS_URL", why);
    vx_redis_url_cleanup(&u);
    c->subject = vx_env_str("VX_FORECAST_SUBJECT", "svc.forecast");
    if (!subject_ok(c->subject))
        vx_config_fail("VX_FORECAST_SUBJECT", "not a NATS subject (tokens, no wildcards)");
    c->queue = vx_env_str("VX_FORECAST_QUEUE", "forecast");
    if (!subject_ok(c->queue) || strchr(c->queue, '.') != NULL)
        vx_config_fail("VX_FORECAST_QUEUE", "not a queue group name (one token)");
    c->workers = (int)vx_env_int("VX_FORECAST_WORKERS", 4, 1, 64);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int def_threads = cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;
    c->fit_threads = (int)vx_env_int("VX_FORECAST_FIT_THREADS", def_threads, 1, 64);
    c->max_input = vx_env_int("VX_FORECAST_MAX_INPUT", 10000000, 1, INT64_C(1000000000000));
    c->cache_ttl_ms = vx_env_duration_ms("VX_FORECAST_CACHE_TTL", 3600000, 1000, 86400000 * 7LL);
    c->redis_timeout_ms = vx_env_duration_ms("VX_FORECAST_REDIS_TIMEOUT", 250, 1, 60000);
    c->ops_host = vx_env_str("VX_OPS_HOST", "127.0.0.1");
    c->ops_port = (int)vx_env_int("VX_FORECAST_OPS_PORT", 9102, 0, 65535);
    const char *lvl = vx_env_str("VX_LOG_LEVEL", "info");
    if (!vx_log_level_parse(lvl, &c->log_level))
        vx_config_fail("VX_LOG_LEVEL", "not one of debug, info, warn, error, off");
}
