/* valdrix-forecast: wiring only. The skeleton (libs/service) brings up config, logs, metrics,
 * the Postgres pool, Redis and the ops listener, connects NATS and drains on SIGTERM; here are
 * the readiness check, the start-up step and the two queue-group subjects. */
#include "config.h"
#include "service.h"

#include <stdio.h>

static fc_config cfg;
static fc_service svc = {.cfg = &cfg};

int main(int argc, char **argv)
{
    vx_service_def def;
    fc_config_def(&cfg, &def);
    def.pg_ok = &svc.pg_ok;
    def.bus_slot = &svc.bus;
    vx_service *s;
    int rc = vx_service_begin(&def, argc, argv, &s);
    if (!s)
        return rc;
    svc.pool = vx_service_pool(s);
    svc.redis = vx_service_redis(s);
    fc_metrics_register(&svc.m, vx_service_metrics(s));
    vx_log(VX_LOG_INFO, "forecast settings", VX_STR("subject", cfg.subject),
           VX_STR("queue", cfg.queue), VX_INT("workers", cfg.workers),
           VX_INT("fit_threads", cfg.fit_threads), VX_INT("max_input", cfg.max_input));

    char run[160], anomalies[160];
    snprintf(run, sizeof run, "%s.run", cfg.subject);
    snprintf(anomalies, sizeof anomalies, "%s.anomalies", cfg.subject);
    vx_service_step(s, "postgres check", vx_service_check_pg, s);
    vx_service_serve(s, run, cfg.queue, fc_handle_run, &svc, cfg.workers);
    vx_service_serve(s, anomalies, cfg.queue, fc_handle_anomalies, &svc, cfg.workers);
    return vx_service_run(s, NULL, NULL);
}
