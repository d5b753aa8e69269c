/* The replies of the ops listener: /metrics, /healthz, /readyz, and the error statuses. */
#include "ops_internal.h"

#include "vx/log.h"

#include <string.h>

#define JSON "application/json"
#define READY_REASON_MAX 256

const char *ops_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 503:
        return "Service Unavailable";
    default:
        return "Internal Server Error";
    }
}

static void json_reply(ops_reply *r, int status, const char *body)
{
    r->status = status;
    r->content_type = JSON;
    vx_buf_puts(&r->body, body);
}

void ops_error_reply(int status, ops_reply *r)
{
    r->status = status;
    r->content_type = JSON;
    vx_buf_printf(&r->body, "{\"error\":\"%s\"}", ops_status_text(status));
}

static bool path_is(const char *path, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(path, want, len) == 0;
}

static void metrics_reply(vx_ops_server *s, ops_reply *r)
{
    r->status = 200;
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    if (!s->metrics)
        return;
    size_t len;
    char *text = vx_metrics_render(s->metrics, &len);
    /* Adopt the rendered text instead of copying it. */
    vx_buf_cleanup(&r->body);
    r->body.data = text;
    r->body.len = len;
    r->body.cap = len + 1;
}

static void readyz_reply(vx_ops_server *s, ops_reply *r)
{
    char why[READY_REASON_MAX] = "";
    uv_mutex_lock(&s->ready_mu);
    bool draining = s->draining;
    bool ok = draining || !s->ready || s->ready(s->ready_ctx, why, sizeof why);
    uv_mutex_unlock(&s->ready_mu);
    if (draining) {
        json_reply(r, 503, "{\"status\":\"not ready\",\"reason\":\"draining\"}");
        return;
    }
    why[sizeof why - 1] = '\0';
    if (ok && why[0] == '\0') {
        json_reply(r, 200, "{\"status\":\"ready\"}");
        return;
    }
    /* Six bytes per byte is the worst case of JSON escaping. */
    char escaped[READY_REASON_MAX * 6 + 1];
    size_t len = 0;
    if (!vx_json_escape(escaped, sizeof escaped, &len, why[0] ? why : "not ready"))
        len = 0;
    escaped[len] = '\0';
    r->status = ok ? 200 : 503;
    r->content_type = JSON;
    if (ok) /* ready, with something degraded worth saying */
        vx_buf_printf(&r->body, "{\"status\":\"ready\",\"note\":\"%s\"}", escaped);
    else
        vx_buf_printf(&r->body, "{\"status\":\"not ready\",\"reason\":\"%s\"}", escaped);
}

void ops_route(vx_ops_server *s, int method, const char *path, size_t path_len, ops_reply *r)
{
    enum { METRICS, HEALTHZ, READYZ } route;
    if (path_is(path, path_len, "/metrics"))
        route = METRICS;
    else if (path_is(path, path_len, "/healthz"))
        route = HEALTHZ;
    else if (path_is(path, path_len, "/readyz"))
        route = READYZ;
    else {
        json_reply(r, 404, "{\"error\":\"Not Found\"}");
        return;
    }
    if (method != HTTP_GET && method != HTTP_HEAD) {
        ops_error_reply(405, r);
        r->allow = "GET, HEAD";
        return;
    }
    switch (route) {
    case METRICS:
        metrics_reply(s, r);
        break;
    case HEALTHZ:
        json_reply(r, 200, "{\"status\":\"ok\"}");
        break;
    case READYZ:
        readyz_reply(s, r);
        break;
    }
}
