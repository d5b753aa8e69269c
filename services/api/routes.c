/* The route table of services/api (routes.h). */
#include "routes.h"

#include "handlers/handlers.h"

const api_route_def api_routes[] = {
    {"GET", "/healthz", ROUTE_HEALTHZ, false, VX_PLAN_CAT_API, "healthz", NULL},
    {"GET", "/readyz", ROUTE_READYZ, false, VX_PLAN_CAT_API, "readyz", NULL},
    {"GET", "/metrics", ROUTE_METRICS, false, VX_PLAN_CAT_API, "metrics", NULL},
    {"GET", "/v1/costs", ROUTE_COSTS, true, VX_PLAN_CAT_API, "costs", handle_costs},
    {"GET", "/v1/costs/summary", ROUTE_SUMMARY, true, VX_PLAN_CAT_API, "summary", handle_summary},
    {"POST", "/v1/cost-events", ROUTE_EVENTS, true, VX_PLAN_CAT_API, "cost_events", handle_events},
    {"GET", "/v1/usage", ROUTE_USAGE, true, VX_PLAN_CAT_API, "usage", handle_usage},
    {"POST", "/v1/forecasts", ROUTE_FORECASTS, true, VX_PLAN_CAT_API, "forecasts", handle_service},
    {"GET", "/v1/costs/anomalies", ROUTE_ANOMALIES, true, VX_PLAN_CAT_API, "anomalies",
     handle_service},
    {"POST", "/v1/insights", ROUTE_INSIGHTS, true, VX_PLAN_CAT_LLM, "insights", handle_service},
};

const size_t api_n_routes = sizeof api_routes / sizeof api_routes[0];
