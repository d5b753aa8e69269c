/* The ops answers on any vx::http server: /metrics, /healthz, /readyz (the readiness check on
 * the loop, or on libuv's thread pool when it may block), 405 for other methods. */
#include "vx/alloc.h"
#include "vx/log.h"
#include "vx/ops.h"

#include <stdio.h>
#include <string.h>
#include <uv.h>

/* vx_http_respond* refuses only a bad status or header, which the constants here are not; it
 * then answers 500 itself, so there is nothing left to do but say so. */
static void sent(vx_status st)
{
    if (st != VX_OK)
        vx_log(VX_LOG_ERROR, "ops answer refused, answered 500 instead",
               VX_STR("error", vx_status_str(st)));
}

#define JSON "application/json"
#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define READY_REASON_MAX 256

/* A /readyz whose check runs on the thread pool. */
typedef struct {
    uv_work_t work;
    vx_ops_routes routes;
    vx_http_request *req;
    vx_ops_answered_fn answered;
    void *arg;
    bool ok;
    char why[READY_REASON_MAX];
} ready_call;

static bool path_is(const char *path, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(path, want, len) == 0;
}

static bool is_draining(const vx_ops_routes *r)
{
    return r->draining && atomic_load(r->draining);
}

static int respond_json(vx_http_request *req, int status, const char *body)
{
    sent(vx_http_respond(req, status, JSON, NULL, 0, body, strlen(body)));
    return status;
}

/* `s` as JSON string contents; an unescapable string (none fits) becomes "". */
static void escape(char *out, size_t cap, const char *s)
{
    size_t len = 0;
    if (!vx_json_escape(out, cap, &len, s))
        len = 0;
    out[len] = '\0';
}

/* The answer to a readiness check that said `ok`, with `why` (its reason or note). */
static int respond_ready(const vx_ops_routes *r, vx_http_request *req, bool ok, const char *why)
{
    if (ok && why[0] == '\0')
        return respond_json(req, 200, "{\"status\":\"ready\"}");
    if (!ok && why[0] == '\0')
        why = "not ready";
    if (!ok && r->problem) {
        sent(vx_http_respond_problem(req, 503, "not-ready", "Not ready", why));
        return 503;
    }
    /* Six bytes per byte is the worst case of JSON escaping. */
    char text[READY_REASON_MAX * 6 + 1], name[READY_REASON_MAX * 6 + 1];
    escape(text, sizeof text, why);
    escape(name, sizeof name, r->note_name ? r->note_name : "note");
    char *body = ok ? vx_xasprintf("{\"status\":\"ready\",\"%s\":\"%s\"}", name, text)
                    : vx_xasprintf("{\"status\":\"not ready\",\"reason\":\"%s\"}", text);
    int status = respond_json(req, ok ? 200 : 503, body);
    vx_free(body);
    return status;
}

static bool check(const vx_ops_routes *r, char *why, size_t cap)
{
    why[0] = '\0';
    bool ok = !r->ready || r->ready(r->ready_ctx, why, cap);
    why[cap - 1] = '\0';
    return ok;
}

static void ready_work(uv_work_t *w)
{
    ready_call *c = w->data;
    c->ok = check(&c->routes, c->why, sizeof c->why);
}

static void ready_done(uv_work_t *w, int status)
{
    ready_call *c = w->data;
    if (status != 0) { /* cancelled: the check never ran */
        c->ok = false;
        snprintf(c->why, sizeof c->why, "the readiness check was cancelled");
    } else if (is_draining(&c->routes)) { /* began while the check ran */
        c->ok = false;
        snprintf(c->why, sizeof c->why, "draining");
    }
    int answer = respond_ready(&c->routes, c->req, c->ok, c->why);
    if (c->answered)
        c->answered(c->arg, answer);
    vx_free(c);
}

/* Answers /readyz now, or returns -1 once the check is on its way on the pool. */
static int readyz(const vx_ops_routes *r, vx_http_request *req, vx_ops_answered_fn answered,
                  void *arg)
{
    if (is_draining(r))
        return respond_ready(r, req, false, "draining");
    if (r->ready && r->ready_blocks) {
        ready_call *c = vx_xcalloc(1, sizeof *c);
        c->routes = *r;
        c->req = req;
        c->answered = answered;
        c->arg = arg;
        c->work.data = c;
        if (uv_queue_work(vx_http_request_loop(req), &c->work, ready_work, ready_done) == 0)
            return -1;
        vx_free(c);
        return respond_ready(r, req, false, "the readiness check could not be started");
    }
    char why[READY_REASON_MAX];
    bool ok = check(r, why, sizeof why);
    return respond_ready(r, req, ok, why);
}

static int metrics(const vx_ops_routes *r, vx_http_request *req)
{
    if (!r->metrics) {
        sent(vx_http_respond(req, 200, METRICS_TYPE, NULL, 0, NULL, 0));
        return 200;
    }
    size_t len;
    char *text = vx_metrics_render(r->metrics, &len);
    sent(vx_http_respond(req, 200, METRICS_TYPE, NULL, 0, text, len));
    vx_free(text);
    return 200;
}

bool vx_ops_answer(const vx_ops_routes *routes, vx_http_request *req, vx_ops_answered_fn answered,
                   void *arg)
{
    enum { METRICS, HEALTHZ, READYZ } route;
    size_t len;
    const char *path = vx_http_request_path(req, &len);
    if (path_is(path, len, "/metrics"))
        route = METRICS;
    else if (path_is(path, len, "/healthz"))
        route = HEALTHZ;
    else if (path_is(path, len, "/readyz"))
        route = READYZ;
    else
        return false;
    int status;
    const char *method = vx_http_request_method(req);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        vx_http_header allow = {"Allow", "GET, HEAD"};
        sent(vx_http_respond_problem_headers(req, 405, "method-not-allowed", "Method not allowed",
                                             "this path takes GET, HEAD", &allow, 1));
        status = 405;
    } else if (route == METRICS) {
        status = metrics(routes, req);
    } else if (route == HEALTHZ) {
        status = respond_json(req, 200, "{\"status\":\"ok\"}");
    } else {
        status = readyz(routes, req, answered, arg);
    }
    if (status > 0 && answered)
        answered(arg, status);
    return true;
}
