/* The routes of services/api in one table: method, path, route id, whether an API key is
 * needed, the limit it draws on, its metrics label and its handler. The one place that names
 * the handlers; api.c dispatches through it. */
#ifndef VX_API_ROUTES_H
#define VX_API_ROUTES_H

#include "pipeline.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *method, *path;
    api_route route;
    bool authenticated;        /* false: one of the ops answers (vx_ops_answer) */
    vx_plan_category category; /* the rate limit the route draws on */
    const char *name;          /* the metrics label */
    api_handler_fn handler;    /* NULL for the ops answers */
} api_route_def;

extern const api_route_def api_routes[];
extern const size_t api_n_routes;

#endif
