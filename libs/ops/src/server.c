/* The ops listener: a one-loop vx::http server (its own thread, the limits of ops_limits.h)
 * serving the ops answers of routes.c, 404 for anything else. */
#include "ops_limits.h"
#include "vx/alloc.h"
#include "vx/ops.h"

struct vx_ops_server {
    vx_http_server *http;
    vx_ops_routes routes;
    atomic_bool draining;
};

static void handle(void *ctx, vx_http_request *req)
{
    vx_ops_server *s = ctx;
    /* 404 is a valid status: the answer cannot be refused */
    if (!vx_ops_answer(&s->routes, req, NULL, NULL))
        vx_status_ignore(
            vx_http_respond_problem(req, 404, "not-found", "Not found", "no such route"));
}

vx_status vx_ops_start(const vx_ops_config *cfg, vx_ops_server **out)
{
    if (!cfg || !out)
        return VX_INVALID;
    vx_ops_server *s = vx_xcalloc(1, sizeof *s);
    atomic_init(&s->draining, false);
    s->routes = (vx_ops_routes){.metrics = cfg->metrics,
                                .ready = cfg->ready,
                                .ready_ctx = cfg->ready_ctx,
                                .draining = &s->draining};
    /* One loop of its own, so that the answers come even when the service's work is stuck; a
     * port of its own, so that two services configured alike fail instead of sharing it. */
    vx_http_config hc = {.host = cfg->host,
                         .port = cfg->port,
                         .loops = 1,
                         .handler = handle,
                         .handler_ctx = s,
                         .max_header_bytes = OPS_MAX_HEADER_BYTES,
                         .max_url_bytes = OPS_MAX_URL_BYTES,
                         .max_body_bytes = OPS_MAX_BODY_BYTES,
                         .request_timeout_ms = OPS_REQUEST_TIMEOUT_MS,
                         .idle_timeout_ms = OPS_IDLE_TIMEOUT_MS,
                         .max_connections = OPS_MAX_CONNS,
                         .backlog = OPS_BACKLOG,
                         .exclusive_port = true};
    vx_status st = vx_http_server_create(&hc, &s->http);
    if (st != VX_OK) {
        vx_free(s);
        return st;
    }
    *out = s;
    return VX_OK;
}

int vx_ops_port(const vx_ops_server *s)
{
    return vx_http_server_port(s->http);
}

void vx_ops_set_draining(vx_ops_server *s)
{
    atomic_store(&s->draining, true);
}

void vx_ops_stop(vx_ops_server *s)
{
    if (!s)
        return;
    vx_http_server_destroy(s->http);
    vx_free(s);
}
