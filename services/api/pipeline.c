/* How a request of services/api is answered (pipeline.h): thread-pool jobs, answers with
 * RateLimit-* headers and problem bodies, and their metrics. */
#include "pipeline.h"

#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const int api_common_statuses[API_N_COMMON_STATUSES] = {200, 202, 400, 401, 404, 405,
                                                        413, 429, 500, 502, 503, 504};

void api_count_answer(const api_call *c, int status)
{
    for (int k = 0; k < API_N_COMMON_STATUSES; k++) {
        if (api_common_statuses[k] == status) {
            vx_counter_inc(c->ctx->answers[c->route][k]);
            vx_histogram_observe(c->ctx->latency[c->route],
                                 (double)(vx_mono_ns() - c->t0_ns) / 1e9);
            return;
        }
    }
    char labels[96];
    snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", c->route_name, status);
    vx_counter_inc(vx_metrics_counter(c->ctx->metrics, "valdrix_api_requests_total",
                                      "Requests answered, by route and status", labels));
    vx_histogram_observe(c->ctx->latency[c->route], (double)(vx_mono_ns() - c->t0_ns) / 1e9);
}

void api_set_problem(api_call *c, int status, const char *type, const char *title,
                     const char *detail_fmt, ...)
{
    c->status = status;
    c->problem_type = type;
    c->problem_title = title;
    va_list ap;
    va_start(ap, detail_fmt);
    vsnprintf(c->detail, sizeof c->detail, detail_fmt, ap);
    va_end(ap);
}

void api_set_json(api_call *c, int status, char *json)
{
    c->status = status;
    vx_free(c->body);
    c->body = json;
    c->body_len = json ? strlen(json) : 0;
}

void api_check_sent(vx_status st, int status)
{
    if (st != VX_OK)
        vx_log(VX_LOG_ERROR, "response refused, answered 500 instead", VX_INT("status", status),
               VX_STR("error", vx_status_str(st)));
}

void api_finish(api_call *c)
{
    vx_http_header h[5];
    size_t n = 0;
    char lim[24], rem[24], reset[24], retry[24];
    if (c->limited) {
        vx_rl_headers rh;
        vx_rl_headers_from(&c->rl, &rh);
        snprintf(lim, sizeof lim, "%lld", (long long)rh.limit);
        snprintf(rem, sizeof rem, "%lld", (long long)rh.remaining);
        snprintf(reset, sizeof reset, "%lld", (long long)rh.reset_s);
        h[n++] = (vx_http_header){"RateLimit-Limit", lim};
        h[n++] = (vx_http_header){"RateLimit-Remaining", rem};
        h[n++] = (vx_http_header){"RateLimit-Reset", reset};
        if (!c->rl.allowed && rh.retry_after_s > 0 && c->retry_after_s == 0)
            c->retry_after_s = (int)rh.retry_after_s;
    }
    if (c->retry_after_s > 0) {
        snprintf(retry, sizeof retry, "%d", c->retry_after_s);
        h[n++] = (vx_http_header){"Retry-After", retry};
    }
    api_count_answer(c, c->status);
    vx_status st;
    if (c->problem_type) {
        st = vx_http_respond_problem_headers(c->req, c->status, c->problem_type, c->problem_title,
                                             c->detail, h, n);
    } else {
        st = vx_http_respond(c->req, c->status, "application/json", h, n, c->body ? c->body : "{}",
                             c->body ? c->body_len : 2);
    }
    api_check_sent(st, c->status);
    atomic_fetch_sub(&c->ctx->in_flight, 1);
    vx_free(c->body);
    vx_free(c->state);
    vx_free(c);
}

static void job_main(uv_work_t *w)
{
    api_call *c = w->data;
    c->job(c);
}

static void job_done(uv_work_t *w, int status)
{
    api_call *c = w->data;
    if (status != 0 && !c->problem_type && c->status == 0)
        api_set_problem(c, 503, "unavailable", "Service unavailable", "the request was cancelled");
    api_finish(c);
}

void api_run_job(api_call *c, void (*job)(api_call *c))
{
    c->job = job;
    c->work.data = c;
    uv_queue_work(vx_http_request_loop(c->req), &c->work, job_main, job_done);
}
