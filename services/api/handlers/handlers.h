/* The handlers of services/api: their entry points, named only by the route table (routes.c),
 * and the set-up of what they keep in api_ctx, called by main.c. Each handler is called on the
 * loop once its request is authenticated and allowed, and answers it (pipeline.h). */
#ifndef VX_API_HANDLERS_H
#define VX_API_HANDLERS_H

#include "pipeline.h"

void handle_costs(api_call *c);   /* GET /v1/costs (costs.c) */
void handle_summary(api_call *c); /* GET /v1/costs/summary (costs.c) */
void handle_events(api_call *c);  /* POST /v1/cost-events (events.c) */
void handle_usage(api_call *c);   /* GET /v1/usage (usage.c) */
void handle_service(api_call *c); /* forecasts, anomalies, insights: over NATS (services.c) */

/* The script binding an Idempotency-Key to its events (events.c). */
vx_redis_script *api_idem_script_create(void);
/* The services' circuit breakers (opened by timeouts, no responder and bad replies) and their
 * gauges, valdrix_api_service_breaker_open{service} (services.c). */
void api_services_init(api_ctx *ctx);
void api_services_cleanup(api_ctx *ctx);

#endif
